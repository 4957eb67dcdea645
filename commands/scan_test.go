package commands

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/linefilter"
)

// TestScanCommand scans a real innd's history to stdout and into a site's queue: the
// same lines, each article once, the backlog installed and nothing left behind.
func TestScanCommand(t *testing.T) {
	bin := nxmitBinary(t)
	inst := innlab.StartT(t, innlab.Options{})
	arts := innlab.Generate(innlab.GenOptions{Count: 30, Seed: 17})
	if err := inst.Inject(arts); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Ctlinnd("flush", ""); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--innconf", inst.InnConf}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("nxmit %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	all := run("scan", "--since", "1h")
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != len(arts) {
		t.Fatalf("scan wrote %d lines, want %d:\n%s", len(lines), len(arts), all)
	}
	for i, l := range lines {
		if _, err := batch.ParseLine([]byte(l)); err != nil || !strings.HasSuffix(l, " "+arts[i].MessageID) {
			t.Errorf("line %d %q: %v (want %s)", i+1, l, err, arts[i].MessageID)
		}
	}
	if got := run("scan", "--groups", "lab.misc,!lab.test"); strings.Count(got, "\n") == 0 || strings.Count(got, "\n") >= len(arts) {
		t.Errorf("--groups kept %d of %d", strings.Count(got, "\n"), len(arts))
	}
	if got := run("scan", "--until", "2000-01-01"); got != "" {
		t.Errorf("--until 2000-01-01 wrote %q", got)
	}

	run("scan", "--site", "peer", "--since", "1h")
	q := batch.Queue{Dir: inst.Outgoing, Site: "peer"}
	files, err := q.Backlogs()
	if err != nil || len(files) != 1 {
		t.Fatalf("backlogs %v %v", files, err)
	}
	data, err := os.ReadFile(files[0].Path)
	if err != nil || string(data) != all {
		t.Errorf("backlog %s differs from the stdout scan: %v", files[0].Path, err)
	}
	for _, p := range []string{q.ScanPath(), q.ScanPath() + batch.CheckpointSuffix} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind", filepath.Base(p))
		}
	}
}

// TestRunShapedSite runs the crontab's "nxmit run" for a site with hashfeed and
// max-crosspost in nxmit.conf: the peer gets exactly the articles of its bucket with few
// enough groups, the detail line counts the others as filtered, and the queue ends empty.
func TestRunShapedSite(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig(fmt.Sprintf("# /etc/news/nxmit.conf\nsite peer {\n    host: 127.0.0.1\n    port: %d\n    rotate-min-size: 0\n    rotate-max-age: 0\n    hashfeed: 2/3\n    max-crosspost: 2\n}\n", l.receiver.Port))
	arts := innlab.Generate(innlab.GenOptions{Count: 120, Seed: l.seed, Specials: true})
	if err := l.sender.Inject(arts); err != nil {
		t.Fatal(err)
	}
	h, _ := linefilter.ParseHashFeed("2/3")
	var want, other []string
	for _, a := range arts {
		if h.Match(a.MessageID) && len(a.Newsgroups) <= 2 {
			want = append(want, a.MessageID)
		} else {
			other = append(other, a.MessageID)
		}
	}
	if _, stderr, status := l.nxmit("run"); status != 0 || stderr != "" {
		t.Fatalf("run: status %d, %s", status, stderr)
	}
	if m := l.missing(want); len(m) != 0 {
		t.Errorf("peer lacks %d of its %d articles", len(m), len(want))
	}
	if m := l.missing(other); len(m) != len(other) {
		t.Errorf("peer got %d articles outside its hashfeed or over max-crosspost", len(other)-len(m))
	}
	detail := ""
	for _, m := range l.syslog.Messages() {
		if strings.Contains(m.Text, " nxmit deferred ") {
			detail = m.Text
		}
	}
	if !strings.Contains(detail, fmt.Sprintf(" filtered %d held 0", len(other))) {
		t.Errorf("detail line %q, want filtered %d", detail, len(other))
	}
	if files := l.queueFiles("peer"); len(files) != 0 {
		t.Errorf("queue left: %v", files)
	}
}
