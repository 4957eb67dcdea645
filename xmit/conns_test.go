package xmit

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"nxmit/internal/innlab"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// connCounter is a TCP relay on 127.0.0.1 in front of a peer that counts the
// connections open at once, as the peer sees them.
type connCounter struct {
	Addr string
	mu   sync.Mutex
	open int
	peak int
}

func newConnCounter(t *testing.T, to string) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &connCounter{Addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			cc.mu.Lock()
			cc.open++
			cc.peak = max(cc.peak, cc.open)
			cc.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				done := make(chan struct{})
				go func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(in, out)
				in.Close()
				<-done
				out.Close()
				cc.mu.Lock()
				cc.open--
				cc.mu.Unlock()
			}()
		}
	}()
	return cc
}

func (cc *connCounter) most() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.peak
}

// activeLog records the connections taking offers at each of the supervisor's rounds,
// and the verdicts of its trials.
type activeLog struct {
	mu       sync.Mutex
	rounds   []int
	verdicts []verdict
}

// verdict is a trial's outcome, and how many rounds were recorded before it.
type verdict struct {
	kept  bool
	after int
}

func watchRounds(t *testing.T) *activeLog {
	l := &activeLog{}
	testHookRound = func(n int) { l.mu.Lock(); l.rounds = append(l.rounds, n); l.mu.Unlock() }
	testHookTrial = func(round int, base, after float64, n int, kept bool) {
		t.Logf("round %d: %d connections %.0f replies/s, one more %.0f/s, kept %v", round, n, base, after, kept)
		l.mu.Lock()
		l.verdicts = append(l.verdicts, verdict{kept, len(l.rounds)})
		l.mu.Unlock()
	}
	t.Cleanup(func() { testHookRound, testHookTrial = nil, nil })
	return l
}

// all returns the rounds and the verdicts so far.
func (l *activeLog) all() ([]int, []verdict) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.rounds...), append([]verdict(nil), l.verdicts...)
}

// A pass adds connections while its backlog is deep and every connection's window is at
// its cap over a long path (the peer keeps up), up to MaxConnections, and only then;
// nothing is lost and no article is answered twice. Peers that do not keep up (each
// command costs a serial peer time, or it defers most) keep, or go back to, the
// connections the pass started with.
func TestSendConnectionsAdapt(t *testing.T) {
	const start = 2
	// serial answers each command after a fixed cost, one command at a time over all
	// connections, as innd's single thread does: more connections do not add to it.
	var serialMu sync.Mutex
	serial := func(cost time.Duration) func(nntptest.Stage, string) int {
		return func(nntptest.Stage, string) int {
			serialMu.Lock()
			time.Sleep(cost)
			serialMu.Unlock()
			return 0
		}
	}
	// defersBand keeps up, but defers four in five articles of a band in the middle.
	defersBand := func(from, to int) func(nntptest.Stage, string) int {
		return func(st nntptest.Stage, mid string) int {
			if n := midNumber(mid); st == nntptest.Takethis && n >= from && n < to && n%5 != 0 {
				return 431
			}
			return 0
		}
	}
	tests := []struct {
		name   string
		n      int
		max    int
		check  nntp.CheckMode
		decide func(nntptest.Stage, string) int
		failAt int  // each connection's command answered 400
		grows  bool // above start at some point
		slow   bool // the peer does not keep up: mostly start, never more than one trial
		drops  bool // back to start after growing
	}{
		{name: "long path grows", n: 4000, max: 6, check: nntp.NeverCheck, grows: true},
		{name: "cap equal to start keeps it", n: 1500, max: start, check: nntp.NeverCheck},
		{name: "serial peer does not keep up", n: 2500, max: 6, check: nntp.NeverCheck,
			decide: serial(4 * time.Millisecond), slow: true},
		{name: "deferral storm drops back", n: 4000, max: 6, check: nntp.NeverCheck,
			decide: defersBand(2000, 2400), grows: true, drops: true},
		{name: "400 drops back", n: 4000, max: 6, check: nntp.NeverCheck, failAt: 1200, grows: true, drops: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, tt.n)
			ans := newAnswers()
			decide := tt.decide
			if decide == nil {
				decide = func(nntptest.Stage, string) int { return 0 }
			}
			srv := nntptest.NewServer(t, nntptest.Script{Delay: 200 * time.Millisecond, Decide: ans.decide(decide), CountOnly: true, FailAt: tt.failAt})
			cc := newConnCounter(t, srv.Addr)
			rounds := watchRounds(t)
			opt := s.options(cc.Addr)
			opt.Connections, opt.MaxConnections = start, tt.max
			opt.Stream = nntp.StreamConfig{Window: 64, Mode: tt.check, Grace: time.Second}
			opt.MaxDeferRun = -1
			ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
			defer cancel()
			t0 := time.Now()
			st, err := Send(ctx, opt)
			if err != nil {
				t.Fatalf("Send: %v (warnings %q)", err, s.warns.all())
			}
			all, verdicts := rounds.all()
			t.Logf("%d articles in %v, %.0f/s; most connections at once %d (relay saw %d), %d dialed; active by round %v",
				tt.n, time.Since(t0).Round(time.Millisecond), st.Rate(), st.PeakConnections, cc.most(), st.Connections, all)
			s.checkBalance(st, tt.n)
			if tt.failAt == 0 {
				// (ans counts the decision for the command answered 400 instead.)
				ans.noneTwice(t)
			}
			if got := srv.Stats().Accepted; int64(got) != st.Accepted {
				t.Errorf("the peer accepted %d, the pass counts %d: an article sent twice", got, st.Accepted)
			}
			if st.Queued != 0 || st.Unsent != 0 {
				t.Errorf("queued %d, unsent %d after a complete pass", st.Queued, st.Unsent)
			}
			if st.PeakConnections != cc.most() {
				t.Errorf("PeakConnections %d, the peer saw %d at once", st.PeakConnections, cc.most())
			}
			if st.PeakConnections > tt.max {
				t.Errorf("%d connections at once, above the cap %d", st.PeakConnections, tt.max)
			}
			switch {
			case tt.grows && st.PeakConnections <= start:
				t.Errorf("never more than %d connections; want growth up to %d", st.PeakConnections, tt.max)
			case !tt.grows && !tt.slow && st.PeakConnections != start:
				t.Errorf("%d connections at once, want exactly %d", st.PeakConnections, start)
			case tt.slow && st.PeakConnections > start+1:
				t.Errorf("%d connections at once: a peer that does not keep up got more than one trial connection", st.PeakConnections)
			}
			if tt.slow {
				// Its one trial is judged and closed: it is not kept, and no round after
				// the verdict has more than the connections the pass started with.
				// (How many rounds the verdict takes depends on the machine's load.)
				switch {
				case st.PeakConnections > start && len(verdicts) == 0:
					t.Errorf("a trial connection got no verdict within the pass (rounds %v)", all)
				case len(verdicts) > 0 && verdicts[0].kept:
					t.Errorf("a trial connection kept for a peer that does not keep up")
				case len(verdicts) > 0:
					for _, n := range all[verdicts[0].after:] {
						if n > start {
							t.Errorf("%d connections after the trial was closed, want %d (rounds %v)", n, start, all)
							break
						}
					}
				}
			}
			if tt.drops {
				grown, back := false, false
				for _, n := range all {
					grown = grown || n > start
					back = back || grown && n == start
				}
				if !back {
					t.Errorf("never back to %d connections after growing, through a deferral storm or a 400", start)
				}
			}
			if tt.max == start && st.Connections != start {
				t.Errorf("%d connections dialed, want %d", st.Connections, start)
			}
		})
	}
}

