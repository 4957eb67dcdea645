package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/internal/innlab"
	"nxmit/logging/syslogtest"
	"nxmit/nntp/nntptest"
)

// TestCheck runs "nxmit check" on a real INN: a site with the right newsfeeds entry and
// a reachable peer (a real innd), one whose entry writes the wrong fields, one with no
// entry, and with --connect a peer that wants credentials nxmit does not have. Each is
// one line; the exit status is the worst finding's.
func TestCheck(t *testing.T) {
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{Feeds: []string{"wrongw:*:Tf,Wn:"}}, innlab.Options{})
	l := &opLab{t: t, bin: nxmitBinary(t), sender: sender, receiver: receiver, syslog: syslogtest.Listen(t, ""), seed: time.Now().UnixNano() % 1e9}
	authPeer := nntptest.NewServer(t, nntptest.Script{User: "u", Pass: "right"})
	_, authPort, _ := strings.Cut(authPeer.Addr, ":")
	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %d\n}\n", receiver.Port))

	out, stderr, status := l.nxmit("check", "--connect")
	t.Logf("check --connect:\n%s%s", out, stderr)
	if status != 0 {
		t.Errorf("good setup: status %d", status)
	}
	for _, want := range []string{
		"ok: " + filepath.Join(sender.PathEtc, "newsfeeds") + ":",
		"site peer: Tf,Wnm\n",
		fmt.Sprintf("ok: site peer: peer 127.0.0.1:%d: greeting 200, streaming\n", receiver.Port),
		"ok: outgoing directory " + sender.Outgoing + ": writable\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q", want)
		}
	}

	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %[1]d\n}\nsite wrongw {\n host: 127.0.0.1\n port: %[1]d\n}\nsite nofeed {\n host: 127.0.0.1\n port: %[1]d\n}\nsite auth {\n host: 127.0.0.1\n port: %[2]s\n user: u\n password: wrong\n}\n", receiver.Port, authPort))
	out, _, status = l.nxmit("check", "--connect", "wrongw", "nofeed", "auth")
	t.Logf("check --connect (bad):\n%s", out)
	if status != 1 {
		t.Errorf("bad setup: status %d, want 1", status)
	}
	nf := filepath.Join(sender.PathEtc, "newsfeeds")
	for _, want := range []string{
		"error: " + nf + ":",
		"site wrongw: flags Tf,Wn: writes Wn, nxmit reads token and Message-ID lines (want Tf,Wnm)\n",
		"error: " + nf + ": site nofeed: no entry; innd writes no feed file for it",
		"error: site auth: peer 127.0.0.1:" + authPort + ": AUTHINFO USER u: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q", want)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "ok: ") && !strings.HasPrefix(line, "warning: ") && !strings.HasPrefix(line, "error: ") {
			t.Errorf("line without a level: %q", line)
		}
	}

	// A peer that is down is temporary (75), not a setup error.
	l.writeConfig("site peer {\n host: 127.0.0.1\n port: 1\n}\n")
	out, _, status = l.nxmit("check", "--connect")
	if status != 75 || !strings.Contains(out, "error: site peer: peer 127.0.0.1:1: ") {
		t.Errorf("peer down: status %d, out:\n%s", status, out)
	}

	// An outgoing directory the user cannot write to is an error.
	ro := filepath.Join(filepath.Dir(sender.Outgoing), "readonly")
	os.Mkdir(ro, 0o555)
	out, _, status = l.nxmit("--outgoing", ro, "check")
	if status != 1 || !strings.Contains(out, "error: outgoing directory: "+ro+": not writable by this user") {
		t.Errorf("read-only outgoing: status %d, out:\n%s", status, out)
	}
}

// TestRunDryRun: "run --dry-run" on a real INN says what would be rotated, requeued
// and sent, and changes nothing: the outgoing directory is the same file for file
// (names, sizes, times), no lock file is created, the peer receives nothing.
func TestRunDryRun(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %d\n rotate-min-size: 0\n rotate-max-age: 0\n}\n", l.receiver.Port))
	l.inject(30)
	if _, stderr, status := l.nxmit("rotate", "peer"); status != 0 {
		t.Fatalf("rotate: %d %s", status, stderr)
	}
	mids := l.inject(20) // a backlog, and a feed file due for rotation
	// innd buffers feed-file writes: flush them now, or innd's late write would be
	// taken for a change made by the dry run.
	if _, err := l.sender.Ctlinnd("flush", "peer"); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		var b strings.Builder
		entries, _ := os.ReadDir(l.sender.Outgoing)
		for _, e := range entries {
			fi, _ := e.Info()
			fmt.Fprintf(&b, "%s %d %v\n", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
		return b.String()
	}
	before := snapshot()
	out, stderr, status := l.nxmit("run", "--dry-run")
	t.Logf("run --dry-run:\n%s%s", out, stderr)
	if status != 0 || stderr != "" {
		t.Errorf("status %d, stderr %q", status, stderr)
	}
	for _, want := range []string{
		"run peer: would rotate the feed file (",
		"; rotates when not empty)",
		fmt.Sprintf("run peer: would send 1 backlog(s), "),
		fmt.Sprintf(", and the rotated feed file, to 127.0.0.1:%d with up to 4 connection(s)\n", l.receiver.Port),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q", want)
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("the dry run changed the outgoing directory:\nbefore:\n%safter:\n%s", before, after)
	}
	if strings.Contains(before, ".lock") {
		t.Logf("(lock files from the earlier rotate: %s)", before)
	}
	if m := l.missing(mids); len(m) != len(mids) {
		t.Errorf("the peer received %d articles from a dry run", len(mids)-len(m))
	}
	// With the thresholds not reached, it says why nothing would rotate.
	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %d\n rotate-min-size: 10m\n rotate-max-age: 1h\n}\n", l.receiver.Port))
	out, _, _ = l.nxmit("run", "-n", "--no-send")
	if !strings.Contains(out, "run peer: would not rotate the feed file (") || !strings.Contains(out, "; rotates at 10M or 1h)") {
		t.Errorf("below the thresholds:\n%s", out)
	}
}
