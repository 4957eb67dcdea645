package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// statusLines returns n batch lines, the first blanked ones blanked in place.
func statusLines(n, blanked int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("@0200%032X@ <status-%d@lab.test>", i, i)
		if i < blanked {
			line = strings.Repeat(" ", len(line))
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

func statusHex(t time.Time) string { return fmt.Sprintf("%08x", uint32(t.Unix())) }

func statusWrite(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		os.Chtimes(path, mtime, mtime)
	}
}

// statusFixture builds an outgoing directory with something of everything.
func statusFixture(t *testing.T) (dir, conf string, names map[string]string) {
	dir = t.TempDir()
	names = map[string]string{}
	now := time.Now()
	old := now.Add(-26 * time.Hour)
	w := func(name string, data []byte, mtime time.Time) { statusWrite(t, filepath.Join(dir, name), data, mtime) }

	w("hub", statusLines(20, 0), time.Time{})
	w("hub.rotating", statusLines(5, 0), time.Time{})
	names["small"] = "hub.B." + statusHex(old)
	w(names["small"], statusLines(300, 150), time.Time{})
	names["big"] = "hub.B." + statusHex(now.Add(-time.Hour))
	w(names["big"], statusLines(10000, 4000), time.Time{}) // sampled

	var z bytes.Buffer
	enc, _ := zstd.NewWriter(&z)
	enc.Write(statusLines(5000, 0))
	enc.Close()
	zname := "hub.B." + statusHex(now.Add(-30*time.Minute)) + ".zst"
	w(zname, z.Bytes(), time.Time{})
	fi, _ := os.Stat(filepath.Join(dir, zname))
	w(zname+".done", []byte(fmt.Sprintf("nxmit-progress 1\nsize %d\nmtime %d\nnext 1001\nhole 7\nend\n", fi.Size(), fi.ModTime().UnixNano())), time.Time{})

	w("hub.B.dropped-by-admin", statusLines(3, 0), time.Time{})
	w("hub.D."+statusHex(now.Add(-2*time.Hour)), statusLines(10, 0), time.Time{})
	w("hub.defer", statusLines(2, 0), time.Time{})
	// One article deferred by three passes, one by two, one once (not worth a word).
	w("hub.deferrals", []byte("<stuck@t> 3\n<twice@t> 2\n<once@t> 1\n"), time.Time{})
	w("hub.bad", []byte("hub.B.x:3\tMessage-ID \"<x y@t>\" contains a space\t@x@ <x y@t>\nhub.B.x:9\tjunk\tjunk here\n"), time.Time{})
	w("hub.B."+statusHex(old)+".tmp", statusLines(2, 0), old)
	w("hub.send.lock", []byte(fmt.Sprintf("pid %d\ncommand nxmit send hub\nsince %s\n", os.Getpid(), now.UTC().Format(time.RFC3339))), time.Time{})
	w("hub.queue.lock", []byte(fmt.Sprintf("pid %d\ncommand nxmit rotate hub\nsince %s\n", statusDeadPID(t), now.UTC().Format(time.RFC3339))), time.Time{})

	w("other.B."+statusHex(now), statusLines(7, 0), time.Time{})

	conf = filepath.Join(t.TempDir(), "nxmit.conf")
	statusWrite(t, conf, []byte("site hub { host: news.hub.example }\nsite leaf {}\n"), time.Time{})
	return dir, conf, names
}

// deadPID returns the pid of a process that has exited.
func statusDeadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func runStatus(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "INNCONF=/nonexistent/inn.conf")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nxmit %q: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func TestStatus(t *testing.T) {
	dir, conf, fixture := statusFixture(t)
	bin := nxmitBinary(t)
	giveToNews(t, dir) // status, started as root, reads the queue as news

	var rep statusReport
	out := runStatus(t, bin, "--config", conf, "--outgoing", dir, "status", "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var names []string
	for _, s := range rep.Sites {
		names = append(names, s.Site)
	}
	if strings.Join(names, " ") != "hub leaf other" {
		t.Fatalf("sites %q, want the configured ones, then the discovered one", names)
	}
	hub := rep.Sites[0]
	if hub.Host != "news.hub.example" || !hub.Configured || hub.Feed == nil || hub.Rotating == nil || hub.Defer == nil {
		t.Errorf("hub: %+v", hub)
	}
	if len(hub.Backlogs) != 4 || len(hub.Deferrals) != 1 {
		t.Fatalf("hub: %d backlogs, %d deferrals", len(hub.Backlogs), len(hub.Deferrals))
	}
	// Counted, sampled, compressed with progress, foreign.
	byName := map[string]fileStatus{}
	for _, f := range hub.Backlogs {
		byName[filepath.Base(f.Path)] = f
	}
	small := byName[fixture["small"]]
	if !small.Exact || small.Lines != 300 || small.Articles != 150 {
		t.Errorf("small backlog: %+v", small)
	}
	big := byName[fixture["big"]]
	if big.Exact || big.Lines < 9000 || big.Lines > 11000 || big.Articles < 5000 || big.Articles > 7000 {
		t.Errorf("sampled backlog: %+v (want ~10000 lines, ~6000 to send)", big)
	}
	var zst fileStatus
	for n, f := range byName {
		if strings.HasSuffix(n, ".zst") {
			zst = f
		}
	}
	if !zst.Compressed || zst.Lines != 5000 || zst.Articles != 4001 {
		t.Errorf("compressed backlog: %+v (want 5000 lines, 4001 to send)", zst)
	}
	if f := byName["hub.B.dropped-by-admin"]; !f.Foreign || f.Articles != 3 {
		t.Errorf("foreign backlog: %+v", f)
	}
	if hub.Oldest == nil || hub.OldestAge < 25*3600 {
		t.Errorf("oldest: %v (%v s)", hub.Oldest, hub.OldestAge)
	}
	if q := hub.Quarantine; q == nil || q.Lines != 2 || !q.Exact {
		t.Errorf("quarantine: %+v", q)
	}
	if r := hub.Redeferred; r == nil || r.Articles != 2 || r.Highest != 3 || len(r.Top) != 2 ||
		r.Top[0] != (redeferredArt{"<stuck@t>", 3}) || r.Top[1] != (redeferredArt{"<twice@t>", 2}) {
		t.Errorf("redeferred: %+v", r)
	}
	if hub.DeferredArticles != 10 {
		t.Errorf("deferred articles %d", hub.DeferredArticles)
	}
	locks := map[string]lockStatus{}
	for _, l := range hub.Locks {
		locks[l.Kind] = l
	}
	if l := locks["send"]; !l.Held || l.Stale || l.PID != os.Getpid() || l.Command != "nxmit send hub" {
		t.Errorf("send lock: %+v", l)
	}
	if l := locks["queue"]; l.Held || !l.Stale {
		t.Errorf("queue lock: %+v", l)
	}
	notes := strings.Join(hub.Notes, "\n")
	for _, want := range []string{
		"queue lock hub.queue.lock names pid",
		"hub.rotating exists: a rotation was interrupted",
		"deferrals waiting for 2h",
		"the oldest backlog is 26h00m old: is the peer news.hub.example reachable?",
		".tmp: a temporary file from 26h00m ago",
		"hub.B.dropped-by-admin: not named by nxmit",
		"hub.bad: 2 malformed lines quarantined",
		"deferred by more than one pass: 2 articles, one of them 3 times (hub.deferrals",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	// S.defer is the running send's (its lock is held): not unusual.
	if strings.Contains(notes, "hub.defer exists") {
		t.Errorf("S.defer reported as stale while the send lock is held:\n%s", notes)
	}
	if o := rep.Sites[2]; o.Configured || len(o.Backlogs) != 1 || !strings.Contains(strings.Join(o.Notes, "\n"), "not in "+conf) {
		t.Errorf("discovered site: %+v", o)
	}

	human := runStatus(t, bin, "--config", conf, "--outgoing", dir, "status")
	for _, want := range []string{
		"SITE  ", "hub ", "leaf ", "other ",
		"hub: send lock held by pid " + fmt.Sprint(os.Getpid()) + " (nxmit send hub) since ",
		"hub: hub.rotating exists",
	} {
		if !strings.Contains(human, want) {
			t.Errorf("human output lacks %q:\n%s", want, human)
		}
	}
	t.Logf("nxmit status:\n%s", human)

	// Named sites only; -l lists the files.
	one := runStatus(t, bin, "--config", conf, "--outgoing", dir, "status", "-l", "leaf", "other")
	if strings.Contains(one, "hub") || !strings.Contains(one, "other: other.B.") {
		t.Errorf("status -l leaf other:\n%s", one)
	}
	if hubl := runStatus(t, bin, "--config", conf, "--outgoing", dir, "status", "-l", "hub"); !strings.Contains(hubl, "hub: deferred 3 times: <stuck@t>") {
		t.Errorf("status -l hub does not name the article deferred 3 times:\n%s", hubl)
	}
}

func TestHumanFormats(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{humanBytes(512), "512"},
		{humanBytes(1536), "1.5K"},
		{humanBytes(45 << 20), "45M"},
		{humanCount(9999), "9999"},
		{humanCount(612345), "612k"},
		{humanCount(2500000), "2.5M"},
		{ago(45 * time.Second), "45s"},
		{ago(12 * time.Minute), "12m"},
		{ago(3*time.Hour + 5*time.Minute), "3h05m"},
		{ago(52 * time.Hour), "2d4h"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
