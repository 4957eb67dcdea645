package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/xmit"
)

// soakLab is a real sender innd whose feed for "peer" is queued as backlogs, a real
// receiving innd behind a deferProxy, and the arguments to send through the proxy.
type soakLab struct {
	t        *testing.T
	sender   *innlab.Instance
	receiver *innlab.Instance
	proxy    *deferProxy
	q        batch.Queue
	env      []string
	logFile  string

	mu            sync.Mutex // guards mids and pendingMerges
	mids          []string
	pendingMerges []string // old feed files to merge once the concurrent phase is over
}

// newSoakLab starts both innd, stores n generated articles in the sender (innd writes a
// feed line for each) and rotates the feed into a backlog with the nxmit binary.
func newSoakLab(t *testing.T, n int, seed int64, deferPct int, recvOpt innlab.Options) *soakLab {
	t.Helper()
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{}, recvOpt)
	l := &soakLab{t: t, sender: sender, receiver: receiver,
		q:       batch.Queue{Dir: sender.Outgoing, Site: "peer"},
		env:     []string{"INNCONF=" + sender.InnConf},
		logFile: filepath.Join(t.TempDir(), "nxmit.log"),
	}
	if n > 0 {
		l.inject(n, seed)
		l.rotate()
	}
	l.proxy = startProxy(t, receiver.Addr, deferPct)
	return l
}

// inject stores n generated articles (2 KB each, with the special cases) in the sender.
func (l *soakLab) inject(n int, seed int64) []string {
	l.t.Helper()
	// Full mode draws sizes like a real feed (70% 1-4 KB, 25% 10-100 KB, 5% 0.5-2 MB),
	// so that kills also land in the middle of large articles.
	gen := innlab.GenOptions{Count: n, Seed: seed, Specials: true, Mixed: fullMode()}
	if err := l.sender.InjectSeq(innlab.GenerateSeq(gen)); err != nil {
		l.t.Fatalf("inject: %v", err)
	}
	var mids []string
	for i := 0; i < n; i++ {
		mids = append(mids, innlab.MessageID(seed, i))
	}
	l.mids = append(l.mids, mids...)
	return mids
}

// rotate turns the sender's feed file into a backlog.
func (l *soakLab) rotate() result {
	l.t.Helper()
	r := runNxmit(l.t, 2*time.Minute, l.env, "rotate", l.q.Site, "--force")
	if r.Status != 0 {
		l.t.Fatalf("rotate: %s", r)
	}
	return r
}

// sendArgs returns the arguments of a send through the proxy.
func (l *soakLab) sendArgs(extra ...string) []string {
	host, port, _ := strings.Cut(l.proxy.Addr, ":")
	args := []string{"send", l.q.Site, "-v", "--log-file", l.logFile, "--host", host, "--port", port,
		"--reply-timeout", "30s"}
	return append(args, extra...)
}

// drain runs requeue and send until the queue is empty, at most limit. It returns the
// number of passes.
func (l *soakLab) drain(limit time.Duration, firstPass int, extra ...string) int {
	l.t.Helper()
	deadline := time.Now().Add(limit)
	for pass := firstPass; ; pass++ {
		if err := requeue(l.t, l.env, l.q); err != nil {
			l.t.Fatalf("requeue: %v", err)
		}
		snap := takeSnapshot(l.t, l.q, false)
		if snap.Lines == 0 {
			return pass - firstPass
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("queue not empty after draining for %s: %d lines in %v", limit, snap.Lines, snap.Files)
		}
		l.proxy.SetPass(pass)
		r := runNxmit(l.t, 5*time.Minute, l.env, l.sendArgs(extra...)...)
		if r.Status != 0 && r.Status != 75 {
			l.t.Fatalf("drain: %s", r)
		}
		if r.Stats.Deferred > 0 || r.Stats.Offered == 0 {
			// innd holds the id of an article whose TAKETHIS was cut off for wipcheck
			// (5 s): its CHECK is deferred until then.
			time.Sleep(time.Second)
		}
	}
}

// checkReceiverHasAll fails the test unless the receiver's history has every article.
func (l *soakLab) checkReceiverHasAll() {
	l.t.Helper()
	missing, err := l.receiver.Missing(l.mids)
	if err != nil {
		l.t.Fatal(err)
	}
	if len(missing) > 0 {
		l.t.Errorf("LOST: %d of %d articles are not at the receiver, e.g. %v", len(missing), len(l.mids), missing[:min(5, len(missing))])
	}
}

// TestCrashSoak kills `nxmit send` with SIGKILL at random moments of a transmission to a
// real innd, 5 % of whose CHECKs are deferred once, then sends and requeues until the
// queue is empty and checks that the receiver has every article. After each kill it
// counts the lines the killed pass had offered and left queued (in flight), and among
// them those whose final answer innd had already written to nxmit's socket: those are
// the articles the next passes offer again, and they must never exceed what can be in
// flight (connections × window). Plain backlogs: a line is blanked as soon as its
// answer arrives.
func TestCrashSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN soak: not in -short mode")
	}
	crashSoak(t, false)
}

