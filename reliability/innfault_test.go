package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nxmit/internal/innlab"
)

// waitFor polls cond every few milliseconds until it holds or limit passes.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkAccountedINN fails the test unless every article is in the receiver's history or
// still queued for the site.
func (l *soakLab) checkAccounted(what string) (atReceiver, queued int) {
	l.t.Helper()
	missing, err := l.receiver.Missing(l.mids)
	if err != nil {
		l.t.Fatal(err)
	}
	snap := takeSnapshot(l.t, l.q, false)
	lost := 0
	for _, mid := range missing {
		if snap.Count[mid] == 0 {
			lost++
			if lost <= 5 {
				l.t.Errorf("%s: LOST %s: neither at the receiver nor queued", what, mid)
			}
		}
	}
	if lost > 0 {
		l.t.Errorf("%s: %d articles lost", what, lost)
	}
	return len(l.mids) - len(missing), snap.Lines
}

// TestINNThrottledDuringSend throttles the receiving innd (ctlinnd throttle) in the
// middle of a send: innd resets the connections and greets new ones with 400. The pass
// must end as temporary with every unanswered article still queued; once innd runs again
// the next pass delivers them.
func TestINNThrottledDuringSend(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	const n = 8000
	l := newSoakLab(t, n, 7001, 0, innlab.Options{})
	l.proxy.SetPass(1)
	p := startNxmit(t, l.env, l.sendArgs()...)
	waitFor(t, time.Minute, "500 articles accepted", func() bool { return l.proxy.Pass(1).Accepted >= 500 || p.exited() })
	if p.exited() {
		t.Fatalf("the pass ended before the fault: %s", p.wait(time.Second))
	}
	if out, err := l.receiver.Ctlinnd("throttle", "reliability test"); err != nil {
		t.Fatalf("ctlinnd throttle: %v %s", err, out)
	}
	r := p.wait(2 * time.Minute)
	if r.Status != 75 {
		t.Errorf("send while innd is throttled: exit %d, want 75\n%s", r.Status, r)
	}
	if !strings.Contains(r.Stderr, "400") || !strings.Contains(r.Stderr, "reliability test") {
		t.Errorf("stderr does not name innd's 400 reason:\n%s", r.Stderr)
	}
	at, queued := l.checkAccounted("after the throttled pass")
	if out, err := l.receiver.Ctlinnd("go", "reliability test"); err != nil {
		t.Fatalf("ctlinnd go: %v %s", err, out)
	}
	l.drain(time.Minute, 2)
	l.checkReceiverHasAll()
	checkNoLeftovers(t, l.q)
	again := l.proxy.Total().Refused
	report(t, "%d articles; throttled after %d accepted: exit %d, %q; %d at the receiver + %d queued = all; "+
		"after ctlinnd go: receiver has all %d; re-offered articles innd had taken but whose 239 never arrived: %d",
		n, l.proxy.Pass(1).Accepted, r.Status, lastNxmitLine(r.Stderr), at, queued, n, again)
}

// TestINNPausedDuringSend pauses the receiving innd (ctlinnd pause) in the middle of a
// send: innd keeps its connections but defers every CHECK (431) and closes on TAKETHIS
// (400). The deferred articles go to a deferral file, nothing is lost, and after
// ctlinnd go, requeue and send deliver them.
func TestINNPausedDuringSend(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	const n = 8000
	l := newSoakLab(t, n, 7002, 0, innlab.Options{})
	l.proxy.SetPass(1)
	p := startNxmit(t, l.env, l.sendArgs()...)
	waitFor(t, time.Minute, "500 articles accepted", func() bool { return l.proxy.Pass(1).Accepted >= 500 || p.exited() })
	if p.exited() {
		t.Fatalf("the pass ended before the fault: %s", p.wait(time.Second))
	}
	if out, err := l.receiver.Ctlinnd("pause", "reliability test"); err != nil {
		t.Fatalf("ctlinnd pause: %v %s", err, out)
	}
	r := p.wait(2 * time.Minute)
	if r.Status != 0 && r.Status != 75 {
		t.Errorf("send while innd is paused: exit %d, want 0 or 75\n%s", r.Status, r)
	}
	at, queued := l.checkAccounted("after the paused pass")
	if r.Stats.Deferred == 0 {
		t.Errorf("nothing deferred while innd was paused: %s", r.Stats)
	}
	defs, _ := l.q.Deferrals()
	if len(defs) == 0 && r.Stats.Deferred > 0 {
		t.Errorf("deferred %d but no deferral file", r.Stats.Deferred)
	}
	if out, err := l.receiver.Ctlinnd("go", "reliability test"); err != nil {
		t.Fatalf("ctlinnd go: %v %s", err, out)
	}
	l.drain(time.Minute, 2)
	l.checkReceiverHasAll()
	checkNoLeftovers(t, l.q)
	report(t, "%d articles; paused after %d accepted: exit %d, %s, %q; %d at the receiver + %d queued (%d deferral "+
		"files) = all; after ctlinnd go, requeue and send: receiver has all %d",
		n, l.proxy.Pass(1).Accepted, r.Status, r.Stats, lastNxmitLine(r.Stderr), at, queued, len(defs), n)
}

