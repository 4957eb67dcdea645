package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/nntp/nntptest"
	"nxmit/spoolfmt"
)

// TestPeerFaults runs the nxmit binary against a scripted peer that misbehaves in each
// of the ways a real one does, and checks, pass after pass, that every article ends up
// at the peer byte for byte or still queued, that the exit status says what happened,
// and that the failure is named on stderr. When the faulty peer keeps failing, a healthy
// one takes over (the peer was repaired), and the two together must hold every article.
func TestPeerFaults(t *testing.T) {
	tests := []struct {
		name   string
		script nntptest.Script
		n      int
		size   int
		flags  []string
		// first is the exit status of the first pass; msg a piece of its stderr.
		first int
		msg   string
		// untouched: the first pass must leave the queue exactly as it was.
		untouched bool
		// healthy: after the first pass the peer is replaced by a healthy one (a
		// stalled or silent peer would only fail again, slowly).
		healthy bool
	}{
		// Faults past the first window of commands (128), on 2 connections: each
		// connection makes progress before it fails, and the pass ends with everything
		// delivered over reconnected connections.
		// nntptest flushes its replies only when its reads would block, and a cut drops
		// what is unflushed: a window of 32 makes it flush as it goes, as a real peer
		// does, so that each connection gets answers before it is cut.
		{name: "disconnect mid-TAKETHIS", script: nntptest.Script{CutArticleAt: 100}, n: 500,
			flags: []string{"-c", "2", "--check", "never", "-w", "32"}, first: 0, msg: "connection"},
		// More connection lives than the reconnections allowed in a row: each life
		// settles articles, so the pass goes on.
		{name: "400 mid-stream", script: nntptest.Script{FailAt: 200}, n: 800,
			flags: []string{"-c", "1"}, first: 0, msg: "400"},
		{name: "400 mid-IHAVE", script: nntptest.Script{FailAt: 25, NoStream: true}, n: 200,
			flags: []string{"--no-stream"}, first: 0, msg: "400"},
		{name: "reply naming the wrong message-id", script: nntptest.Script{WrongIDAt: 200}, n: 500,
			flags: []string{"-c", "2"}, first: 0, msg: "wrong-id@nntptest"},
		{name: "garbage reply", script: nntptest.Script{GarbageAt: 200}, n: 500,
			flags: []string{"-c", "2"}, first: 0, msg: "this is not NNTP"},
		// A peer that fails every connection within its first window of CHECKs: each
		// reconnection starts from half the window, until TAKETHIS gets in before the
		// 40th command; from then on every connection settles articles, so the pass
		// goes on reconnecting and delivers everything.
		{name: "400 at every connection's 40th command", script: nntptest.Script{FailAt: 40}, n: 300,
			first: 0, msg: "400"},
		// A peer that fails every connection at its first offer can never be fed: each
		// pass ends temporary, after its reconnections, with everything queued.
		{name: "400 at every connection's first offer", script: nntptest.Script{FailAt: 1}, n: 300,
			first: 75, msg: "stays queued", healthy: true},
		{name: "stall longer than the reply timeout", script: nntptest.Script{StallAt: 50}, n: 300,
			flags: []string{"--reply-timeout", "1s"}, first: 75, msg: "stays queued", healthy: true},
		{name: "peer stops reading (writes block)", script: nntptest.Script{StopReadingAt: 20}, n: 200, size: 64 << 10,
			flags: []string{"--reply-timeout", "1s", "-c", "2"}, first: 75, msg: "stays queued", healthy: true},
		{name: "greeting 400 (throttled)", script: nntptest.Script{Greeting: 400}, n: 50, first: 75,
			msg: "connect failed", untouched: true, healthy: true},
		{name: "greeting 502 (not a known peer)", script: nntptest.Script{Greeting: 502}, n: 50, first: 1,
			msg: "502", untouched: true, healthy: true},
		{name: "slow reader (TCP back-pressure)", script: nntptest.Script{SlowRead: time.Millisecond}, n: 60,
			size: 32 << 10, first: 0, msg: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			size := tt.size
			if size == 0 {
				size = 2000
			}
			s := newFileSite(t, tt.n, size, "")
			before := takeSnapshot(t, s.Q, false)
			tt.script.Dedupe = true
			srv := nntptest.NewServer(t, tt.script)
			servers := []*nntptest.Server{srv}

			var passes []string
			var total passStats
			for pass := 1; ; pass++ {
				r := runNxmit(t, 2*time.Minute, s.env(), s.sendArgs(srv.Addr, tt.flags...)...)
				passes = append(passes, fmt.Sprintf("pass %d: exit %d, %s", pass, r.Status, r.Stats))
				total.Accepted += r.Stats.Accepted
				total.Refused += r.Stats.Refused
				total.Rejected += r.Stats.Rejected
				total.Missing += r.Stats.Missing
				total.Deferred += r.Stats.Deferred
				snap := takeSnapshot(t, s.Q, false)
				if pass == 1 {
					if r.Status != tt.first {
						t.Errorf("first pass: exit status %d, want %d\n%s", r.Status, tt.first, r)
					}
					if !strings.Contains(r.Stderr, tt.msg) {
						t.Errorf("first pass: stderr does not mention %q:\n%s", tt.msg, r.Stderr)
					}
					if tt.untouched && (snap.Lines != before.Lines || !sameFiles(snap.Files, before.Files)) {
						t.Errorf("queue changed by a pass that could not connect: %v → %v", before.Files, snap.Files)
					}
					if r.Status != 0 {
						// What a failed pass left queued plus what the peer has is everything.
						checkAccounted(t, s, servers, snap)
					}
					passes[0] += ", stderr: " + firstLine(r.Stderr)
				}
				if len(snap.Bad) > 0 || len(snap.Partial) > 0 {
					t.Fatalf("queue damaged: %v %v", snap.Bad, snap.Partial)
				}
				if d := snap.Dups(); len(d) > 0 {
					t.Errorf("queued twice: %v", d)
				}
				if snap.Lines == 0 {
					break
				}
				if pass >= 6 {
					t.Fatalf("still %d lines queued after %d passes: %s", snap.Lines, pass, strings.Join(passes, "; "))
				}
				if tt.healthy && len(servers) == 1 {
					srv = nntptest.NewServer(t, nntptest.Script{Dedupe: true})
					servers = append(servers, srv)
				}
			}
			checkAccounted(t, s, servers, takeSnapshot(t, s.Q, false))
			checkNoLeftovers(t, s.Q)
			for _, p := range passes {
				t.Log(p)
			}
			report(t, "%d articles; %s; peer(s) hold all %d, byte for byte; queue empty",
				tt.n, strings.Join(passes, "; "), tt.n)
		})
	}
}

