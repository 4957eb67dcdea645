package commands

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"nxmit/internal/innlab"
	"nxmit/internal/ttytest"
	"nxmit/nntp/nntptest"
)

// TestProgressBarInTerminal runs "nxmit send" in a real terminal (tmux) against a slow
// peer and reads the screen as a person would: a bar with the count, the rate and the
// ETA while it runs, 100% at the end, nothing else.
func TestProgressBarInTerminal(t *testing.T) {
	ttytest.Require(t)
	const n = 500
	sender, bin, peer, port := slowPeerLab(t, n)

	cmd := fmt.Sprintf("INNCONF=%s %s send peer --host 127.0.0.1 --port %s --connections 1 --max-site-connections 1 --window 4 --check never; echo EXIT=$?; sleep 60",
		sender.InnConf, bin, port)
	term := ttytest.Start(t, 100, 10, cmd)
	screens := term.Watch(100*time.Millisecond, 60*time.Second, func(s string) bool { return strings.Contains(s, "EXIT=") })
	last := screens[len(screens)-1]
	if !strings.Contains(last, "EXIT=0") {
		t.Fatalf("send did not finish well; last screen:\n%s", last)
	}

	// While it ran: "send peer  45% |█████     | (135/300, 98 art/s) [1s]", then, after
	// etaAfter, with the ETA: "[4s:2s]".
	running := regexp.MustCompile(`send peer\s+(\d+)% \|[^|]*\| \((\d+)/(\d+), \d+ art/s\) \[(\d+)s(:\d+s)?\]`)
	var partial, withETA int
	for _, s := range screens {
		m := running.FindStringSubmatch(s)
		if m == nil || m[1] == "100" || m[1] == "0" {
			continue
		}
		partial++
		elapsed, _ := strconv.Atoi(m[4])
		switch {
		case m[5] != "":
			withETA++
			if elapsed < int(etaAfter/time.Second) {
				t.Errorf("an ETA after %ds, before %v: %s", elapsed, etaAfter, m[0])
			}
		case elapsed > int(etaAfter/time.Second)+1:
			t.Errorf("no ETA after %ds: %s", elapsed, m[0])
		}
	}
	if partial < 2 || withETA < 1 {
		t.Errorf("saw %d screens with a bar in progress, %d with an ETA (want the bar moving, and an ETA); screens:\n%s", partial, withETA, strings.Join(screens, "\n----\n"))
	}
	// At the end: the full count, and nothing but the bar (no statistics without -v).
	if !regexp.MustCompile(`send peer\s+100% \|[^|]*\| \(500/500, \d+ art/s\)`).MatchString(last) {
		t.Errorf("final screen lacks the finished bar:\n%s", last)
	}
	if strings.Contains(last, "stats offered") || strings.Contains(last, "nxmit:") {
		t.Errorf("final screen has more than the bar:\n%s", last)
	}
	if got := len(peer.Articles()); got != n {
		t.Errorf("peer received %d of %d articles", got, n)
	}
	t.Logf("last screen:\n%s", last)
}

// TestProgressBarCtrlC: Ctrl-C in the terminal stops the send, and the bar stays as it
// was when it stopped (not 100%, not erased), with the shell's next output below it;
// the articles not sent stay queued.
func TestProgressBarCtrlC(t *testing.T) {
	ttytest.Require(t)
	const n = 400
	sender, bin, peer, port := slowPeerLab(t, n)
	// The shell ignores SIGINT as an interactive shell does while a command runs; nxmit
	// takes it (signal.Notify undoes the inherited SIG_IGN).
	cmd := fmt.Sprintf("trap '' INT; INNCONF=%s %s send peer --host 127.0.0.1 --port %s --connections 1 --max-site-connections 1 --window 4 --check never; echo EXIT=$?; sleep 60",
		sender.InnConf, bin, port)
	term := ttytest.Start(t, 100, 10, cmd)
	bar := regexp.MustCompile(`send peer\s+(\d+)% \|[^|]*\| \((\d+)/(\d+), \d+ art/s\)`)
	before := term.Watch(100*time.Millisecond, 30*time.Second, func(s string) bool {
		m := bar.FindStringSubmatch(s)
		return m != nil && len(m[2]) == 3 && m[2] >= "100"
	})
	if last := before[len(before)-1]; !bar.MatchString(last) || strings.Contains(last, "EXIT=") {
		t.Fatalf("no bar in progress to interrupt:\n%s", strings.Join(before, "\n----\n"))
	}
	term.SendKeys("C-c")
	screens := term.Watch(100*time.Millisecond, 30*time.Second, func(s string) bool { return strings.Contains(s, "EXIT=") })
	last := screens[len(screens)-1]
	t.Logf("last screen:\n%s", last)
	m := bar.FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("the bar is gone after Ctrl-C:\n%s", last)
	}
	sent, _ := strconv.Atoi(m[2])
	if m[1] == "100" || sent >= n || sent < 100 {
		t.Errorf("the bar after Ctrl-C says %s%% (%d/%s), want where it stopped", m[1], sent, m[3])
	}
	// The bar's line is whole, and the shell's output comes on a line of its own.
	if !regexp.MustCompile(`(?m)^EXIT=\d+$`).MatchString(last) {
		t.Errorf("EXIT= is not on its own line:\n%s", last)
	}
	if got := len(peer.Articles()); got < sent || got >= n {
		t.Errorf("peer received %d articles; the bar says %d of %d", got, sent, n)
	}
}