// Under nxmit run the connections added need a free slot of the global max-connections,
// never waited for: the pass stays within it, and gives every slot back.
func TestSendConnectionsWithinGlobalCap(t *testing.T) {
	const start, global = 2, 3
	s := newSite(t, 4000)
	ans := newAnswers()
	srv := nntptest.NewServer(t, nntptest.Script{Delay: 200 * time.Millisecond, CountOnly: true,
		Decide: ans.decide(func(nntptest.Stage, string) int { return 0 })})
	cc := newConnCounter(t, srv.Addr)
	slots := NewConnSlots(global)
	got, err := slots.Acquire(context.Background(), start)
	if err != nil || got != start {
		t.Fatalf("Acquire: %d, %v", got, err)
	}
	opt := s.options(cc.Addr)
	opt.Connections, opt.MaxConnections, opt.Slots = start, 8, slots
	opt.Stream = nntp.StreamConfig{Window: 64, Mode: nntp.NeverCheck, Grace: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	st, err := Send(ctx, opt)
	if err != nil {
		t.Fatalf("Send: %v (warnings %q)", err, s.warns.all())
	}
	slots.Release(start)
	t.Logf("most connections at once %d (relay saw %d), %d dialed, %.0f art/s", st.PeakConnections, cc.most(), st.Connections, st.Rate())
	s.checkBalance(st, 4000)
	ans.noneTwice(t)
	if cc.most() > global {
		t.Errorf("the peer saw %d connections at once, above max-connections %d", cc.most(), global)
	}
	if cc.most() != global {
		t.Errorf("the peer saw %d connections at once; want growth to the global cap %d", cc.most(), global)
	}
	if slots.used != 0 {
		t.Errorf("%d slots still taken after the pass", slots.used)
	}
}

// Against a real innd nearby the windows rarely stay at their cap: the adaptive pass
// stays correct (every article accepted once, the counts balance, never above its cap);
// its rate is logged beside passes with the number fixed.
func TestSendConnectionsToRealINN(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{Method: innlab.TimeHash}, innlab.Options{})
	store := openStore(t, sender)
	testHookTrial = func(round int, base, after float64, n int, kept bool) {
		t.Logf("round %d: %d connections %.0f replies/s, one more %.0f/s, kept %v", round, n, base, after, kept)
	}
	defer func() { testHookTrial = nil }()
	const n = 20000
	for i, max := range []int{4, 8, 4, 8} {
		arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: int64(700 + i)})
		q := injectBacklog(t, sender, arts)
		warns := &warnings{}
		st, err := Send(context.Background(), Options{
			Queue: q, Store: store, Addr: receiver.Addr,
			Dial:        realDial,
			Connections: 4, MaxConnections: max, Warn: warns.add,
		})
		if err != nil {
			t.Fatalf("Send: %v (warnings %q)", err, warns.all())
		}
		t.Logf("max %d: %.0f art/s, most connections at once %d, window %d", max, st.Rate(), st.PeakConnections, st.MaxWindow)
		(&site{t: t, q: q}).checkBalance(st, n)
		if st.Accepted != n || st.PeakConnections > max {
			t.Errorf("max %d: accepted %d of %d, %d connections at once", max, st.Accepted, n, st.PeakConnections)
		}
		mids := make([]string, n)
		for i, a := range arts {
			mids[i] = a.MessageID
		}
		if missing, err := receiver.Missing(mids); err != nil || len(missing) > 0 {
			t.Errorf("max %d: %d articles not in the receiver's history (%v)", max, len(missing), err)
		}
	}
}
