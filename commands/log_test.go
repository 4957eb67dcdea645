package commands

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"nxmit/internal/innlab"
	"nxmit/nntp"
	"nxmit/xmit"
)

// innreport runs INN's innreport on the log files and returns its text report.
func innreport(t *testing.T, logs ...string) string {
	t.Helper()
	prog := filepath.Join(innlab.Binaries(), "innreport")
	if _, err := os.Stat(prog); err != nil {
		t.Fatalf("innreport: %v", err)
	}
	args := append([]string{"-f", "/etc/news/innreport.conf", "-notdaily", "-nohtml", "-nograph", "-noarchive"}, logs...)
	out, err := exec.Command(prog, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("innreport: %v\n%s", err, out)
	}
	return string(out)
}

// checkInnreport asserts that innreport's report counts host with these figures and
// lists no unknown lines.
func checkInnreport(t *testing.T, report, host string, offered, accepted, refused, rejected int) {
	t.Helper()
	if !strings.Contains(report, "Outgoing Feeds (innxmit) by Articles:") {
		t.Fatalf("innreport has no innxmit section:\n%s", report)
	}
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(host) + `\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+%`).FindStringSubmatch(report)
	want := []string{fmt.Sprint(offered), fmt.Sprint(accepted), fmt.Sprint(refused), fmt.Sprint(rejected), "0"}
	if row == nil || strings.Join(row[1:], " ") != strings.Join(want, " ") {
		t.Errorf("innreport row for %s: %q, want offered/taken/refused/reject/miss %v\n%s", host, row, want, report)
	}
	if strings.Contains(report, "Unknown entries") {
		t.Errorf("innreport lists unknown entries:\n%s", report)
	}
}

// TestInnreportCountsNxmit proves that INN's innreport counts what nxmit logs: once
// from syslog (what a syslog daemon would write into news.notice), once from the
// --log-file nxmit writes itself.
func TestInnreportCountsNxmit(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %d\n rotate-min-size: 0\n rotate-max-age: 0\n}\n", l.receiver.Port))
	arts := innlab.Generate(innlab.GenOptions{Count: 50, Seed: l.seed})
	if err := l.sender.Inject(arts); err != nil {
		t.Fatal(err)
	}
	// The receiver has ten of them already: refused.
	if err := l.receiver.Inject(arts[:10]); err != nil {
		t.Fatal(err)
	}
	if _, stderr, status := l.nxmit("run"); status != 0 || stderr != "" {
		t.Fatalf("run: status %d, stderr %q", status, stderr)
	}
	l.syslog.Wait(3, 5*time.Second)

	// The syslog route: INN's recommended syslog.conf puts news.notice and above into
	// pathlog/news.notice, which is what innreport reads.
	var lines []string
	for _, m := range l.syslog.Messages() {
		if m.Facility == 7 && m.Priority <= 5 {
			lines = append(lines, m.FileLine("news"))
		}
	}
	notice := filepath.Join(t.TempDir(), "news.notice")
	os.WriteFile(notice, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	report := innreport(t, notice)
	// innxmit counts every CHECK: with 10 refused the 50 articles take 50 offers.
	checkInnreport(t, report, "peer", 50, 40, 10, 0)

	// The log file route: nxmit writes the file; innreport reads it as it is.
	more := innlab.Generate(innlab.GenOptions{Count: 30, Seed: l.seed + 1})
	if err := l.sender.Inject(more); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(l.sender.Dir, "log", "nxmit.log")
	if _, stderr, status := l.nxmit("--log-file", logFile, "run"); status != 0 || stderr != "" {
		t.Fatalf("run --log-file: status %d, stderr %q", status, stderr)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// Everything that would go to syslog: the rotation, the stats and times lines,
	// nxmit's detail line.
	for _, want := range []string{" nxmit[", " peer rotate: installed peer.B.", " innxmit[", " peer stats offered 30 ", " peer times user ", " peer nxmit deferred 0 "} {
		if !strings.Contains(string(data), want) {
			t.Errorf("log file lacks %q:\n%s", want, data)
		}
	}
	// innreport counts the innxmit lines; nxmit's own lines are its unknown entries.
	var innxmitOnly []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.Contains(line, " innxmit[") {
			innxmitOnly = append(innxmitOnly, line)
		}
	}
	os.WriteFile(logFile+".innxmit", []byte(strings.Join(innxmitOnly, "\n")+"\n"), 0o644)
	checkInnreport(t, innreport(t, logFile+".innxmit"), "peer", 30, 30, 0, 0)
	logFile += ".innxmit"
	t.Logf("innreport on nxmit's log file:\n%s", innreport(t, logFile))
}

