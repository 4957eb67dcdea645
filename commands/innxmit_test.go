package commands

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nxmit/nntp/nntptest"
	"nxmit/xmit"
)

func TestParseInnxmitArgs(t *testing.T) {
	tests := []struct {
		args []string
		want innxmitArgs
		err  string
	}{
		{[]string{"news.example", "site=n"}, innxmitArgs{port: 119, host: "news.example", file: "site=n"}, ""},
		{[]string{"-acdlprsv", "-P", "433", "-T60", "-t", "30", "h", "/abs/f"},
			innxmitArgs{always: true, noCheck: true, debug: true, logRejected: true, purge: true, noRequeue: true, noStream: true, verbose: true,
				port: 433, timeLimit: time.Minute, connectTimeout: 30 * time.Second, host: "h", file: "/abs/f"}, ""},
		{[]string{"-aP119", "h", "f"}, innxmitArgs{always: true, port: 119, host: "h", file: "f"}, ""},
		{[]string{"-H", "h", "f"}, innxmitArgs{headers: true, port: 119, host: "h", file: "f"}, ""},
		{[]string{"--", "-h", "f"}, innxmitArgs{port: 119, host: "-h", file: "f"}, ""},
		{[]string{"-x", "h", "f"}, innxmitArgs{}, "invalid option -- 'x'"},
		{[]string{"-P"}, innxmitArgs{}, "option requires an argument -- 'P'"},
		{[]string{"-P", "0", "h", "f"}, innxmitArgs{}, "invalid port"},
		{[]string{"-t", "soon", "h", "f"}, innxmitArgs{}, "invalid value"},
		{[]string{"h"}, innxmitArgs{}, "need a host and a batch file"},
		{[]string{"h", "f", "g"}, innxmitArgs{}, "need a host and a batch file"},
	}
	for _, tt := range tests {
		got, err := parseInnxmitArgs(tt.args)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v, %v\nwant %+v", tt.args, got, err, tt.want)
		}
	}
}

// writeBatch writes lines as a news-owned batch file in the sender's outgoing directory.
func (l *opLab) writeBatch(name string, lines []string) string {
	l.t.Helper()
	path := filepath.Join(l.sender.Outgoing, name)
	data := strings.Join(lines, "\n")
	if len(lines) > 0 {
		data += "\n"
	}
	if err := os.WriteFile(path, []byte(data), 0o664); err != nil {
		l.t.Fatal(err)
	}
	opChownNews(l.t, path)
	return path
}

func opChownNews(t *testing.T, path string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	os.Chown(path, int(st.Uid), int(st.Gid))
}

func opReadLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// feedLines injects n articles into the sender and returns their feed lines.
func (l *opLab) feedLines(n int) []string {
	l.t.Helper()
	mids := l.inject(n)
	lines, err := l.sender.FeedLines("peer")
	if err != nil {
		l.t.Fatal(err)
	}
	os.Remove(filepath.Join(l.sender.Outgoing, "peer"))
	l.sender.Ctlinnd("flush", "peer")
	if len(lines) < len(mids) {
		l.t.Fatalf("feed has %d lines for %d articles", len(lines), len(mids))
	}
	return lines[len(lines)-len(mids):]
}