// checkAccounted fails the test unless every article of the site is at one of the
// servers (byte for byte as the spool has it) or still queued.
func checkAccounted(t *testing.T, s *fileSite, servers []*nntptest.Server, snap snapshot) {
	t.Helper()
	conf, err := spoolfmt.LoadInnConf(s.InnConf)
	if err != nil {
		t.Fatal(err)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	lost := 0
	for i, mid := range s.Mids {
		var got []byte
		for _, srv := range servers {
			if a, ok := srv.Article(mid); ok {
				got = a
			}
		}
		if got == nil {
			if snap.Count[mid] == 0 {
				lost++
				if lost < 5 {
					t.Errorf("lost: %s is neither at the peer nor queued", mid)
				}
			}
			continue
		}
		want, err := store.RetrieveFile(s.Paths[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: the peer received %d bytes that differ from the %d of the article", mid, len(got), len(want))
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d articles lost", lost, len(s.Mids))
	}
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "nxmit") {
			return l
		}
	}
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// sameFiles compares two lists of queue file names, a site's bookkeeping left out (locks,
// totals, the last-run record, the deferral tally: passes and requeues update them).
func sameFiles(a, b []string) bool {
	var x, y []string
	for _, n := range a {
		if !batch.IsBookkeeping(n) {
			x = append(x, n)
		}
	}
	for _, n := range b {
		if !batch.IsBookkeeping(n) {
			y = append(y, n)
		}
	}
	return strings.Join(x, " ") == strings.Join(y, " ")
}
