package xmit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"nxmit/nntp"
)

// A pass's connections adapt to the peer as innfeed's dynamic connections do, on top of
// each connection's adaptive window (nntp/window.go): a window at its cap over a long
// path bounds what one connection carries, and only another connection adds to it.
//
// The pass starts with Options.Connections. One supervising goroutine, waking once per
// round trip, reads what each streaming connection measured over its last round trip
// (nntp.StreamConfig.Sampled) and adds one connection, up to Options.MaxConnections,
// only while
//   - the backlog left is deep: more lines than the connections can have in flight in
//     growDepth round trips;
//   - every streaming connection is held back by its window at its cap (the peer keeps
//     up, the path is long);
//   - no deferral storm, 400 or connection failure came in the last quietRounds;
//   - under nxmit run, a slot of the global max-connections is free (never waited for).
//
// The new connection starts with the window the others reached. Once it has run
// trialSettle+trialRounds round trips, the pass's answer rate over the last trialRounds
// (each connection's replies over whole round trips, summed) must have risen by at least
// half a connection's share; otherwise the peer, not the path, is the limit: the newest
// connection is closed and the next try waits twice as long (up to maxHold rounds). A
// deferral storm or a 400 on any connection closes every added one. A closed
// connection takes no new offers, lets the answers due come in and QUITs: every offer
// it took gets its answer, or goes back Unsent to be offered again by another. The pass
// never goes below Options.Connections; IHAVE-only peers and fixed windows (no
// samples) keep Connections throughout.
const (
	growDepth   = 2  // round trips of in-flight offers the backlog must exceed
	quietRounds = 8  // rounds without trouble before growing
	trialRounds = 3  // rounds a new connection's gain is measured over
	trialWait   = 16 // rounds a new connection may take to measure a round trip
	trialSettle = 2  // round trips a new connection takes to reach its pace
	firstHold   = 8  // rounds a first failed trial holds growth off; it doubles
	maxHold     = 64 // ... up to this
	minRound    = 20 * time.Millisecond
	maxRound    = time.Second
	firstRound  = 100 * time.Millisecond // before any connection measured its round trip
)

// DefaultMaxConnections is the most connections a site's pass grows to while the peer
// keeps up, when none is configured (config.Builtin quotes it).
const DefaultMaxConnections = 8

// connState is one connection as the supervisor sees it.
type connState struct {
	id     int
	extra  bool        // added by the supervisor: holds a slot, may be retired
	retire atomic.Bool // take no new offers: drain and QUIT

	mu      sync.Mutex
	last    nntp.StreamSample
	at      time.Time // when last came
	samples int
	storm   bool // a sample was a deferral storm since the supervisor last looked
	// The last trialRounds+1 sample ends and the replies answered by then, for a
	// rate over whole round trips: replies come in bursts, a window a round trip,
	// and a rate over any other span would count one burst more or less.
	ends    [trialRounds + 1]time.Time
	answers [trialRounds + 1]int64
	total   int64
}

// sampled records one round trip's sample; it runs on the connection's reader.
func (c *connState) sampled(smp nntp.StreamSample) {
	c.mu.Lock()
	c.last, c.at = smp, time.Now()
	c.total += int64(smp.Answered)
	i := c.samples % len(c.ends)
	c.ends[i], c.answers[i] = c.at, c.total
	c.samples++
	if smp.Answered >= 8 && 2*smp.Deferred > smp.Answered {
		c.storm = true
	}
	c.mu.Unlock()
}

// reset forgets the samples of an earlier connection (after a reconnect).
func (c *connState) reset() {
	c.mu.Lock()
	c.last, c.at, c.samples, c.total = nntp.StreamSample{}, time.Time{}, 0, 0
	c.mu.Unlock()
}

// connSnap is a connState read at once.
type connSnap struct {
	last    nntp.StreamSample
	at      time.Time
	samples int
	storm   bool
	rate    float64 // replies per second over the last trialRounds round trips; 0: not known
}

func (c *connState) snap() connSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := connSnap{last: c.last, at: c.at, samples: c.samples, storm: c.storm}
	c.storm = false
	if c.samples > trialRounds {
		n := len(c.ends)
		newest, oldest := (c.samples-1)%n, c.samples%n
		if d := c.ends[newest].Sub(c.ends[oldest]).Seconds(); d > 0 {
			s.rate = float64(c.answers[newest]-c.answers[oldest]) / d
		}
	}
	return s
}

// growing reports whether the pass may add connections at all.
func (s *sender) growing() bool {
	o := s.opt
	return o.MaxConnections > o.Connections && !o.NoStream && !o.Stream.Fixed
}

// track registers a connection goroutine about to start; it fails once every
// connection has ended (the pass is over: nothing may be added).
func (s *sender) track(c *connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == 0 && s.started {
		return false
	}
	s.started = true
	s.running++
	s.conns = append(s.conns, c)
	return true
}

// untrack ends a connection goroutine; the last one tells the supervisor.
func (s *sender) untrack(c *connState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
	if s.running == 0 {
		close(s.idle)
	}
}

// troubled records a connection failure; a 400 (the peer throttles us) also closes
// the added connections at the supervisor's next look.
func (s *sender) troubled(err error) {
	s.failures.Add(1)
	var ne *nntp.Error
	if errors.As(err, &ne) && ne.Reply.Code == 400 {
		s.throttled.Store(true)
	}
}

// testHookRound, in tests, sees the connections taking offers at each round while
// lines are left to read (at the end they finish one by one).
var testHookRound func(active int)