// TestInnxmitDropIn runs "nxmit innxmit" (and nxmit under the name innxmit) as innxmit
// is run: on a batch file, against a real innd, checking what it does with the file
// and its exit statuses.
func TestInnxmitDropIn(t *testing.T) {
	l := newOpLab(t)
	port := fmt.Sprint(l.receiver.Port)

	t.Run("all sent: batch removed, exit 0, stats on stdout with -v", func(t *testing.T) {
		lines := l.feedLines(40)
		bad := []string{"", "not a token", "@0102@ <short@token>"}
		path := l.writeBatch("peer=n", append(slices.Clone(lines), bad...))
		stdout, stderr, status := l.nxmit("innxmit", "-v", "-P", port, "127.0.0.1", "peer=n")
		if status != 0 {
			t.Fatalf("status %d, stderr %q", status, stderr)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("batch not removed: %v", err)
		}
		if !strings.HasPrefix(stdout, "127.0.0.1 stats offered 40 accepted 40 refused 0 rejected 0 missing 0 ") ||
			!strings.Contains(stdout, "\n127.0.0.1 times user ") {
			t.Errorf("stdout %q", stdout)
		}
		if m := l.missing(opMids(lines)); len(m) != 0 {
			t.Errorf("receiver lacks %d articles", len(m))
		}
	})

	t.Run("invoked as innxmit", func(t *testing.T) {
		link := filepath.Join(filepath.Dir(l.bin), "innxmit")
		os.Symlink(l.bin, link)
		lines := l.feedLines(5)
		path := l.writeBatch("peer=n", lines)
		cmd := l.sender.Command(link, "-P"+port, "127.0.0.1", path)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("batch not removed: %v", err)
		}
		if m := l.missing(opMids(lines)); len(m) != 0 {
			t.Errorf("receiver lacks %d articles", len(m))
		}
	})

	t.Run("peer unreachable: batch untouched, exit 1", func(t *testing.T) {
		lines := l.feedLines(5)
		path := l.writeBatch("peer=n", lines)
		before, _ := os.ReadFile(path)
		_, stderr, status := l.nxmit("innxmit", "-t", "5", "-P", "1", "127.0.0.1", "peer=n")
		after, _ := os.ReadFile(path)
		if status != 1 || string(before) != string(after) || !strings.Contains(stderr, "innxmit: 127.0.0.1 connect failed") {
			t.Errorf("status %d, stderr %q, batch changed: %v", status, stderr, string(before) != string(after))
		}
		if _, err := os.Stat(path + xmit.DeferSuffix); !os.IsNotExist(err) {
			t.Errorf("deferral file left: %v", err)
		}
		os.Remove(path)
	})

	t.Run("throttled peer: connect failed, exit 1", func(t *testing.T) {
		lines := l.feedLines(3)
		path := l.writeBatch("peer=n", lines)
		if _, err := l.receiver.Ctlinnd("throttle", "testing"); err != nil {
			t.Fatal(err)
		}
		_, stderr, status := l.nxmit("innxmit", "-P", port, "127.0.0.1", "peer=n")
		l.receiver.Ctlinnd("go", "testing")
		if status != 1 || !strings.Contains(stderr, "connect failed") {
			t.Errorf("status %d, stderr %q", status, stderr)
		}
		if got := opReadLines(t, path); !slices.Equal(got, lines) {
			t.Errorf("batch changed: %q", got)
		}
		os.Remove(path)
	})

	t.Run("paused peer defers everything: batch rewritten with them, exit 0", func(t *testing.T) {
		lines := l.feedLines(10)
		path := l.writeBatch("peer=n", lines)
		if _, err := l.receiver.Ctlinnd("pause", "testing"); err != nil {
			t.Fatal(err)
		}
		_, stderr, status := l.nxmit("innxmit", "-P", port, "127.0.0.1", "peer=n")
		l.receiver.Ctlinnd("go", "testing")
		if status != 0 {
			t.Errorf("status %d, stderr %q", status, stderr)
		}
		got := opReadLines(t, path)
		slices.Sort(got)
		want := slices.Clone(lines)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("rewritten batch:\n%q\nwant the deferred lines:\n%q", got, want)
		}
		// The next run sends them.
		if _, stderr, status := l.nxmit("innxmit", "-P", port, "127.0.0.1", "peer=n"); status != 0 {
			t.Fatalf("second run: status %d, stderr %q", status, stderr)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("batch not removed after the second run")
		}
	})

	t.Run("deferrals left by a crash go back into the batch", func(t *testing.T) {
		lines := l.feedLines(6)
		path := l.writeBatch("peer=n", lines[:3])
		// A crashed run had deferred lines 4-6 (and blanked them in the batch); the
		// last one was cut short by the crash.
		leftover := path + xmit.DeferSuffix
		os.WriteFile(leftover, []byte(strings.Join(lines[3:], "\n")+"\n"+lines[5][:20]), 0o664)
		opChownNews(t, leftover)
		if _, stderr, status := l.nxmit("innxmit", "-P", port, "127.0.0.1", "peer=n"); status != 0 {
			t.Fatalf("status %d, stderr %q", status, stderr)
		}
		if m := l.missing(opMids(lines)); len(m) != 0 {
			t.Errorf("receiver lacks %d of the batch's and the leftover's articles", len(m))
		}
		for _, p := range []string{path, leftover} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s left: %v", p, err)
			}
		}
	})

	t.Run("purge keeps what exists", func(t *testing.T) {
		lines := l.feedLines(4)
		// A timehash token of an article never stored.
		gone := "@020000000001000000010000000000000000@ <gone@lab.test>"
		path := l.writeBatch("peer=n", append([]string{gone}, lines...))
		if _, stderr, status := l.nxmit("innxmit", "-p", "127.0.0.1", "peer=n"); status != 0 {
			t.Fatalf("status %d, stderr %q", status, stderr)
		}
		if got := opReadLines(t, path); !slices.Equal(got, lines) {
			t.Errorf("purged batch %q, want %q", got, lines)
		}
		os.Remove(path)
	})

	t.Run("-H is refused", func(t *testing.T) {
		path := l.writeBatch("peer=n", l.feedLines(1))
		if _, stderr, status := l.nxmit("innxmit", "-H", "127.0.0.1", "peer=n"); status != 1 || !strings.Contains(stderr, "not supported") {
			t.Errorf("status %d, stderr %q", status, stderr)
		}
		os.Remove(path)
	})

	t.Run("usage", func(t *testing.T) {
		if _, stderr, status := l.nxmit("innxmit", "-Z", "h", "f"); status != 1 || !strings.Contains(stderr, "Usage: innxmit") {
			t.Errorf("status %d, stderr %q", status, stderr)
		}
	})

	t.Run("waits for innxmit's fcntl lock", func(t *testing.T) {
		lines := l.feedLines(3)
		path := l.writeBatch("peer=n", lines)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The lock innxmit takes: a classic POSIX write lock on the whole file.
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
			t.Fatal(err)
		}
		cmd := l.sender.Command(l.bin, "innxmit", "-P", port, "127.0.0.1", "peer=n")
		cmd.Env = append(cmd.Env, "NXMIT_SYSLOG_SOCKET="+l.syslog.Path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("nxmit innxmit did not wait for the lock: %v", err)
		case <-time.After(1500 * time.Millisecond):
		}
		f.Close() // releases the lock
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("after the lock was released: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("nxmit innxmit still waiting after the lock was released")
		}
		if m := l.missing(opMids(lines)); len(m) != 0 {
			t.Errorf("receiver lacks %d articles", len(m))
		}
	})
}

