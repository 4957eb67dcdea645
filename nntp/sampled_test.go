package nntp

import (
	"context"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// StreamConfig.Sampled sees every round trip's sample: the window and its cap, whether
// the window held the writer back, the replies and deferrals of the sample, and the
// round trip.
func TestStreamSampled(t *testing.T) {
	const n, delay, window = 2000, 20 * time.Millisecond, 32
	someDeferred := func(st nntptest.Stage, mid string) int {
		if st == nntptest.Takethis && len(mid) > 0 && mid[1]%4 == 0 { // about a quarter
			return 431
		}
		return 0
	}
	var samples []StreamSample
	cfg := StreamConfig{Window: window, Start: 8,
		Sampled: func(s StreamSample) { samples = append(samples, s) }} // reader only
	st := runWindowSampled(t, nntptest.Script{Delay: delay, Decide: someDeferred}, cfg, n)
	if len(samples) < 5 {
		t.Fatalf("%d samples over %d round trips at least", len(samples), n/window)
	}
	var answered, deferred int
	limitedAtCap := false
	for _, s := range samples {
		if s.Cap != window || s.Window < 1 || s.Window > window {
			t.Errorf("sample %+v: window outside 1..%d or cap not %d", s, window, window)
		}
		if s.RTT < delay || s.Rate <= 0 {
			t.Errorf("sample %+v: round trip below the peer's %v delay, or no rate", s, delay)
		}
		answered += s.Answered
		deferred += s.Deferred
		limitedAtCap = limitedAtCap || s.Limited && s.Window == window
	}
	if answered > n || answered < n/2 {
		t.Errorf("samples count %d replies of %d", answered, n)
	}
	if deferred == 0 || int64(deferred) > st.Deferred {
		t.Errorf("samples count %d deferrals, the stream %d", deferred, st.Deferred)
	}
	if !limitedAtCap {
		t.Errorf("no sample with the window at its cap holding the writer back, over a %v path", delay)
	}
}

// runWindowSampled streams n articles on one connection as runWindow does, answers
// other than 239 allowed.
func runWindowSampled(t *testing.T, sc nntptest.Script, cfg StreamConfig, n int) FeedStats {
	t.Helper()
	sc.CountOnly = true
	srv := nntptest.NewServer(t, sc)
	c := streamClient(t, srv, Config{})
	cfg.Mode = NeverCheck
	f := newRateFeeder(n)
	st, err := c.Stream(context.Background(), f, cfg)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if f.done != n || f.doneTwice {
		t.Fatalf("answers: %d of %d, twice %v", f.done, n, f.doneTwice)
	}
	return st
}