// TestCrashSoakCompressed is the soak over a zstd-compressed backlog, whose progress is
// checkpointed (every second) rather than blanked line by line: a kill re-offers the
// lines completed since the last checkpoint, which may be more than a window.
func TestCrashSoakCompressed(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN soak: not in -short mode")
	}
	crashSoak(t, true)
}

func crashSoak(t *testing.T, compressed bool) {
	n, kills := 20000, pick(50, 200)
	if compressed {
		n, kills = pick(5000, 20000), pick(20, 100)
	}
	const connections, window, deferPct = 4, 128, 5
	// What a connection can have taken and not finished: its window, plus the answers
	// its reader has freed slots for and not yet handed to Done (nntp's doneBatch, 64).
	// Per connection its window and a Done batch; and the deferred lines whose blanks
	// wait for S.defer's fsync (in S.defer and still in their backlog).
	const inflightBound = connections*(window+64) + xmit.MaxHeldDeferrals
	rng := newRand(t)
	seed := rng.Int64N(1 << 40)
	l := newSoakLab(t, n, seed, deferPct, innlab.Options{})
	if compressed {
		// Recompress the rotated backlog: merge it into a .zst one.
		files, err := l.q.Backlogs()
		if err != nil || len(files) != 1 {
			t.Fatalf("backlogs after rotate: %v %v", files, err)
		}
		if err := merge(t, l.env, l.q, true, true, files[0].Path); err != nil {
			t.Fatal(err)
		}
	}
	snap := takeSnapshot(t, l.q, false)
	if snap.Lines != n {
		t.Fatalf("queued %d lines after rotate, want %d (%v)", snap.Lines, n, snap.Files)
	}
	// The bound counts connections: the number stays fixed (no connection added).
	args := l.sendArgs("-c", fmt.Sprint(connections), "--max-site-connections", fmt.Sprint(connections),
		"-w", fmt.Sprint(window), "--check", "always")

	type killRecord struct {
		pass     int
		offered  int            // offers the killed pass had made
		inflight map[string]int // lines it had offered and left in a backlog: copies queued
		told     int            // of those, lines whose final answer had reached nxmit's socket
	}
	var (
		killed    []killRecord
		topUps    int
		topUp     = 500
		exits     = map[int]int{}
		timeKills int
		start     = time.Now()
		// Wait before a kill: per article of the share (timeScale), per offer
		// (offerScale). They adapt to the progress the passes make.
		timeScale  = float64(100 * time.Microsecond)
		offerScale = 1.0
	)
	for pass := 1; len(killed) < kills; pass++ {
		if pass > 4*kills {
			t.Fatalf("only %d kills landed in %d passes", len(killed), pass)
		}
		// Deferred articles come back at once, so that every pass has work.
		if hasDeferrals(l.q) {
			if err := requeue(t, l.env, l.q); err != nil {
				t.Fatalf("requeue: %v", err)
			}
		}
		if l.proxy.Finals() >= n {
			// The transmission ended before the last kills (the passes went faster
			// than planned): innd receives more articles, as it would anyway, and the
			// transmission goes on.
			l.inject(topUp, seed+int64(len(l.mids)))
			l.rotate()
			n += topUp
			topUps++
		}
		if takeSnapshot(t, l.q, false).Lines == 0 {
			t.Errorf("the queue is empty, but innd has answered only %d of %d articles", l.proxy.Finals(), n)
			break
		}
		l.proxy.SetPass(pass)
		// Half the kills come after a random number of offers (mid-stream), the others
		// after a random time, which also lands in start-up, connection set-up and the
		// end of a pass. Both are drawn so that the transmission lasts for every kill
		// (with a margin): on average a pass should get through share articles. How far
		// a pass really gets depends on the machine, so the scales adapt as it goes.
		finals := l.proxy.Finals()
		left := kills - len(killed)
		share := float64(n-finals) / (float64(left)*1.5 + 1)
		byTime := rng.IntN(2) == 0
		target := rng.IntN(int(2*share*offerScale) + 1)
		wait := time.Duration(rng.Int64N(int64(2*timeScale*share) + 1))
		p := startNxmit(t, l.env, args...)
		for !p.exited() {
			if byTime && time.Since(p.start) >= wait || !byTime && l.proxy.Pass(pass).Offers >= target ||
				time.Since(p.start) > 30*time.Second {
				break
			}
			time.Sleep(500 * time.Microsecond)
		}
		if p.exited() {
			r := p.wait(time.Second)
			exits[r.Status]++
			if r.Status != 0 && r.Status != 75 {
				t.Fatalf("pass %d: %s", pass, r)
			}
		} else if r := p.kill(); r.Status != -1 {
			exits[r.Status]++ // it ended by itself just before the kill
		} else {
			k := killRecord{pass: pass, offered: l.proxy.Pass(pass).Offers, inflight: map[string]int{}}
			if byTime {
				timeKills++
			}
			// What the killed pass left: lines it offered that are still in a backlog
			// (a deferred line, once in S.defer and blanked, is no longer in flight).
			s := takeSnapshot(t, l.q, false)
			for mid, files := range s.Where {
				m := l.proxy.Mid(mid)
				if m.lastOffer != pass || !inBacklog(files) {
					continue
				}
				k.inflight[mid] = len(files)
				if m.final != 0 && m.told {
					k.told++
				}
			}
			if !compressed && len(k.inflight) > inflightBound {
				t.Errorf("kill %d (pass %d): %d lines in flight, more than %d connections × (window %d + 64)",
					len(killed)+1, pass, len(k.inflight), connections, window)
			}
			if len(s.Bad) > 0 {
				t.Fatalf("after kill %d: malformed lines %v", len(killed)+1, s.Bad)
			}
			killed = append(killed, k)
		}
		// Steer the next draws towards the share.
		if got := float64(l.proxy.Finals() - finals); share > 0 {
			f := min(max(share/max(got, 1), 0.5), 1.5)
			if byTime {
				timeScale = min(max(timeScale*f, float64(10*time.Microsecond)), float64(2*time.Millisecond))
			} else {
				offerScale = min(max(offerScale*f, 0.1), 4)
			}
		}
	}
	killPhase := time.Since(start)
	drainPasses := l.drain(3*time.Minute, len(killed)*4+1)
	l.checkReceiverHasAll()
	checkNoLeftovers(t, l.q)
	if s := takeSnapshot(t, l.q, false); s.Lines != 0 {
		t.Errorf("queue not empty: %v", s.Files)
	}

	// Every article innd refused (438/439: it had it already) must have been in flight
	// at a kill, once per refusal and per copy queued then at most (a deferred line whose
	// blank did not make it is both in S.defer and in its backlog): a refusal that no
	// kill explains is an article queued twice.
	inflightAt := map[string]int{}
	maxInflight, maxAgain, sumAgain, maxTold := 0, 0, 0, 0
	var perKill []string
	for _, k := range killed {
		again := 0
		for mid, copies := range k.inflight {
			inflightAt[mid] += copies
			if m := l.proxy.Mid(mid); m.final != 0 && m.finalPass <= k.pass {
				again++
			}
		}
		maxInflight = max(maxInflight, len(k.inflight))
		maxAgain = max(maxAgain, again)
		maxTold = max(maxTold, k.told)
		sumAgain += again
		perKill = append(perKill, fmt.Sprintf("%d/%d", again, len(k.inflight)))
	}
	unexplained := 0
	for mid, n := range l.proxy.Refusals() {
		if n > inflightAt[mid] {
			unexplained++
			if unexplained <= 5 {
				t.Errorf("%s refused %d times by the receiver, but only %d copies were in flight at kills: queued twice; %v",
					mid, n, inflightAt[mid], l.proxy.Mid(mid).history)
			}
		}
	}
	tot := l.proxy.Total()
	t.Logf("per kill, offered again (innd had it) / in flight: %s", strings.Join(perKill, " "))
	t.Logf("proxy: %+v", tot)
	kind := "plain"
	if compressed {
		kind = "zstd"
	}
	report(t, "%s backlog, %d articles (%d added during the soak), %d kills (%d at a random time, %d after a random number of offers) "+
		"in %s, then %d drain passes; passes that ended by themselves: %v; in flight per kill at most %d "+
		"(bound %d: connections × (window + 64)); offered again per kill at most %d (%d in all; the receiver refused %d "+
		"re-offers, each explained by a kill: %d unexplained); answered to nxmit but not yet recorded at a kill: "+
		"at most %d; deferred by the proxy %d (%.1f%%), by innd %d; receiver has all %d; queue empty",
		kind, n, topUps*topUp, len(killed), timeKills, len(killed)-timeKills, killPhase.Round(time.Second), drainPasses, exits,
		maxInflight, inflightBound, maxAgain, sumAgain, tot.Refused+tot.Rejected, unexplained, maxTold,
		tot.ProxyDeferred, 100*float64(tot.ProxyDeferred)/float64(n), tot.InndDeferred, n)
}

// hasDeferrals reports whether q has deferral files or an S.defer for requeue to take.
func hasDeferrals(q batch.Queue) bool {
	files, _ := q.Deferrals()
	_, err := os.Stat(q.DeferPath())
	return len(files) > 0 || err == nil
}

// inBacklog reports whether one of the file names is a backlog's.
func inBacklog(files []string) bool {
	for _, f := range files {
		if strings.Contains(f, ".B.") {
			return true
		}
	}
	return false
}
