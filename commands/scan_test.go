package commands

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/linefilter"
)

// TestScanCommand scans a real innd's history to stdout and into a site's queue: the
// same lines, each article once, the backlog installed and nothing left behind.
func TestScanCommand(t *testing.T) {
	bin := nxmitBinary(t)
	inst := innlab.StartT(t, innlab.Options{})
	// scan --site writes a site's queue: the site must be known (configured here).
	if err := os.WriteFile(filepath.Join(inst.PathEtc, "nxmit.conf"), []byte("site peer {\n host: 127.0.0.1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
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
	// Run as root, the backlog belongs to the outgoing directory's owner (news), who
	// sends it.
	var dirSt, fileSt syscall.Stat_t
	if syscall.Stat(inst.Outgoing, &dirSt) == nil && syscall.Stat(files[0].Path, &fileSt) == nil && fileSt.Uid != dirSt.Uid {
		t.Errorf("backlog owned by uid %d, the outgoing directory by %d", fileSt.Uid, dirSt.Uid)
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

// TestScanKilled kills "nxmit scan --site" with SIGKILL at random moments over a
// 120,000-entry history and runs it again each time: the backlog finally installed is
// byte for byte the output of an uninterrupted scan, and none is installed before.
func TestScanKilled(t *testing.T) {
	bin := nxmitBinary(t)
	inst := innlab.StartT(t, innlab.Options{})
	// scan --site writes a site's queue: the site must be known (configured here).
	if err := os.WriteFile(filepath.Join(inst.PathEtc, "nxmit.conf"), []byte("site peer {\n host: 127.0.0.1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := inst.Inject(innlab.Generate(innlab.GenOptions{Count: 2000, Seed: 1720, Size: 1000})); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Ctlinnd("flush", ""); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(inst.PathDB, "history"))
	if err != nil {
		t.Fatal(err)
	}
	history := filepath.Join(t.TempDir(), "history")
	if err := os.WriteFile(history, bytes.Repeat(data, 60), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--innconf", inst.InnConf, "scan", "--history", history, "--checkpoint-every", "20ms"}
	want, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	q := batch.Queue{Dir: inst.Outgoing, Site: "peer"}
	rng := rand.New(rand.NewPCG(17, 20))
	kills, resumed := 0, 0
	deadline := time.Now().Add(40 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no complete scan after %d kills", kills)
		}
		cmd := exec.Command(bin, append(args, "--site", "peer", "-v")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var werr error
		killed := false
		if kills < 20 {
			select {
			case werr = <-done:
			case <-time.After(time.Duration(50+rng.IntN(300)) * time.Millisecond):
				cmd.Process.Kill()
				<-done
				killed = true
			}
		} else {
			werr = <-done
		}
		if strings.Contains(stderr.String(), "(resumed)") {
			resumed++
		}
		if killed {
			kills++
			if files, _ := q.Backlogs(); len(files) != 0 {
				t.Fatalf("a killed scan installed %v", files)
			}
			continue
		}
		if werr != nil {
			t.Fatalf("scan: %v: %s", werr, stderr.String())
		}
		break
	}
	files, err := q.Backlogs()
	if err != nil || len(files) != 1 {
		t.Fatalf("backlogs %v %v", files, err)
	}
	got, err := os.ReadFile(files[0].Path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("backlog after %d kills differs from the uninterrupted scan (%d bytes, want %d)", kills, len(got), len(want))
	}
	if kills > 0 && resumed == 0 {
		t.Errorf("the final run did not resume")
	}
	t.Logf("%d kills; backlog of %d lines identical", kills, bytes.Count(got, []byte{'\n'}))
}
