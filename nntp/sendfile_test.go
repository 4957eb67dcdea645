package nntp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// fileFeeder is a testFeeder whose articles are also stored each in a file, handed
// over by ArticleFile as a spool with wire-format files would.
type fileFeeder struct {
	*testFeeder
	files map[string]*os.File
	// A shared feeder keeps all articles in one file, as a CNFS buffer does, at offs.
	shared    bool
	offs      map[string]int64
	changed   map[string]bool // FileUnchanged fails for these
	rechecked atomic.Int64
	// readSmall returns articles below the threshold read, as the spool does, and
	// counts them.
	readSmall    bool
	readOnTheWay atomic.Int64
}

// newSharedFileFeeder stores the articles one after another in one file, with a
// stretch of other bytes between them, and hands them over as Shared ranges of it.
func newSharedFileFeeder(t *testing.T, n int, sizes ...int) *fileFeeder {
	f := &fileFeeder{testFeeder: newTestFeeder(t, n, 0), files: map[string]*os.File{},
		shared: true, offs: map[string]int64{}, changed: map[string]bool{}}
	var all []byte
	for i, mid := range f.mids {
		art := wireArticle(mid, i, sizes[i%len(sizes)])
		f.articles[mid] = art
		all = append(all, "not this article's bytes\r\n"...)
		f.offs[mid] = int64(len(all))
		all = append(all, art...)
	}
	p := filepath.Join(t.TempDir(), "buffer")
	if err := os.WriteFile(p, all, 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	for _, mid := range f.mids {
		f.files[mid] = fh
	}
	return f
}

func newFileFeeder(t *testing.T, n int, sizes ...int) *fileFeeder {
	f := &fileFeeder{testFeeder: newTestFeeder(t, n, 0), files: map[string]*os.File{}}
	dir := t.TempDir()
	for i, mid := range f.mids {
		art := wireArticle(mid, i, sizes[i%len(sizes)])
		f.articles[mid] = art
		p := filepath.Join(dir, filepath.Base(mid[1:len(mid)-1]))
		if err := os.WriteFile(p, art, 0o644); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		f.files[mid] = fh
	}
	return f
}

func (f *fileFeeder) ArticleFile(o *Offer, min int64, buf []byte) (FileRange, []byte, bool, error) {
	fh := f.files[o.MessageID]
	if f.shared {
		size := int64(len(f.articles[o.MessageID]))
		if size < min {
			return FileRange{}, nil, false, nil
		}
		return FileRange{FD: int(fh.Fd()), Off: f.offs[o.MessageID], Size: size, Shared: true}, nil, true, nil
	}
	st, err := fh.Stat()
	if err != nil {
		return FileRange{}, nil, false, err
	}
	if st.Size() < min {
		if f.readSmall {
			// As the spool does: the small article read on the way.
			f.readOnTheWay.Add(1)
			return FileRange{}, append(buf[:0], f.articles[o.MessageID]...), false, nil
		}
		return FileRange{}, nil, false, nil
	}
	return FileRange{FD: int(fh.Fd()), Size: st.Size()}, nil, true, nil
}

func (f *fileFeeder) FileUnchanged(o *Offer) error {
	f.rechecked.Add(1)
	if f.changed[o.MessageID] {
		return errors.New("overwritten while sent")
	}
	return nil
}

// TestStreamSendfile sends a mix of articles below and above SendfileMin: the large
// ones go from their files with sendfile on a plain TCP connection, and by the copy
// through the buffer on a rate-limited or TLS one; the peer gets the same bytes either way.
func TestStreamSendfile(t *testing.T) {
	if !sendfileSupported {
		t.Skip("no sendfile here")
	}
	const n = 120
	ca := nntptest.NewCA(t, "nxmit test CA")
	tlsSrv := nntptest.Script{TLS: nntptest.ServerConfig(ca.Issue(t, nntptest.LeafOptions{}), nil)}
	tests := []struct {
		name      string
		script    nntptest.Script
		mode      CheckMode
		cfg       Config
		fastPath  bool
		shared    bool // ranges of one file (CNFS, timecaf), checked after the send
		readSmall bool // ArticleFile returns the small ones read
	}{
		{name: "plain TCP", fastPath: true},
		{name: "TLS falls back", script: tlsSrv, cfg: Config{TLS: &tls.Config{RootCAs: ca.Pool}}},
		{name: "plain TCP no check", mode: NeverCheck, fastPath: true},
		{name: "rate-limited falls back", cfg: Config{Limiter: NewRateLimiter(1 << 30)}},
		{name: "shared file", fastPath: true, shared: true},
		{name: "shared file no check", mode: NeverCheck, fastPath: true, shared: true},
		{name: "small ones read on the way", fastPath: true, readSmall: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, tt.script)
			sizes := []int{2000, SendfileMin + 5000, 300, 3 * SendfileMin}
			f := newFileFeeder(t, n, sizes...)
			if tt.shared {
				f = newSharedFileFeeder(t, n, sizes...)
			}
			f.readSmall = tt.readSmall
			var articleCalls atomic.Int64
			f.onArt = func(string) { articleCalls.Add(1) }
			c := streamClient(t, srv, tt.cfg)
			before := sendfileCount.Load()
			st, err := c.Stream(context.Background(), f, StreamConfig{Mode: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			out := f.check(st)
			checkReceived(t, f.testFeeder, srv, out)
			if cnt := countOutcomes(out); cnt[Accepted] != n {
				t.Fatalf("outcomes %v, want all %d accepted", cnt, n)
			}
			sent := sendfileCount.Load() - before
			want := int64(0)
			if tt.fastPath {
				want = n / 2 // the two large sizes of the four
			}
			if sent != want {
				t.Errorf("%d articles sent from their files, want %d", sent, want)
			}
			if tt.shared && f.rechecked.Load() != want {
				t.Errorf("FileUnchanged called %d times, want once for each of the %d sent", f.rechecked.Load(), want)
			}
			if tt.readSmall {
				// The small ones came read from ArticleFile, and Article was not asked.
				if got := f.readOnTheWay.Load(); got != n/2 {
					t.Errorf("%d articles read on the way, want the %d small ones", got, n/2)
				}
				if got := articleCalls.Load(); got != 0 {
					t.Errorf("Article called %d times for articles ArticleFile had read", got)
				}
			}
		})
	}
}

// TestStreamSendfileChanged: an article that changed in its shared file while it was
// sent is cut off before its end, so that the peer never receives it whole, and the
// connection fails with it Unsent, naming it; the others are accepted (those answered
// before) or Unsent (in flight), as for any failed connection.
func TestStreamSendfileChanged(t *testing.T) {
	if !sendfileSupported {
		t.Skip("no sendfile here")
	}
	const n = 20
	for _, mode := range []CheckMode{AlwaysCheck, NeverCheck} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			srv := nntptest.NewServer(t, nntptest.Script{})
			f := newSharedFileFeeder(t, n, SendfileMin+1000)
			bad := f.mids[7]
			f.changed[bad] = true
			c := streamClient(t, srv, Config{})
			st, err := c.Stream(context.Background(), f, StreamConfig{Mode: mode})
			if err == nil || !isTemporary(err) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "overwritten while sent") {
				t.Fatalf("Stream = %v; want a temporary failure naming %s and why", err, bad)
			}
			out := f.check(st)
			checkReceived(t, f.testFeeder, srv, out)
			if got, ok := srv.Article(bad); ok {
				t.Fatalf("the peer received the changed article whole (%d bytes)", len(got))
			}
			if r := f.results[7]; r.Outcome != Unsent || r.Err == nil {
				t.Errorf("the changed article ended %v (%v), want Unsent with the error", r.Outcome, r.Err)
			}
			for mid, o := range out {
				if o != Accepted && o != Unsent {
					t.Errorf("%s ended %v, want accepted (before the changed one) or Unsent", mid, o)
				}
			}
			if srv.Stats().Articles > 7 {
				t.Errorf("the peer received %d articles whole, want at most the 7 before the changed one", srv.Stats().Articles)
			}
		})
	}
}

