package commands

import (
	"fmt"
	"regexp"
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
	sender := innlab.StartT(t, innlab.Options{Feeds: []string{innlab.PeerFeed}})
	bin := nxmitBinary(t)
	const n = 300
	if err := sender.Inject(innlab.Generate(innlab.GenOptions{Count: n, Seed: time.Now().UnixNano() % 1e9})); err != nil {
		t.Fatal(err)
	}
	if out, err := sender.Command(bin, "rotate", "--force", "peer").CombinedOutput(); err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	// Four commands in flight, each answered after 40 ms: about 100 articles a second.
	peer := nntptest.NewServer(t, nntptest.Script{Delay: 40 * time.Millisecond})
	_, port, _ := strings.Cut(peer.Addr, ":")

	cmd := fmt.Sprintf("INNCONF=%s %s send peer --host 127.0.0.1 --port %s --connections 1 --window 4 --check never; echo EXIT=$?; sleep 60",
		sender.InnConf, bin, port)
	term := ttytest.Start(t, 100, 10, cmd)
	screens := term.Watch(100*time.Millisecond, 60*time.Second, func(s string) bool { return strings.Contains(s, "EXIT=") })
	last := screens[len(screens)-1]
	if !strings.Contains(last, "EXIT=0") {
		t.Fatalf("send did not finish well; last screen:\n%s", last)
	}

	// While it ran: "send peer  45% |█████     | (135/300, 98 art/s) [1s:1s]".
	running := regexp.MustCompile(`send peer\s+(\d+)% \|[^|]*\| \((\d+)/(\d+), \d+ art/s\) \[\d+s:\d+s\]`)
	var partial int
	for _, s := range screens {
		if m := running.FindStringSubmatch(s); m != nil && m[1] != "100" && m[1] != "0" {
			partial++
		}
	}
	if partial < 2 {
		t.Errorf("saw %d screens with a bar in progress (want the bar moving); screens:\n%s", partial, strings.Join(screens, "\n----\n"))
	}
	// At the end: the full count, and nothing but the bar (no statistics without -v).
	if !regexp.MustCompile(`send peer\s+100% \|[^|]*\| \(300/300, \d+ art/s\)`).MatchString(last) {
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