// TestRunProgressInTerminal: "nxmit run" in a terminal shows a line per site, both
// moving while the sites send in parallel, and a last line per site of what was done.
func TestRunProgressInTerminal(t *testing.T) {
	ttytest.Require(t)
	feeds := []string{"a:*,!junk,!control,!control.*:Tf,Wnm:", "b:*,!junk,!control,!control.*:Tf,Wnm:"}
	sender := innlab.StartT(t, innlab.Options{Feeds: feeds})
	bin := nxmitBinary(t)
	const n = 300
	if err := sender.Inject(innlab.Generate(innlab.GenOptions{Count: n, Seed: time.Now().UnixNano() % 1e9})); err != nil {
		t.Fatal(err)
	}
	peerA := nntptest.NewServer(t, nntptest.Script{Delay: 40 * time.Millisecond})
	peerB := nntptest.NewServer(t, nntptest.Script{Delay: 40 * time.Millisecond})
	conf := "defaults {\n connections: 1\n window: 4\n check: never\n rotate-min-size: 0\n rotate-max-age: 0\n}\n"
	for site, addr := range map[string]string{"a": peerA.Addr, "b": peerB.Addr} {
		host, port, _ := strings.Cut(addr, ":")
		conf += fmt.Sprintf("site %s {\n host: %s\n port: %s\n}\n", site, host, port)
	}
	confPath := sender.PathEtc + "/nxmit.conf"
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("INNCONF=%s %s run; echo EXIT=$?; sleep 60", sender.InnConf, bin)
	term := ttytest.Start(t, 100, 10, cmd)
	screens := term.Watch(100*time.Millisecond, 60*time.Second, func(s string) bool { return strings.Contains(s, "EXIT=") })
	last := screens[len(screens)-1]
	t.Logf("last screen:\n%s", last)
	lineA := regexp.MustCompile(`(?m)^a  sending\s+(\d+)% \((\d+)/\d+, \d+ art/s\)$`)
	lineB := regexp.MustCompile(`(?m)^b  sending\s+(\d+)% \((\d+)/\d+, \d+ art/s\)$`)
	both := 0
	for _, s := range screens {
		if a, b := lineA.FindStringSubmatch(s), lineB.FindStringSubmatch(s); a != nil && b != nil && a[2] != "0" && b[2] != "0" {
			both++
		}
	}
	if both < 2 {
		t.Errorf("saw %d screens with both sites sending; screens:\n%s", both, strings.Join(screens, "\n----\n"))
	}
	for _, site := range []string{"a", "b"} {
		want := fmt.Sprintf("(?m)^%s  sent: %d offered, %d accepted, 0 left queued$", site, n, n)
		if !regexp.MustCompile(want).MatchString(last) {
			t.Errorf("final screen lacks %q", want)
		}
	}
	if !strings.Contains(last, "EXIT=0") {
		t.Errorf("run failed")
	}
	if a, b := len(peerA.Articles()), len(peerB.Articles()); a != n || b != n {
		t.Errorf("peers received %d and %d of %d", a, b, n)
	}
}

// slowPeerLab starts a sending innd with n articles rotated into a backlog for "peer" and a
// scripted peer answering each command 40 ms late (with a window of 4 on one connection,
// about 100 articles a second: slow enough to watch a bar). It returns the sender, the
// nxmit binary, the peer and its port.
func slowPeerLab(t *testing.T, n int) (*innlab.Instance, string, *nntptest.Server, string) {
	t.Helper()
	sender := innlab.StartT(t, innlab.Options{Feeds: []string{innlab.PeerFeed}})
	bin := nxmitBinary(t)
	if err := sender.Inject(innlab.Generate(innlab.GenOptions{Count: n, Seed: time.Now().UnixNano() % 1e9})); err != nil {
		t.Fatal(err)
	}
	if out, err := sender.Command(bin, "rotate", "--force", "peer").CombinedOutput(); err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	peer := nntptest.NewServer(t, nntptest.Script{Delay: 40 * time.Millisecond})
	_, port, _ := strings.Cut(peer.Addr, ":")
	return sender, bin, peer, port
}