// TestStreamSendfileFaults: a peer that closes in the middle of an article sent from
// its file, or stops reading it, fails the connection with that article (and those
// after it) Unsent, so it stays queued.
func TestStreamSendfileFaults(t *testing.T) {
	if !sendfileSupported {
		t.Skip("no sendfile here")
	}
	const n = 40
	tests := []struct {
		name   string
		script nntptest.Script
		cfg    Config
	}{
		{name: "cut in a sendfile article", script: nntptest.Script{CutArticleAt: 10}},
		{name: "peer stops reading", script: nntptest.Script{StopReadingAt: 5},
			cfg: Config{ReplyTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, tt.script)
			f := newFileFeeder(t, n, SendfileMin+1000)
			c := streamClient(t, srv, tt.cfg)
			before := sendfileCount.Load()
			start := time.Now()
			st, err := c.Stream(context.Background(), f, StreamConfig{Mode: NeverCheck})
			if err == nil {
				t.Fatalf("Stream succeeded: %+v", st)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Stream took %v to fail", d)
			}
			if !isTemporary(err) {
				t.Errorf("error %v not temporary", err)
			}
			if sendfileCount.Load() == before {
				t.Error("no article went through sendfile before the fault")
			}
			out := f.check(st)
			checkReceived(t, f.testFeeder, srv, out)
			cnt := countOutcomes(out)
			if cnt[Unsent] == 0 {
				t.Errorf("nothing Unsent after a failure: %v", cnt)
			}
			if cnt[Accepted] >= n {
				t.Errorf("all accepted despite the fault: %v", cnt)
			}
			for ref, r := range f.results {
				if r.Outcome == Unsent && r.Err == nil {
					t.Errorf("offer %d Unsent without an error", ref)
				}
			}
		})
	}
}
