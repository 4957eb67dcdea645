package reliability

// Fuzz targets for the inputs that had none in their own packages: what a peer sends
// back to the feeding engine (greeting and replies, streaming and IHAVE), passwd.nntp,
// the value syntaxes of nxmit.conf, lock files, and the conversion of stored articles
// to wire format. Each other parser (batch lines and files, tokens, single NNTP reply
// lines, inn.conf, cycbuff.conf, tradspool.map, nxmit.conf, innd's control replies,
// wildmat) has its targets next to its code; scripts/fuzz runs them all.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/config"
	"nxmit/nntp"
	"nxmit/spoolfmt"
)

// fuzzFeeder offers a fixed set of articles and checks the engine's contract: every
// offer taken is reported to Done exactly once.
type fuzzFeeder struct {
	mu    sync.Mutex
	mids  []string
	next  int
	taken map[int64]bool
	done  map[int64]nntp.Result
	dup   []int64
}

func newFuzzFeeder(n int) *fuzzFeeder {
	f := &fuzzFeeder{taken: map[int64]bool{}, done: map[int64]nntp.Result{}}
	for i := 0; i < n; i++ {
		f.mids = append(f.mids, fmt.Sprintf("<%c@x>", 'a'+i))
	}
	return f
}

func (f *fuzzFeeder) NextOffers(dst []nntp.Offer, max int) []nntp.Offer {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(dst) < max && f.next < len(f.mids) {
		f.taken[int64(f.next)] = true
		dst = append(dst, nntp.Offer{MessageID: f.mids[f.next], Ref: int64(f.next)})
		f.next++
	}
	return dst
}

func (f *fuzzFeeder) Article(o *nntp.Offer, buf []byte) ([]byte, error) {
	if o.Ref == 3 {
		return nil, fmt.Errorf("%w: expired", nntp.ErrNoArticle)
	}
	return append(buf[:0], "Message-ID: "+o.MessageID+"\r\n\r\n..dot\r\nbody\r\n.\r\n"...), nil
}

func (f *fuzzFeeder) Done(results []nntp.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range results {
		if _, ok := f.done[r.Offer.Ref]; ok {
			f.dup = append(f.dup, r.Offer.Ref)
		}
		f.done[r.Offer.Ref] = r
	}
}

// check verifies the contract, and that no offer is reported accepted, refused or
// rejected unless the peer's bytes hold such a reply naming it.
func (f *fuzzFeeder) check(t *testing.T, peer []byte, codes map[nntp.Outcome][]string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.dup) > 0 {
		t.Fatalf("offers reported twice: %v", f.dup)
	}
	for ref := range f.taken {
		r, ok := f.done[ref]
		if !ok {
			t.Fatalf("offer %d taken and never reported", ref)
		}
		if r.Outcome == 0 {
			t.Fatalf("offer %d reported without an outcome", ref)
		}
		if prefixes, ok := codes[r.Outcome]; ok {
			found := false
			for _, p := range prefixes {
				if bytes.Contains(peer, []byte(strings.ReplaceAll(p, "MID", r.Offer.MessageID))) {
					found = true
				}
			}
			if !found {
				t.Fatalf("offer %s reported %v, but the peer never said so (%v)", r.Offer.MessageID, r.Outcome, prefixes)
			}
		}
	}
	for ref := range f.done {
		if !f.taken[ref] {
			t.Fatalf("offer %d reported but never taken", ref)
		}
	}
}

