package nntp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

func TestIHaveOutcomes(t *testing.T) {
	const n = 100
	rules := map[nntptest.Stage]map[int]int{
		nntptest.IHave:        {1: 435, 2: 436, 3: 435, 40: 501},
		nntptest.IHaveArticle: {4: 437, 5: 436, 6: 437, 41: 501},
	}
	srv := nntptest.NewServer(t, nntptest.Script{NoStream: true, Decide: decideBy(rules)})
	f := newTestFeeder(t, n, 1200)
	f.missing[f.mids[7]] = true
	f.missing[f.mids[99]] = true
	f.broken[f.mids[8]] = true
	f.mids[9] = "" // no message-id: cannot be offered
	c := dial(t, srv, Config{})
	if ok, err := c.ModeStream(); ok || err != nil {
		t.Fatalf("ModeStream = %v, %v", ok, err)
	}
	st, err := c.IHave(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	out := f.check(st)
	// 501 counts as refused at the offer and rejected after the article.
	want := map[Outcome]int{Accepted: n - 12, Refused: 3, Deferred: 2, Rejected: 3, Missing: 3, Failed: 1}
	if got := countOutcomes(out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	checkReceived(t, f, srv, out)
	ss := srv.Stats()
	if st.IHaves != int64(ss.Commands["IHAVE"]) || st.Offered != st.IHaves || st.IHaves != n-4 {
		t.Errorf("IHaves %d Offered %d, server saw %d", st.IHaves, st.Offered, ss.Commands["IHAVE"])
	}
	if int64(ss.Accepted) != st.Accepted {
		t.Errorf("server accepted %d, client %d", ss.Accepted, st.Accepted)
	}
	if err := c.Quit(); err != nil {
		t.Error(err)
	}
}

func TestIHaveFaults(t *testing.T) {
	const n = 60
	at := func(stage nntptest.Stage, i, code int) func(nntptest.Stage, string) int {
		return decideBy(map[nntptest.Stage]map[int]int{stage: {i: code}})
	}
	tests := []struct {
		name   string
		script nntptest.Script
		temp   bool
		check  func(*testing.T, error)
		cfg    Config
	}{
		{name: "400 at the offer", script: nntptest.Script{FailAt: 20}, temp: true, check: wantCode(400)},
		{name: "400 after the article", script: nntptest.Script{Decide: at(nntptest.IHaveArticle, 19, 400)}, temp: true, check: wantCode(400)},
		{name: "480", script: nntptest.Script{Decide: at(nntptest.IHave, 19, 480)}, check: wantCode(480)},
		{name: "garbage", script: nntptest.Script{GarbageAt: 20}, check: wantProto("malformed")},
		{name: "cut in an article", script: nntptest.Script{CutArticleAt: 20}, temp: true, check: wantErr[*ConnError]()},
		{name: "stall", script: nntptest.Script{StallAt: 20}, cfg: Config{ReplyTimeout: 200 * time.Millisecond}, temp: true, check: wantTimeout},
		{name: "not authenticated", script: nntptest.Script{User: "u", Pass: "p"}, check: wantCode(480)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, tt.script)
			f := newTestFeeder(t, n, 900)
			c := dial(t, srv, tt.cfg)
			st, err := c.IHave(context.Background(), f)
			if err == nil {
				t.Fatalf("IHave succeeded: %+v", st)
			}
			if isTemporary(err) != tt.temp {
				t.Errorf("Temporary(%v) = %v, want %v", err, isTemporary(err), tt.temp)
			}
			tt.check(t, err)
			out := f.check(st)
			checkReceived(t, f, srv, out)
			cnt := countOutcomes(out)
			if cnt[Unsent] == 0 {
				t.Errorf("nothing unsent: %v", cnt)
			}
			if tt.script.User == "" && cnt[Accepted] != 19 {
				t.Errorf("accepted %d, want the 19 before the fault", cnt[Accepted])
			}
			if _, err := c.IHave(context.Background(), f); err == nil {
				t.Error("IHave on a failed client succeeded")
			}
		})
	}
}

// 436 at the offer is a deferral, not a failure (innxmit aborts the run there).
func TestIHave436Continues(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{Decide: func(st nntptest.Stage, mid string) int {
		if st == nntptest.IHave {
			return 436
		}
		return 0
	}})
	f := newTestFeeder(t, 20, 200)
	c := dial(t, srv, Config{})
	st, err := c.IHave(context.Background(), f)
	if err != nil || st.Deferred != 20 {
		t.Fatalf("IHave = %+v, %v", st, err)
	}
	f.check(st)
}

func TestIHaveCancel(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{Delay: 5 * time.Millisecond})
	f := newTestFeeder(t, 1000, 300)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arts := 0
	f.onArt = func(string) {
		if arts++; arts == 10 {
			cancel()
		}
	}
	c := dial(t, srv, Config{})
	st, err := c.IHave(ctx, f)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("IHave = %v", err)
	}
	out := f.check(st)
	cnt := countOutcomes(out)
	if cnt[Accepted] != 10 || cnt[Unsent] != pullBatch-10 {
		t.Errorf("outcomes %v; want the 10 started accepted and the rest of the batch unsent", cnt)
	}
	// The exchange in progress finished: the connection is still good.
	if err := c.Quit(); err != nil {
		t.Error(err)
	}
}

// The stop interrupts an exchange whose reply does not come, after DefaultGrace.
func TestIHaveCancelStalled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits DefaultGrace")
	}
	srv := nntptest.NewServer(t, nntptest.Script{StallAt: 3})
	f := newTestFeeder(t, 10, 300)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c := dial(t, srv, Config{})
	start := time.Now()
	st, err := c.IHave(ctx, f)
	if d := time.Since(start); d > DefaultGrace+2*time.Second {
		t.Errorf("took %v", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("IHave = %v", err)
	}
	if cnt := countOutcomes(f.check(st)); cnt[Accepted] != 2 || cnt[Unsent] != 8 {
		t.Errorf("outcomes %v", cnt)
	}
	// The stalled IHAVE was sent but never answered: not an offer.
	if st.IHaves != 3 || st.Offered != 2 {
		t.Errorf("IHaves %d Offered %d, want 3 and 2", st.IHaves, st.Offered)
	}
}

func TestIHaveExactlyOnceStress(t *testing.T) {
	scripts := []nntptest.Script{
		{}, {FailAt: 17}, {CutArticleAt: 9}, {GarbageAt: 25}, {StallAt: 30},
		{Decide: decideBy(map[nntptest.Stage]map[int]int{nntptest.IHave: {3: 435, 4: 436}, nntptest.IHaveArticle: {5: 437, 6: 436}})},
	}
	for i := 0; i < 24; i++ {
		sc := scripts[i%len(scripts)]
		cancelAt := 5 + (i*13)%60
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			srv := nntptest.NewServer(t, sc)
			f := newTestFeeder(t, 80, 500)
			f.missing[f.mids[i%20]] = true
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			arts := 0
			f.onArt = func(string) {
				if arts++; arts == cancelAt {
					cancel()
				}
			}
			c := dial(t, srv, Config{ReplyTimeout: 200 * time.Millisecond})
			st, _ := c.IHave(ctx, f)
			out := f.check(st)
			checkReceived(t, f, srv, out)
		})
	}
}