// TestInnxmitInterrupted: a transfer stopped by SIGTERM or -T leaves the batch
// rewritten with exactly the lines not done, no blanks, and exit 1; the next run
// finishes it.
func TestInnxmitInterrupted(t *testing.T) {
	l := newOpLab(t)
	// The peer stops answering at the 100th command: the transfer cannot finish.
	peer := nntptest.NewServer(t, nntptest.Script{StallAt: 100})
	_, portStr, _ := strings.Cut(peer.Addr, ":")
	lines := l.feedLines(300)
	path := l.writeBatch("peer=n", lines)

	// -c: TAKETHIS only, so the 99 answered commands deliver 99 articles.
	_, stderr, status := l.nxmit("innxmit", "-c", "-T", "2", "-P", portStr, "127.0.0.1", "peer=n")
	if status != 1 || !strings.Contains(stderr, "rewriting batch file and exiting") {
		t.Fatalf("-T 2: status %d, stderr %q", status, stderr)
	}
	left := opReadLines(t, path)
	sent := peer.Articles()
	if len(left) == 0 || len(left) == len(lines) {
		t.Fatalf("%d of %d lines left after -T 2", len(left), len(lines))
	}
	for _, ln := range left {
		if strings.TrimSpace(ln) == "" {
			t.Fatal("blank line left in the rewritten batch")
		}
	}
	// Every line is either delivered or still in the batch.
	inBatch := map[string]bool{}
	for _, ln := range left {
		inBatch[ln] = true
	}
	for _, ln := range lines {
		_, mid, _ := strings.Cut(ln, " ")
		if _, ok := sent[mid]; !ok && !inBatch[ln] {
			t.Errorf("line lost: %s", ln)
		}
	}
	// The next run, against a peer that answers, delivers the rest.
	peer2 := nntptest.NewServer(t, nntptest.Script{})
	_, port2, _ := strings.Cut(peer2.Addr, ":")
	if _, stderr, status := l.nxmit("innxmit", "-P", port2, "127.0.0.1", "peer=n"); status != 0 {
		t.Fatalf("second run: status %d, stderr %q", status, stderr)
	}
	got := peer2.Articles()
	for mid := range sent {
		got[mid] = nil
	}
	if len(got) != len(lines) {
		t.Errorf("the peers have %d of %d articles", len(got), len(lines))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("batch not removed after the second run")
	}
}