// fakePeer connects a Client to a peer that sends script and then closes, while
// discarding whatever the client writes.
func fakePeer(t *testing.T, script []byte) (*nntp.Client, error, func()) {
	client, server := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(io.Discard, server) }()
	go func() {
		defer wg.Done()
		server.Write(script)
		server.Close()
	}()
	c, err := nntp.NewClient(client, nntp.Config{ReplyTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	cleanup := func() {
		client.Close()
		server.Close()
		wg.Wait()
	}
	return c, err, cleanup
}

func streamSeeds(f *testing.F) {
	for _, s := range []string{
		"200 ok\r\n238 <a@x>\r\n239 <a@x>\r\n",
		"200 ok\r\n238 <a@x>\r\n438 <b@x>\r\n431 <c@x>\r\n239 <a@x>\r\n",
		"201 no posting\r\n439 <a@x>\r\n239 <b@x>\r\n239 <c@x>\r\n239 <e@x>\r\n",
		"200 ok\r\n238 <b@x>\r\n",
		"200 ok\r\n400 throttled\r\n",
		"200 ok\r\n100 info\r\n238 <a@x> \r\n239 <a@x> thanks\r\n",
		"200 ok\r\n501 <a@x>\r\n480 <b@x>\r\n",
		"200 ok\r\nthis is not NNTP\r\n",
		"200 ok\n238 <a@x>\n239 <a@x>\n",
		"400 go away\r\n",
		"502 no\r\n",
		"",
		"200 ok\r\n335 send it\r\n235 ok\r\n435 dup\r\n436 later\r\n335\r\n437 no\r\n",
	} {
		for mode := 0; mode < 3; mode++ {
			f.Add([]byte(s), uint8(mode))
		}
	}
}

// FuzzStreamReplies feeds 8 articles with pipelined CHECK/TAKETHIS to a peer that
// answers with arbitrary bytes. Whatever it says, Stream must end, report every offer
// taken exactly once, and never call an article accepted, refused or rejected that the
// peer did not answer so.
func FuzzStreamReplies(f *testing.F) {
	streamSeeds(f)
	f.Fuzz(func(t *testing.T, script []byte, mode uint8) {
		c, err, cleanup := fakePeer(t, script)
		defer cleanup()
		if err != nil {
			return
		}
		fd := newFuzzFeeder(8)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Stream(context.Background(), fd, nntp.StreamConfig{Window: 4, Mode: nntp.CheckMode(mode % 3), Grace: time.Second})
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("Stream did not return")
		}
		c.Close()
		// Each reply settles its article by nntp.ReplyTable: a 5xx (which need not
		// repeat the id) refuses a CHECK and rejects a TAKETHIS; Deferred, which keeps
		// the article, may come from any code the table does not list.
		fd.check(t, script, map[nntp.Outcome][]string{
			nntp.Accepted: {"239 MID"},
			nntp.Refused:  {"438 MID", "\n5"},
			nntp.Rejected: {"439 MID", "\n5"},
		})
	})
}

// FuzzIHaveReplies is FuzzStreamReplies for lock-step IHAVE, whose replies do not name
// the article: the outcomes must at least come from replies of their class.
func FuzzIHaveReplies(f *testing.F) {
	streamSeeds(f)
	f.Fuzz(func(t *testing.T, script []byte, _ uint8) {
		c, err, cleanup := fakePeer(t, script)
		defer cleanup()
		if err != nil {
			return
		}
		fd := newFuzzFeeder(6)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.IHave(context.Background(), fd)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("IHave did not return")
		}
		c.Close()
		fd.check(t, script, map[nntp.Outcome][]string{
			nntp.Accepted: {"235"},
			nntp.Refused:  {"435", "\n5"},
			nntp.Rejected: {"437", "\n5"},
		})
	})
}

// FuzzPasswd parses passwd.nntp: no panic, every entry usable, every skipped line named
// by file and line.
func FuzzPasswd(f *testing.F) {
	for _, s := range []string{
		"news.example.org:feeder:secret\n", "# comment\nHOST:u:p:authinfo\n", "a:b\n", "a:b:c:d:e\n",
		"::\n", "host:user:pa:ss\n", "host:user:\n", "x:y:z", "\n\n:::\n", "h:u:p:other\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.ParsePasswd(bytes.NewReader(data), "passwd.nntp")
		if err != nil {
			var se *config.SyntaxError
			if !errors.As(err, &se) && !strings.HasPrefix(err.Error(), "passwd.nntp") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range p.Entries {
			if strings.ContainsAny(e.Host, ":\n") || strings.Contains(e.User, "\n") {
				t.Fatalf("unusable entry %+v", e)
			}
			if e.Host == "" {
				continue // matches no peer, as in INN
			}
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("entry at line %d of %d", e.Line, lines)
			}
			// Host names match without regard to ASCII case, as INN's strcasecmp: "ı"
			// is not "I" (the fuzzer's first find, kept in testdata).
			upper := asciiMap(e.Host, 'a', 'z', 'A'-'a')
			if _, ok := p.Lookup(upper); !ok {
				t.Fatalf("Lookup(%q) finds nothing", upper)
			}
			// And only ASCII case: a name that differs in a Unicode folding (k and the
			// Kelvin sign, s and the long s) or in one more byte is another host,
			// unless another entry names it.
			for _, other := range []string{
				strings.NewReplacer("k", "\u212a", "K", "\u212a", "s", "\u017f", "S", "\u017f").Replace(e.Host),
				e.Host + "x",
			} {
				if other == e.Host || hostListed(p, other) {
					continue
				}
				if c, ok := p.Lookup(other); ok {
					t.Fatalf("Lookup(%q) finds the entry for %q", other, c.Host)
				}
			}
		}
		for _, s := range p.Skipped {
			if !strings.HasPrefix(s.Error(), "passwd.nntp:") {
				t.Fatalf("skipped line not named: %v", s)
			}
		}
	})
}

