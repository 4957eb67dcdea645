package nntp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// testFeeder is a Feeder over in-memory articles that checks the reporting contract:
// every offer taken reaches Done exactly once, and Done calls never overlap.
type testFeeder struct {
	t        *testing.T
	mids     []string
	articles map[string][]byte
	missing  map[string]bool  // Article returns ErrNoArticle
	broken   map[string]bool  // Article returns another error
	extra    int              // NextOffers returns this many more than asked, once
	onTake   func(taken int)  // called after each NextOffers, outside the lock
	onArt    func(mid string) // called at each Article

	mu       sync.Mutex
	next     int
	reported map[int64]int
	results  map[int64]Result
	calls    int
	inDone   atomic.Int32
	overlap  atomic.Bool
	maxAsked int
}

func newTestFeeder(t *testing.T, n, size int) *testFeeder {
	f := &testFeeder{
		t:        t,
		articles: make(map[string][]byte, n),
		missing:  map[string]bool{},
		broken:   map[string]bool{},
		reported: map[int64]int{},
		results:  map[int64]Result{},
	}
	for i := 0; i < n; i++ {
		mid := fmt.Sprintf("<%d.test@nntp.example>", i)
		f.mids = append(f.mids, mid)
		f.articles[mid] = wireArticle(mid, i, size)
	}
	return f
}

// wireArticle builds a wire-format article of about size bytes with dot-stuffed lines
// and 8-bit bytes, so byte-for-byte checks mean something.
func wireArticle(mid string, i, size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 200)
	fmt.Fprintf(&b, "Path: test!not-for-mail\r\nFrom: t@example\r\nNewsgroups: lab.test\r\nSubject: article %d\r\nMessage-ID: %s\r\n\r\n", i, mid)
	b.WriteString("..a line that started with a dot\r\n\xe9t\xe9 8-bit body\r\n")
	for b.Len() < size {
		b.WriteString(filler)
	}
	fmt.Fprintf(&b, "end of article %d\r\n.\r\n", i)
	return b.Bytes()
}

const filler = "the quick brown fox jumps over the lazy dog, again and again and again\r\n"

func (f *testFeeder) NextOffers(dst []Offer, max int) []Offer {
	f.mu.Lock()
	if max > f.maxAsked {
		f.maxAsked = max
	}
	n := max + f.extra
	f.extra = 0
	for ; n > 0 && f.next < len(f.mids); n-- {
		dst = append(dst, Offer{MessageID: f.mids[f.next], Ref: int64(f.next)})
		f.next++
	}
	taken := f.next
	f.mu.Unlock()
	if f.onTake != nil {
		f.onTake(taken)
	}
	return dst
}

func (f *testFeeder) Article(o *Offer, buf []byte) ([]byte, error) {
	if f.onArt != nil {
		f.onArt(o.MessageID)
	}
	switch {
	case f.missing[o.MessageID]:
		return nil, fmt.Errorf("token gone: %w", ErrNoArticle)
	case f.broken[o.MessageID]:
		return nil, errors.New("disk on fire")
	}
	a, ok := f.articles[o.MessageID]
	if !ok {
		return nil, ErrNoArticle
	}
	return append(buf, a...), nil
}

func (f *testFeeder) Done(results []Result) {
	if f.inDone.Add(1) != 1 {
		f.overlap.Store(true)
	}
	defer f.inDone.Add(-1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	for _, r := range results {
		f.reported[r.Offer.Ref]++
		f.results[r.Offer.Ref] = r
	}
}

// check verifies exactly-once reporting and that st adds up, and returns the outcomes
// by message-id.
func (f *testFeeder) check(st FeedStats) map[string]Outcome {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overlap.Load() {
		f.t.Errorf("Done calls overlapped on one connection")
	}
	for ref := 0; ref < f.next; ref++ {
		if n := f.reported[int64(ref)]; n != 1 {
			f.t.Errorf("offer %d (%s) reported %d times, want exactly once", ref, f.mids[ref], n)
		}
	}
	for ref := range f.reported {
		if ref < 0 || ref >= int64(f.next) {
			f.t.Errorf("result for offer %d, which was never taken", ref)
		}
	}
	if got := st.Taken(); got != int64(f.next) {
		f.t.Errorf("stats add up to %d (%+v), but %d offers were taken", got, st, f.next)
	}
	out := make(map[string]Outcome)
	var sizes [2]int64
	for ref, r := range f.results {
		out[f.mids[ref]] = r.Outcome
		switch r.Outcome {
		case Accepted:
			sizes[0] += int64(r.Size)
		case Rejected:
			sizes[1] += int64(r.Size)
		}
	}
	if sizes[0] != st.AcceptedSize || sizes[1] != st.RejectedSize {
		f.t.Errorf("sizes: results say accepted %d rejected %d, stats %d %d", sizes[0], sizes[1], st.AcceptedSize, st.RejectedSize)
	}
	return out
}

func (f *testFeeder) taken() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next
}

// count returns how many results had each outcome.
func countOutcomes(out map[string]Outcome) map[Outcome]int {
	m := map[Outcome]int{}
	for _, o := range out {
		m[o]++
	}
	return m
}

// dial connects to a test server with short timeouts.
func dial(t testing.TB, srv *nntptest.Server, cfg Config) *Client {
	t.Helper()
	if cfg.ReplyTimeout == 0 {
		cfg.ReplyTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	c, err := Dial(context.Background(), srv.Addr, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// streamClient dials and enters streaming mode.
func streamClient(t testing.TB, srv *nntptest.Server, cfg Config) *Client {
	t.Helper()
	c := dial(t, srv, cfg)
	ok, err := c.ModeStream()
	if err != nil || !ok {
		t.Fatalf("ModeStream = %v, %v", ok, err)
	}
	return c
}

// checkReceived verifies that the server holds exactly the feeder's bytes for every
// accepted article.
func checkReceived(t *testing.T, f *testFeeder, srv *nntptest.Server, out map[string]Outcome) {
	t.Helper()
	for mid, o := range out {
		if o != Accepted {
			continue
		}
		got, ok := srv.Article(mid)
		if !ok {
			t.Errorf("%s accepted but not received", mid)
			continue
		}
		if !bytes.Equal(got, f.articles[mid]) {
			t.Errorf("%s: server received %d bytes that differ from the %d sent", mid, len(got), len(f.articles[mid]))
		}
	}
}

// isTemporary reports what commands.Status will conclude about err.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
