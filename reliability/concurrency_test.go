package reliability

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nxmit/internal/innlab"
)

// TestConcurrentQueue runs, for a minute (five in full mode), every writer and reader of
// one site's queue at once and over and over, while innd keeps writing the feed: rotate
// (every other one compressed), send (some stopped by SIGTERM halfway), requeue, and
// merge (old feed files of articles innd did not feed, the site's own deferral files,
// and its own backlogs, which a running send keeps merge from taking). The receiver sits
// behind the deferring proxy, so deferrals keep requeue busy. Afterwards the queue is
// drained, and the receiver must have every article, and must never have been offered
// one it already had: no line was lost or queued twice.
func TestConcurrentQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	d := pick(60*time.Second, 5*time.Minute)
	rng := newRand(t)
	seed := rng.Int64N(1 << 40)
	l := newSoakLab(t, 0, seed, 5, innlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()

	var (
		mu       sync.Mutex
		statuses = map[string]map[int]int{} // command → exit status → count
		failures []string
		wg       sync.WaitGroup
		injected int
		merged   int
		batch    int64
	)
	record := func(what string, r result) {
		mu.Lock()
		defer mu.Unlock()
		if statuses[what] == nil {
			statuses[what] = map[int]int{}
		}
		statuses[what][r.Status]++
		switch {
		case r.Status == 0, r.Status == 75:
		case what == "send (SIGTERM)" && r.Status == -1:
			// The signal came before nxmit set its handler: it died at start-up.
		case strings.HasPrefix(what, "merge (") && r.Status == 1 && strings.Contains(r.Stderr, "no such file or directory"):
			// An input listed a moment ago was consumed meanwhile by requeue, send or
			// another merge: merge refuses the whole set, touching nothing.
		default:
			failures = append(failures, fmt.Sprintf("%s: %s", what, r))
		}
	}
	sleep := func(r *rand.Rand, max time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Duration(r.Int64N(int64(max)))):
			return true
		}
	}
	loop := func(name string, body func(r *rand.Rand)) {
		wg.Add(1)
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				body(r)
			}
		}()
	}
	nextSeed := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		batch++
		return seed + batch*1_000_000
	}

	// innd keeps receiving articles, and writes a feed line for each.
	loop("inject", func(r *rand.Rand) {
		n := 50 + r.IntN(200)
		mids := l.injectTo(n, nextSeed(), false)
		mu.Lock()
		injected += len(mids)
		mu.Unlock()
		sleep(r, 500*time.Millisecond)
	})
	loop("rotate", func(r *rand.Rand) {
		args := []string{"rotate", l.q.Site, "--force"}
		if r.IntN(2) == 0 {
			args = append(args, "--compress")
		}
		record("rotate", runNxmit(t, time.Minute, l.env, args...))
		sleep(r, 500*time.Millisecond)
	})
	for i := 0; i < 2; i++ {
		loop("send", func(r *rand.Rand) {
			if r.IntN(4) == 0 {
				// Stopped by SIGTERM: no new offers, answers awaited, the rest left queued.
				p := startNxmit(t, l.env, l.sendArgs()...)
				sleep(r, 300*time.Millisecond)
				p.signal(syscall.SIGTERM)
				record("send (SIGTERM)", p.wait(time.Minute))
			} else {
				record("send", runNxmit(t, 2*time.Minute, l.env, l.sendArgs()...))
			}
			sleep(r, 300*time.Millisecond)
		})
	}
	loop("requeue", func(r *rand.Rand) {
		record("requeue", runNxmit(t, time.Minute, l.env, "requeue", l.q.Site, "--retry-delay", "0s"))
		sleep(r, 700*time.Millisecond)
	})
	loop("merge", func(r *rand.Rand) {
		switch r.IntN(3) {
		case 0:
			// An old feed file: articles innd stored but did not feed to the site.
			mids := l.injectTo(20+r.IntN(50), nextSeed(), true)
			file := filepath.Join(newsDir(t), "old-feed") // news may remove it
			if err := os.WriteFile(file, l.feedLines(mids), 0o644); err != nil {
				t.Error(err)
				return
			}
			args := []string{"merge", l.q.Site, "--remove", file}
			if r.IntN(2) == 0 {
				args = append(args, "--compress")
			}
			rr := runNxmit(t, time.Minute, l.env, args...)
			record("merge (old feed)", rr)
			switch rr.Status {
			case 0:
				mu.Lock()
				merged += len(mids)
				mu.Unlock()
			case 75:
				// The queue lock was held: merged after the run instead.
				l.mu.Lock()
				l.pendingMerges = append(l.pendingMerges, file)
				l.mu.Unlock()
			default:
				return
			}
			l.mu.Lock()
			l.mids = append(l.mids, mids...)
			l.mu.Unlock()
		case 1:
			files, _ := l.q.Deferrals()
			if len(files) == 0 {
				break
			}
			args := []string{"merge", l.q.Site, "--remove"}
			for _, f := range files {
				args = append(args, f.Path)
			}
			record("merge (deferrals)", runNxmit(t, time.Minute, l.env, args...))
		default:
			files, _ := l.q.Backlogs()
			if len(files) < 2 {
				break
			}
			args := []string{"merge", l.q.Site, "--remove"}
			for _, f := range files {
				args = append(args, f.Path)
			}
			record("merge (backlogs)", runNxmit(t, time.Minute, l.env, args...))
		}
		sleep(r, time.Second)
	})
	wg.Wait()

	// Drain: what is left in the feed, the backlogs and the deferrals goes out.
	for _, f := range l.pendingMerges {
		if err := merge(t, l.env, l.q, true, false, f); err != nil {
			t.Errorf("merge %s: %v", f, err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	drainPasses := 0
	for pass := 1_000_000; ; pass++ {
		l.rotate()
		if err := requeue(t, l.env, l.q); err != nil {
			t.Fatal(err)
		}
		snap := takeSnapshot(t, l.q, true)
		if snap.Lines == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty after draining: %d lines in %v", snap.Lines, snap.Files)
		}
		l.proxy.SetPass(pass)
		r := runNxmit(t, 5*time.Minute, l.env, l.sendArgs()...)
		record("send (drain)", r)
		drainPasses++
		if r.Stats.Deferred > 0 || r.Stats.Offered == 0 {
			time.Sleep(time.Second)
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
	l.checkReceiverHasAll()
	checkNoLeftovers(t, l.q)
	refused := l.proxy.Refusals()
	if len(refused) > 0 {
		var ex []string
		for mid, n := range refused {
			ex = append(ex, fmt.Sprintf("%s ×%d %v", mid, n, l.proxy.Mid(mid).history))
		}
		sort.Strings(ex)
		t.Errorf("%d articles were offered again after the receiver had them (a line lost its blank or was queued twice), e.g. %v",
			len(refused), ex[:min(3, len(ex))])
	}
	tot := l.proxy.Total()
	var st []string
	for _, c := range sortedKeys(statuses) {
		st = append(st, fmt.Sprintf("%s %v", c, statuses[c]))
	}
	report(t, "%s of concurrent inject, rotate, 2×send, requeue and merge: %d articles fed by innd + %d merged from "+
		"old feed files; exit statuses %s; %d drain passes; receiver has all %d; offers %d, accepted %d, "+
		"deferred by the proxy %d and by innd %d, offered after the receiver had it %d (no duplicate line); "+
		"no temporary file left", d, injected, merged, strings.Join(st, ", "), drainPasses, len(l.mids), tot.Offers,
		tot.Accepted, tot.ProxyDeferred, tot.InndDeferred, tot.Refused+tot.Rejected)
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// injectTo stores n generated articles in the sender. With hidden, their Path already
// names the site, so innd does not feed them to it: they reach the queue only through a
// merge of an "old feed file". The returned ids are added to l.mids unless hidden (the
// caller adds those once they are queued).
func (l *soakLab) injectTo(n int, seed int64, hidden bool) []string {
	arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: seed})
	var mids []string
	for i := range arts {
		if hidden {
			arts[i].Body = bytes.Replace(arts[i].Body, []byte("Path: "), []byte("Path: "+l.q.Site+"!"), 1)
		}
		mids = append(mids, arts[i].MessageID)
	}
	if err := l.sender.Inject(arts); err != nil {
		l.t.Errorf("inject: %v", err)
		return nil
	}
	if !hidden {
		l.mu.Lock()
		l.mids = append(l.mids, mids...)
		l.mu.Unlock()
	}
	return mids
}

// feedLines returns "token message-id" lines for stored articles, as an old feed file.
func (l *soakLab) feedLines(mids []string) []byte {
	cmd := l.sender.Command("grephistory", "-s")
	cmd.Stdin = strings.NewReader(strings.Join(mids, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		l.t.Errorf("grephistory -s: %v", err)
		return nil
	}
	toks := strings.Fields(string(out))
	if len(toks) != len(mids) {
		l.t.Errorf("grephistory -s gave %d tokens for %d ids", len(toks), len(mids))
		return nil
	}
	var b bytes.Buffer
	for i, tok := range toks {
		fmt.Fprintf(&b, "%s %s\n", tok, mids[i])
	}
	return b.Bytes()
}