// hostListed reports whether an entry names host, ASCII case aside.
func hostListed(p *config.Passwd, host string) bool {
	for _, e := range p.Entries {
		if asciiMap(e.Host, 'A', 'Z', 'a'-'A') == asciiMap(host, 'A', 'Z', 'a'-'A') {
			return true
		}
	}
	return false
}

// asciiMap shifts the bytes of s from lo to hi by d, byte by byte: invalid UTF-8 stays
// as it is (strings.Map would turn it into U+FFFD).
func asciiMap(s string, lo, hi byte, d int) string {
	b := []byte(s)
	for i, c := range b {
		if lo <= c && c <= hi {
			b[i] = byte(int(c) + d)
		}
	}
	return string(b)
}

// fromWire undoes the wire form of an article body without its terminator: each line
// ends in CRLF, and a line starting with a dot has one more.
func fromWire(body []byte) []byte {
	var out []byte
	for len(body) > 0 {
		i := bytes.Index(body, []byte("\r\n"))
		if i < 0 {
			return append(out, body...) // not wire form: shows in the comparison
		}
		line := body[:i]
		body = body[i+2:]
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		out = append(append(out, line...), '\n')
	}
	return out
}

// FuzzConfigValues parses nxmit.conf's durations, sizes and booleans.
func FuzzConfigValues(f *testing.F) {
	for _, s := range []string{"90s", "600", "1h30m", "-5s", "10k", "2g", "G", "9223372036854775807", "99999999999999999999k", "yes", "on", "0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d, err := config.ParseDuration(v); err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v", v, d)
		}
		if n, err := config.ParseSize(v); err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", v, n)
		}
		if b, err := config.ParseBool(v); err != nil && b {
			t.Fatalf("ParseBool(%q) = true with an error", v)
		}
	})
}

// FuzzHolder reads arbitrary lock file contents, as left by a crashed or foreign
// process: no panic, and the holder's description stays on one line.
func FuzzHolder(f *testing.F) {
	for _, s := range []string{
		"pid 1234\ncommand nxmit send peer\nsince 2026-11-24T12:00:00Z\nhost news.example.org\n",
		"", "pid -1\n", "pid 99999999999999999999\n", "since yesterday\n", "command\n", "\x00\x00", "pid 1 2 3\ncommand a\nb\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, fmt.Sprintf("x.%d.send.lock", os.Getpid()))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := batch.ReadHolder(path)
		if err != nil {
			return
		}
		if s := h.String(); strings.ContainsAny(s, "\n\r") && !bytes.ContainsAny(data, "\r") {
			t.Fatalf("holder description spans lines: %q", s)
		}
	})
}

// FuzzWireArticle converts arbitrary native articles to wire format: the result must end
// the article exactly once (no line that is a lone "." before the end, which would cut
// the article short on the wire and turn its remaining lines into commands), have no
// bare LF, and end in ".\r\n"; and the Message-ID extracted from it must be one line
// (a CR inside a native header is data; nntp refuses to send such an id).
func FuzzWireArticle(f *testing.F) {
	for _, s := range []string{
		"Message-ID: <a@b>\nSubject: x\n\nbody\n.\n..\n.x\n", "", "\n", ".\n", "no newline", "a\r\nb\n",
		"Message-ID:\n <folded@x>\n\n", "message-id: <lower@x>\r\n\r\n.\r\n", "X: y\n\n\n\n", ".\r\n.\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, native []byte) {
		wire := spoolfmt.ToWire(nil, native)
		if !bytes.HasSuffix(wire, []byte(".\r\n")) {
			t.Fatalf("wire form does not end in .CRLF: %q", wire)
		}
		body := wire[:len(wire)-3]
		if len(body) > 0 && !bytes.HasSuffix(body, []byte("\r\n")) {
			t.Fatalf("terminating dot not on a line of its own: %q", wire)
		}
		for i, line := range bytes.Split(body, []byte("\r\n")) {
			if bytes.Equal(line, []byte(".")) {
				t.Fatalf("line %d is a lone dot: the article would end early: %q", i+1, wire)
			}
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("bare LF in line %d: %q", i+1, wire)
			}
		}
		// Round trip: undoing the wire form (the terminator, CRLF line ends,
		// dot-stuffing) gives the native article back, byte for byte, its last line
		// ended.
		want := native
		if len(want) > 0 && want[len(want)-1] != '\n' {
			want = append(append([]byte(nil), want...), '\n')
		}
		if got := fromWire(body); !bytes.Equal(got, want) {
			t.Fatalf("round trip: %q became %q and came back as %q", native, wire, got)
		}
		for _, a := range [][]byte{native, wire} {
			if mid := spoolfmt.MessageID(a); strings.Contains(mid, "\n") {
				t.Fatalf("MessageID = %q", mid)
			}
			_ = spoolfmt.CheckMessageID(a, "<a@b>")
		}
	})
}