// testHookTrial, in tests, sees each trial's verdict: the pass's rate with n
// connections, after adding one, and whether the new one is kept.
var testHookTrial func(round int, base, after float64, n int, kept bool)

// supervise adds and closes connections (see the comment above) until every
// connection has ended or ctx is done.
func (s *sender) supervise(ctx context.Context, wg *sync.WaitGroup) {
	var (
		round, lastChange int
		hold              = trialRounds + 1 // rounds from lastChange to the next add
		backoff           = firstHold / 2   // doubled by each failure: the next hold
		troubleRound      = -quietRounds
		failures          int64
		trial             *connState // the connection on trial, nil if none
		trialFrom         int        // the round it was added
		trialBase         float64    // the pass's answer rate before it
		trialN            int        // the connections before it
		trialStart        int        // the round it first measured a round trip; 0: not yet
		wait              = firstRound
	)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.idle:
			return
		case <-t.C:
		}
		round++
		s.mu.Lock()
		conns := append([]*connState(nil), s.conns...)
		s.mu.Unlock()

		// Read every connection once; the round lasts the longest round trip.
		var active []*connState
		var snaps []connSnap
		storm, extras := false, 0
		var rtt time.Duration
		rate := 0.0 // the pass's, over the last trialRounds round trips
		for _, c := range conns {
			sn := c.snap()
			storm = storm || sn.storm
			if c.retire.Load() {
				continue
			}
			if c.extra {
				extras++
			}
			active = append(active, c)
			snaps = append(snaps, sn)
			rtt = max(rtt, sn.last.RTT)
			rate += sn.rate
		}
		if testHookRound != nil && s.feeder.workLeft() {
			testHookRound(len(active))
		}
		wait = firstRound
		if rtt > 0 {
			wait = min(max(rtt, minRound), maxRound)
		}
		t.Reset(wait)

		throttled := s.throttled.Swap(false)
		if f := s.failures.Load(); f != failures {
			failures, troubleRound = f, round
		}
		if storm || throttled {
			// The peer is short of something: back to the connections we started with.
			troubleRound = round
			for _, c := range active {
				if c.extra {
					c.retire.Store(true)
				}
			}
			if trial != nil || extras > 0 {
				backoff = min(2*backoff, maxHold)
				hold, lastChange, trial = backoff, round, nil
			}
			continue
		}

		if trial != nil {
			if trial.retire.Load() {
				trial = nil // it failed, or was dropped: the failure counted as trouble
				continue
			}
			var ts connSnap
			for i, c := range active {
				if c == trial {
					ts = snaps[i]
				}
			}
			if trialStart == 0 {
				if ts.samples > 0 {
					trialStart = round
				}
				if trialStart == 0 && round-trialFrom >= trialWait {
					trial.retire.Store(true) // never got going
					backoff = min(2*backoff, maxHold)
					hold, lastChange, trial = backoff, round, nil
				}
				continue
			}
			if round-trialStart < trialRounds+trialSettle || ts.samples <= trialRounds+trialSettle {
				continue // past the new one's first round trips, and the others' rates cover it
			}
			// Half a connection's share must show in the pass's rate.
			kept := rate >= trialBase*(1+0.5/float64(trialN))
			if testHookTrial != nil {
				testHookTrial(round, trialBase, rate, trialN, kept)
			}
			if !kept {
				trial.retire.Store(true)
				backoff = min(2*backoff, maxHold)
				hold = backoff
			} else {
				// The rates just measured are those of the connections now: the
				// next may come at once.
				hold = 1
			}
			lastChange, trial = round, nil
			continue
		}

		if round-lastChange < hold || round-troubleRound < quietRounds {
			continue
		}
		if len(conns) >= s.opt.MaxConnections || len(active) == 0 {
			continue // retired ones still draining count: never above the cap
		}
		// Every streaming connection is held back by its window at its cap, as of a
		// recent round trip.
		window, inFlight := 0, int64(0)
		keepsUp := true
		for _, sn := range snaps {
			if sn.samples <= trialRounds || time.Since(sn.at) > 3*wait || !sn.last.Limited || sn.last.Window < sn.last.Cap {
				keepsUp = false
				break
			}
			inFlight += int64(sn.last.Window)
			if window == 0 || sn.last.Window < window {
				window = sn.last.Window
			}
		}
		if !keepsUp || s.feeder.depth() <= growDepth*inFlight {
			continue
		}
		if rate <= 0 {
			continue
		}
		c, ok := s.add(ctx, wg, window)
		if !ok {
			continue
		}
		trial, trialFrom, trialStart, trialBase, trialN = c, round, 0, rate, len(active)
		lastChange = round
	}
}

// add starts one more connection beginning with the given window, if a slot of the
// global cap is free and the pass is not over.
func (s *sender) add(ctx context.Context, wg *sync.WaitGroup, window int) (*connState, bool) {
	if s.opt.Slots != nil && !s.opt.Slots.TryAcquire() {
		return nil, false
	}
	release := func() {
		if s.opt.Slots != nil {
			s.opt.Slots.Release(1)
		}
	}
	s.mu.Lock()
	s.nextID++
	c := &connState{id: s.nextID, extra: true}
	s.mu.Unlock()
	if !s.track(c) {
		release()
		return nil, false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer s.untrack(c)
		defer release()
		cl, err := s.dial(ctx)
		if err != nil {
			s.troubled(err)
			c.retire.Store(true)
			if ctx.Err() == nil {
				s.opt.warnf("%s: connection %d: %v", s.peer(), c.id, err)
			}
			return
		}
		s.connection(ctx, c, cl, window)
	}()
	return c, true
}