func TestFailureLine(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&xmit.UnreachableError{Addr: "h:119", Err: &nntp.Error{Op: "greeting", Reply: nntp.Reply{Code: 400, Text: "loadav [innwatch:load] 1500 gt 1000"}}},
			"news.example connect failed 400 loadav [innwatch:load] 1500 gt 1000"},
		{&xmit.UnreachableError{Addr: "h:119", Err: errors.New("dial tcp: connection refused")},
			"news.example connect failed dial tcp: connection refused"},
		{&xmit.UnreachableError{Addr: "h:119", Err: fmt.Errorf("authenticate as u: %w", &nntp.Error{Op: "AUTHINFO PASS", Reply: nntp.Reply{Code: 481, Text: "Authentication failed"}})},
			"news.example authenticate failed 481 Authentication failed"},
		{&xmit.IncompleteError{Addr: "h:119", Err: &nntp.Error{Op: "IHAVE <a@b>", Reply: nntp.Reply{Code: 436, Text: "No space"}}},
			"news.example ihave failed 436 No space"},
		{errors.New("disk full"), ""},
	}
	for _, tt := range tests {
		if got := failureLine("news.example", tt.err); got != tt.want {
			t.Errorf("failureLine(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestLogFallbackAndOwner: with no syslog socket and no log-file, statistics go to
// pathlog/nxmit.log (and status says so) instead of being lost; a log file a run as root
// creates belongs to the outgoing directory's owner, so that news's cron runs can
// write it without a "permission denied" mail each time.
func TestLogFallbackAndOwner(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %d\n rotate-min-size: 0\n rotate-max-age: 0\n}\n", l.receiver.Port))
	noSyslog := []string{"NXMIT_SYSLOG_SOCKET=" + filepath.Join(l.sender.Dir, "no-such-socket")}
	run := func(asRoot bool, args ...string) (string, string, int) {
		t.Helper()
		cmd := l.sender.Command(l.bin, args...)
		if asRoot {
			cmd = exec.Command(l.bin, args...)
			cmd.Env = l.sender.Env()
		}
		cmd.Env = append(cmd.Env, noSyslog...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		status := 0
		if ee, ok := err.(*exec.ExitError); ok {
			status = ee.ExitCode()
		}
		return o.String(), e.String(), status
	}
	l.inject(25)
	if _, stderr, status := run(false, "run"); status != 0 || stderr != "" {
		t.Fatalf("run: %d %q", status, stderr)
	}
	fallback := filepath.Join(l.sender.PathLog, "nxmit.log")
	data, err := os.ReadFile(fallback)
	if err != nil || !strings.Contains(string(data), "innxmit[") || !strings.Contains(string(data), " peer stats offered 25 accepted 25 ") {
		t.Fatalf("fallback log %s: %v\n%s", fallback, err, data)
	}
	if stdout, _, _ := run(false, "status"); !strings.Contains(stdout, "Statistics go to "+fallback+": there is no syslog socket") {
		t.Errorf("status does not say where statistics go:\n%s", stdout)
	}
	if stdout, _, _ := run(false, "status", "--json"); !strings.Contains(stdout, `"log_fallback": true`) {
		t.Errorf("status --json:\n%s", stdout)
	}

	if os.Geteuid() != 0 {
		t.Skip("the ownership half needs root")
	}
	logFile := filepath.Join(l.sender.PathLog, "root-made.log")
	l.inject(5)
	if _, stderr, status := run(true, "--log-file", logFile, "run"); status != 0 || stderr != "" {
		t.Fatalf("run as root: %d %q", status, stderr)
	}
	var fst, dst syscall.Stat_t
	syscall.Stat(logFile, &fst)
	syscall.Stat(l.sender.Outgoing, &dst)
	if fst.Uid != dst.Uid || fst.Uid == 0 {
		t.Errorf("log file owned by uid %d, outgoing directory by %d", fst.Uid, dst.Uid)
	}
	l.inject(5)
	if _, stderr, status := run(false, "--log-file", logFile, "run"); status != 0 || stderr != "" {
		t.Errorf("run as news after root: %d %q", status, stderr)
	}
}