// TestNntpsendWithNxmit runs INN's own nntpsend, unchanged, with nxmit installed as its
// innxmit, against a real receiving innd: the way an administrator migrates.
func TestNntpsendWithNxmit(t *testing.T) {
	l := newOpLab(t)
	// nxmit as innxmit, first on nntpsend's PATH: innshellvars sources an executable
	// PATHETC/innshellvars.local (as an administrator could also use
	// PATHNEWS/local, which innshellvars puts before PATHBIN).
	binDir := filepath.Dir(l.bin)
	if err := os.Symlink(l.bin, filepath.Join(binDir, "innxmit")); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(l.sender.PathEtc, "innshellvars.local")
	if err := os.WriteFile(local, []byte("PATH="+binDir+":$PATH\nexport PATH\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctl := filepath.Join(l.sender.PathEtc, "nntpsend.ctl")
	if err := os.WriteFile(ctl, []byte(fmt.Sprintf("# site:fqdn:size:args\npeer:127.0.0.1::-P %d\n", l.receiver.Port)), 0o644); err != nil {
		t.Fatal(err)
	}
	mids := l.inject(150)

	cmd := l.sender.Command("nntpsend")
	cmd.Env = append(cmd.Env, "NXMIT_SYSLOG_SOCKET="+l.syslog.Path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nntpsend: %v\n%s", err, out)
	}
	log, _ := os.ReadFile(filepath.Join(l.sender.Dir, "log", "nntpsend.log"))
	t.Logf("nntpsend.log:\n%s", log)
	if !strings.Contains(string(log), "innxmit -a -P") || strings.Contains(string(log), "innxmit:") {
		t.Errorf("nntpsend.log does not show a clean innxmit run")
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Fatalf("receiver lacks %d of %d articles", len(m), len(mids))
	}
	for _, name := range []string{"peer=n", "peer.work", "peer=n" + xmit.DeferSuffix} {
		if _, err := os.Stat(filepath.Join(l.sender.Outgoing, name)); !os.IsNotExist(err) {
			t.Errorf("%s left in outgoing: %v", name, err)
		}
	}
	// It was nxmit that ran: its detail line is in syslog next to innxmit's lines.
	var stats, detail bool
	for _, m := range l.syslog.Wait(3, 5*time.Second) {
		stats = stats || m.Ident == "innxmit" && strings.HasPrefix(m.Text, "127.0.0.1 stats offered 150 accepted 150 ")
		detail = detail || m.Ident == "nxmit"
	}
	if !stats || !detail {
		t.Errorf("syslog (stats %v, nxmit detail %v): %+v", stats, detail, l.syslog.Messages())
	}

}

func opMids(lines []string) []string {
	var out []string
	for _, l := range lines {
		if _, mid, ok := strings.Cut(l, " "); ok {
			out = append(out, mid)
		}
	}
	return out
}
