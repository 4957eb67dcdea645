package nntp

import (
	"context"
	"sync"
	"testing"
	"time"

	"nxmit/internal/innlab"
)

// inndFeeder offers innlab articles in wire format.
type inndFeeder struct {
	arts []innlab.Article
	wire map[string][]byte

	mu      sync.Mutex
	next    int
	results map[string]Result
	dup     int
}

func newInndFeeder(arts []innlab.Article) *inndFeeder {
	f := &inndFeeder{arts: arts, wire: make(map[string][]byte, len(arts)), results: map[string]Result{}}
	for _, a := range arts {
		f.wire[a.MessageID] = innlab.WireFormat(a.Body)
	}
	return f
}

func (f *inndFeeder) rewind() {
	f.next = 0
	f.results = map[string]Result{}
}

func (f *inndFeeder) NextOffers(dst []Offer, max int) []Offer {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ; max > 0 && f.next < len(f.arts); max-- {
		dst = append(dst, Offer{MessageID: f.arts[f.next].MessageID, Ref: int64(f.next)})
		f.next++
	}
	return dst
}

func (f *inndFeeder) Article(o *Offer, buf []byte) ([]byte, error) {
	return append(buf, f.wire[o.MessageID]...), nil
}

func (f *inndFeeder) Done(results []Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range results {
		if _, ok := f.results[r.Offer.MessageID]; ok {
			f.dup++
		}
		f.results[r.Offer.MessageID] = r
	}
}

func (f *inndFeeder) check(t *testing.T, st FeedStats, want Outcome) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dup > 0 || len(f.results) != len(f.arts) || st.Taken() != int64(len(f.arts)) {
		t.Fatalf("%d results (%d repeated) for %d offers; stats %+v", len(f.results), f.dup, len(f.arts), st)
	}
	for mid, r := range f.results {
		if r.Outcome != want {
			t.Errorf("%s: %v (%v), want %v", mid, r.Outcome, r.Reply, want)
			return
		}
	}
}

// TestInnd feeds a real innd 2.7: every article accepted, then, offered again, every
// one refused by CHECK (438) or rejected by TAKETHIS (439) in no-check mode, and the
// IHAVE fallback on a peer with streaming off. A receiver that already has the batch
// is innxmit's slow case (lab notes §6: 720 articles/s from a Nagle stall); it must not
// be ours.
func TestInnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts innd")
	}
	inst := innlab.StartT(t, innlab.Options{})
	arts := innlab.Generate(innlab.GenOptions{Count: 2000, Seed: 7, Specials: true})
	f := newInndFeeder(arts)
	ctx := context.Background()

	feed := func(cfg StreamConfig) FeedStats {
		c, err := Dial(ctx, inst.Addr, Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if ok, err := c.ModeStream(); !ok || err != nil {
			t.Fatalf("MODE STREAM = %v, %v", ok, err)
		}
		start := time.Now()
		st, err := c.Stream(ctx, f, cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		t.Logf("%v: %d articles in %v (%.0f/s): %+v", cfg.Mode, len(arts), d, float64(len(arts))/d.Seconds(), st)
		return st
	}

	st := feed(StreamConfig{})
	f.check(t, st, Accepted)
	if missing, err := inst.Missing(midsOf(arts)); err != nil || len(missing) > 0 {
		t.Fatalf("not in the receiver's history: %d %v", len(missing), err)
	}
	if st.NoCheckEntered != 1 {
		t.Errorf("no-check mode entered %d times", st.NoCheckEntered)
	}

	f.rewind()
	start := time.Now()
	st = feed(StreamConfig{Mode: AlwaysCheck})
	f.check(t, st, Refused)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("2000 refusals took %v: the delayed-ACK stall?", d)
	}

	f.rewind()
	st = feed(StreamConfig{Mode: NeverCheck})
	f.check(t, st, Rejected)

	t.Run("IHAVE", func(t *testing.T) {
		off := false
		inst := innlab.StartT(t, innlab.Options{Streaming: &off})
		f := newInndFeeder(arts[:300])
		c, err := Dial(ctx, inst.Addr, Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Quit()
		if ok, err := c.ModeStream(); ok || err != nil {
			t.Fatalf("MODE STREAM = %v, %v on a peer with streaming off", ok, err)
		}
		st, err := c.IHave(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		f.check(t, st, Accepted)
		f.rewind()
		st, err = c.IHave(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		f.check(t, st, Refused)
	})
}

func midsOf(arts []innlab.Article) []string {
	mids := make([]string, len(arts))
	for i, a := range arts {
		mids[i] = a.MessageID
	}
	return mids
}