// TestINNKilledDuringSend kills the receiving innd (SIGKILL) in the middle of a send. The
// pass must end as temporary, with what innd did not acknowledge still queued; after innd
// is restarted on its spool the next passes deliver the rest. Articles innd acknowledged
// (239) and then lost in its own crash are counted apart: the sender cannot know of them.
func TestINNKilledDuringSend(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	const n = 8000
	sender := innlab.StartT(t, innlab.Options{Feeds: []string{innlab.PeerFeed}})
	dir, err := innlab.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := innlab.Start(dir, innlab.Options{})
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		receiver.Stop()
		os.RemoveAll(dir)
	})
	l := &soakLab{t: t, sender: sender, receiver: receiver,
		env: []string{"INNCONF=" + sender.InnConf}, logFile: filepath.Join(t.TempDir(), "nxmit.log")}
	l.q.Dir, l.q.Site = sender.Outgoing, "peer"
	l.inject(n, 7003)
	l.rotate()
	l.proxy = startProxy(t, receiver.Addr, 0)

	l.proxy.SetPass(1)
	p := startNxmit(t, l.env, l.sendArgs()...)
	waitFor(t, time.Minute, "500 articles accepted", func() bool { return l.proxy.Pass(1).Accepted >= 500 || p.exited() })
	if p.exited() {
		t.Fatalf("the pass ended before the fault: %s", p.wait(time.Second))
	}
	killINN(t, receiver)
	r := p.wait(2 * time.Minute)
	if r.Status != 75 {
		t.Errorf("send when innd died: exit %d, want 75\n%s", r.Status, r)
	}
	acked := 0
	for _, mid := range l.mids {
		if l.proxy.Mid(mid).final == 239 {
			acked++
		}
	}
	receiver.Stop() // reports the death; the instance is started again below
	restarted, err := innlab.Start(dir, innlab.Options{})
	if err != nil {
		t.Fatalf("restart innd: %v", err)
	}
	receiver = restarted
	l.receiver = restarted
	l.proxy.SetUpstream(restarted.Addr)

	// What innd lost itself: acknowledged, yet not in its history after the restart.
	missing, err := restarted.Missing(l.mids)
	if err != nil {
		t.Fatal(err)
	}
	snap := takeSnapshot(t, l.q, false)
	var inndLost []string
	for _, mid := range missing {
		if snap.Count[mid] > 0 {
			continue
		}
		if l.proxy.Mid(mid).final == 239 {
			inndLost = append(inndLost, mid)
			continue
		}
		t.Errorf("LOST %s: not acknowledged by innd, not at the receiver, not queued", mid)
	}
	queued := snap.Lines
	l.drain(time.Minute, 2)
	missing, err = restarted.Missing(l.mids)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != len(inndLost) {
		t.Errorf("after the restart and drain %d articles are missing at the receiver; innd lost %d it had acknowledged",
			len(missing), len(inndLost))
	}
	checkNoLeftovers(t, l.q)
	report(t, "%d articles; innd killed after %d acknowledged: exit %d, %q; %d queued; after the restart the "+
		"receiver has all but %d that innd had acknowledged (239) and lost in its own crash",
		n, acked, r.Status, lastNxmitLine(r.Stderr), queued, len(inndLost))
}

// killINN kills the instance's innd with SIGKILL, after checking that the pid in its
// innd.pid runs with this instance's inn.conf.
func killINN(t testing.TB, inst *innlab.Instance) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(inst.PathRun, "innd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || !strings.Contains(string(env), "INNCONF="+inst.InnConf+"\x00") {
		t.Fatalf("pid %d is not this instance's innd (%v)", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "innd to die", func() bool { return syscall.Kill(pid, 0) != nil })
}

// TestCancelledBetweenRotateAndSend cancels articles after rotation put them in a
// backlog: the send pass counts them missing, finishes their lines, sends the rest, and
// says so in its statistics.
func TestCancelledBetweenRotateAndSend(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	const n = 1000
	l := newSoakLab(t, n, 7004, 0, innlab.Options{})
	var cancelled []string
	for i := 100; i < n; i += 100 {
		mid := l.mids[i]
		if out, err := l.sender.Ctlinnd("cancel", mid); err != nil {
			t.Fatalf("ctlinnd cancel %s: %v %s", mid, err, out)
		}
		cancelled = append(cancelled, mid)
	}
	// And two removed through the storage API, as expire would.
	for _, i := range []int{150, 250} {
		mid := l.mids[i]
		tok, err := l.sender.Command("grephistory", mid).Output()
		if err != nil {
			t.Fatalf("grephistory %s: %v", mid, err)
		}
		if out, err := l.sender.Command("sm", "-d", strings.TrimSpace(string(tok))).CombinedOutput(); err != nil {
			t.Fatalf("sm -d %s: %v %s", tok, err, out)
		}
		cancelled = append(cancelled, mid)
	}
	l.proxy.SetPass(1)
	r := runNxmit(t, 2*time.Minute, l.env, l.sendArgs()...)
	if r.Status != 0 {
		t.Errorf("send: %s", r)
	}
	if r.Stats.Missing != int64(len(cancelled)) || r.Stats.Accepted != int64(n-len(cancelled)) {
		t.Errorf("stats %s, want %d accepted and %d missing", r.Stats, n-len(cancelled), len(cancelled))
	}
	missing, err := l.receiver.Missing(l.mids)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(missing, " ") != strings.Join(sortedCopy(cancelled), " ") && len(missing) != len(cancelled) {
		t.Errorf("the receiver lacks %v, want exactly the cancelled %v", missing, cancelled)
	}
	if s := takeSnapshot(t, l.q, false); s.Lines != 0 {
		t.Errorf("queue not empty: %v", s.Files)
	}
	checkNoLeftovers(t, l.q)
	report(t, "%d articles, %d cancelled after rotate (%d by ctlinnd cancel, 2 by sm -d): exit %d, %s; "+
		"the receiver has the %d others; queue empty", n, len(cancelled), len(cancelled)-2, r.Status, r.Stats,
		n-len(cancelled))
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// lastNxmitLine returns the last "nxmit: " line of stderr: the error the pass ended with.
func lastNxmitLine(stderr string) string {
	last := ""
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "nxmit: ") {
			last = l
		}
	}
	return last
}
