package commands

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/internal/innlab"
)

func TestFilterFlagTypes(t *testing.T) {
	sizes := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1500", 1500, true}, {"10k", 10 << 10, true}, {"2M", 2 << 20, true},
		{"1g", 1 << 30, true}, {"-1", 0, false}, {"1.5k", 0, false}, {"k", 0, false}, {"", 0, false},
		{"99999999999G", 0, false},
	}
	for _, s := range sizes {
		var b byteCount
		err := b.UnmarshalText([]byte(s.in))
		if (err == nil) != s.ok || (s.ok && int64(b) != s.want) {
			t.Errorf("size %q = %d, %v", s.in, b, err)
		}
	}
	ages := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90m", 90 * time.Minute, true}, {"36h", 36 * time.Hour, true}, {"7d", 7 * 24 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true}, {"2w", 14 * 24 * time.Hour, true}, {"-1h", 0, false},
		{"d", 0, false}, {"3", 3 * time.Second, true}, {"yesterday", 0, false},
	}
	for _, a := range ages {
		var g ageLimit
		err := g.UnmarshalText([]byte(a.in))
		if (err == nil) != a.ok || (a.ok && time.Duration(g) != a.want) {
			t.Errorf("age %q = %v, %v", a.in, time.Duration(g), err)
		}
	}
}

// TestFilterCommand runs filter against a small spool: the tests, the exit statuses,
// --stats, and the pipeline into merge.
func TestFilterCommand(t *testing.T) {
	bin := nxmitBinary(t)
	s := newQTSpool(t)
	now := time.Now()
	a := s.store(t, 1, "comp.lang.go", now.Add(-time.Hour), 1500)
	b := s.store(t, 2, "comp.lang.go,alt.binaries.x", now.Add(-48*time.Hour), 5000)
	c := s.store(t, 3, "misc.test", now.Add(-time.Hour), 300)
	gone := s.store(t, 4, "comp.lang.go", now.Add(-time.Hour), 300)
	tok := strings.Fields(gone)[0]
	if err := os.Remove(s.path(tok)); err != nil { // the article expired
		t.Fatal(err)
	}
	input := strings.Join([]string{a, b, "garbage\r", c, tok + " " + qtMID(4), a}, "\n") + "\n"

	tests := []struct {
		args   []string
		want   []string
		status int
	}{
		{[]string{"filter"}, []string{a, b, c, tok + " " + qtMID(4), a}, 0},
		{[]string{"filter", "--dedupe"}, []string{a, b, c, tok + " " + qtMID(4)}, 0},
		{[]string{"filter", "--exists", "-u"}, []string{a, b, c}, 0},
		{[]string{"filter", "--exists", "--invert"}, []string{tok + " " + qtMID(4)}, 0},
		{[]string{"filter", "--groups", "comp.*"}, []string{a, b, a}, 0},
		{[]string{"filter", "--groups", "comp.*,@alt.binaries.*"}, []string{a, a}, 0},
		{[]string{"filter", "--groups", "*,!alt.binaries.*", "--dedupe"}, []string{a, b, c}, 0},
		{[]string{"filter", "--min-size", "2k"}, []string{b}, 0},
		{[]string{"filter", "--max-size", "1k", "-u"}, []string{c}, 0},
		// The age comes from the timehash token: the expired article is not read.
		{[]string{"filter", "--max-age", "1d", "-u"}, []string{a, c, tok + " " + qtMID(4)}, 0},
		{[]string{"filter", "--max-age", "1d", "-u", "--exists"}, []string{a, c}, 0},
		{[]string{"filter", "--invert"}, nil, 2},
		{[]string{"filter", "--groups", "comp.[a"}, nil, 2},
		{[]string{"filter", "--min-size", "2k", "--max-size", "1k"}, nil, 2},
		{[]string{"filter", "-u", "-", filepath.Join(s.dir, "no-such-file")}, []string{a, b, c, tok + " " + qtMID(4)}, 1},
	}
	for _, tt := range tests {
		stdout, stderr, status := s.run(t, bin, input, tt.args...)
		var got []string
		if stdout != "" {
			got = strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		}
		if status != tt.status || !slices.Equal(got, tt.want) {
			t.Errorf("%v: status %d, wrote\n%s\nwant status %d and\n%s\nstderr: %s", tt.args, status,
				strings.Join(got, "\n"), tt.status, strings.Join(tt.want, "\n"), stderr)
		}
		if tt.status != 2 && !strings.Contains(stderr, "nxmit: filter: stdin:3: carriage return") {
			t.Errorf("%v: malformed line not reported: %q", tt.args, stderr)
		}
	}

	_, stderr, _ := s.run(t, bin, input, "filter", "--stats", "--exists", "-u")
	if !strings.Contains(stderr, "filter: 6 lines, 3 written, 0 blank, 1 malformed, 1 duplicates, 1 missing,") {
		t.Errorf("--stats: %q", stderr)
	}

	// The README's pipeline: filter into merge, with real files on both ends, into a
	// configured site (merge refuses a site it does not know).
	os.WriteFile(filepath.Join(s.dir, "etc", "nxmit.conf"), []byte("site peer {\n host: 127.0.0.1\n}\n"), 0o644)
	old := qtWrite(t, filepath.Join(s.dir, "peer.old"), a, b, c, tok+" "+qtMID(4), a)
	pipeline := fmt.Sprintf("%[1]s --innconf %[2]s filter --exists --max-age 1d --dedupe < %[3]s | %[1]s --innconf %[2]s merge peer -", bin, s.innconf, old)
	if out, err := exec.Command("/bin/sh", "-c", pipeline).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", pipeline, err, out)
	}
	files := qtQueueNames(t, s.outgoing, "peer")
	if len(files) != 1 {
		t.Fatalf("queue %v", files)
	}
	if got := qtFileLines(t, filepath.Join(s.outgoing, files[0])); !slices.Equal(got, []string{a, c}) {
		t.Errorf("merged %q", got)
	}
}

// TestMergeCommand: the inputs of the fixtures, --remove, --dedupe-queued, -v and the
// exit statuses.
func TestMergeCommand(t *testing.T) {
	bin := nxmitBinary(t)
	s := newQTSpool(t)
	dir := t.TempDir()
	var in []string
	for _, f := range []string{"feed.peer", "innxmit.batch", "peer=n", "peer.work", "old-feed.compressed", "malformed.batch"} {
		data, err := os.ReadFile(filepath.Join("../testdata/queuetools", f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, f)
		os.WriteFile(p, data, 0o644)
		in = append(in, p)
	}
	giveToNews(t, dir) // removed after the merge, by news
	// A merge needs a known site: configured, or with queue files.
	os.WriteFile(filepath.Join(s.dir, "etc", "nxmit.conf"), []byte("site peer {\n host: 127.0.0.1\n}\n"), 0o644)
	stdout, stderr, status := s.run(t, bin, "", append([]string{"-v", "merge", "peer", "--remove", "--compress"}, in...)...)
	if status != 0 || stdout != "" {
		t.Fatalf("merge: status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
	for _, want := range []string{
		"nxmit: merge peer: " + in[5] + ":2: carriage return",
		"merge peer: " + in[1] + ": 5 lines: 4 written, 1 duplicates",
		"merge peer: " + in[4] + ": 5 lines: 0 written, 5 duplicates",
		"merge peer: 29 lines: 15 written, 7 duplicates, 7 malformed, into peer.B.",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "removed 6 input(s)") {
		t.Errorf("stderr: %s", stderr)
	}
	for _, p := range in {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s not removed", p)
		}
	}
	files := qtQueueNames(t, s.outgoing, "peer")
	// The malformed input lines are quarantined, not lost with their removed inputs.
	if i := slices.Index(files, "peer.bad"); i < 0 {
		t.Errorf("no peer.bad in %v", files)
	} else {
		files = slices.Delete(files, i, i+1)
	}
	if len(files) != 1 || !strings.HasSuffix(files[0], ".zst") {
		t.Fatalf("queue %v", files)
	}
	merged := qtFileLines(t, filepath.Join(s.outgoing, files[0]))
	if len(merged) != 15 {
		t.Errorf("merged %d lines:\n%s", len(merged), strings.Join(merged, "\n"))
	}

	// --dedupe-queued against that backlog, from stdin.
	stdout, stderr, status = s.run(t, bin, merged[0]+"\n"+merged[3]+"\nnews/test/99\n", "-v", "merge", "--dedupe-queued", "peer", "-")
	if status != 0 || !strings.Contains(stderr, "3 lines: 1 written, 2 already queued") {
		t.Fatalf("dedupe-queued: status %d, stderr %q", status, stderr)
	}

	if _, stderr, status = s.run(t, bin, "", "merge", "peer", filepath.Join(dir, "missing")); status != 1 {
		t.Errorf("missing input: status %d, %q", status, stderr)
	}
	if _, _, status = s.run(t, bin, "", "merge", "peer"); status != 2 {
		t.Errorf("no input: status %d", status)
	}
	q := batch.Queue{Dir: s.outgoing, Site: "peer"}
	lk, _ := q.Lock(batch.QueueLock, "nxmit rotate peer")
	_, stderr, status = s.run(t, bin, "x\n", "merge", "peer", "-")
	lk.Unlock()
	if status != 75 {
		t.Errorf("locked: status %d, %q", status, stderr)
	}
}

// TestFilterMergeRealINN: the README's pipeline on a real innd's feed file: filter the
// tokens innd wrote (some articles cancelled since, some lines repeated, some
// malformed) into merge, then send the backlog to a real receiver, which ends up with
// exactly the articles that passed.
func TestFilterMergeRealINN(t *testing.T) {
	l := newOpLab(t)
	arts := innlab.Generate(innlab.GenOptions{Count: 60, Seed: l.seed})
	if err := l.sender.Inject(arts); err != nil {
		t.Fatal(err)
	}
	lines, err := l.sender.FeedLines("peer")
	if err != nil || len(lines) != len(arts) {
		t.Fatalf("feed lines: %d, %v", len(lines), err)
	}
	// Cancel every fifth article: its token stays in the feed file.
	cancelled := map[string]bool{}
	for i := 0; i < len(arts); i += 5 {
		if _, err := l.sender.Ctlinnd("cancel", arts[i].MessageID); err != nil {
			t.Fatal(err)
		}
		cancelled[arts[i].MessageID] = true
	}
	old := append(slices.Clone(lines), lines[:10]...)
	old = append(old, "not a batch line\r", "")
	oldPath := filepath.Join(l.sender.Dir, "peer.old")
	qtWrite(t, oldPath, old...)
	os.Chmod(oldPath, 0o644)

	pipeline := fmt.Sprintf("%[1]s filter --stats --exists --groups 'lab.*,!lab.misc' --dedupe < %[2]s | %[1]s merge peer -", l.bin, oldPath)
	cmd := l.sender.Command("/bin/sh", "-c", pipeline)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", pipeline, err, out)
	}
	// Generate puts even articles in lab.test, odd ones in lab.misc.
	var want []string
	for i, a := range arts {
		if i%2 == 0 && !cancelled[a.MessageID] {
			want = append(want, a.MessageID)
		}
	}
	if !strings.Contains(string(out), fmt.Sprintf("filter: 72 lines, %d written, 1 blank, 1 malformed", len(want))) {
		t.Errorf("pipeline output: %s", out)
	}
	q := batch.Queue{Dir: l.sender.Outgoing, Site: "peer"}
	files, err := q.Backlogs()
	if err != nil || len(files) != 1 {
		t.Fatalf("backlogs %v, %v", files, err)
	}
	var got []string
	for _, line := range qtFileLines(t, files[0].Path) {
		got = append(got, strings.Fields(line)[1])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("merged %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}

	// The tokens are real: send them.
	_, stderr, status := l.nxmit("send", "peer", "--host", "127.0.0.1", "--port", fmt.Sprint(l.receiver.Port))
	if status != 0 {
		t.Fatalf("send: status %d: %s", status, stderr)
	}
	if m := l.missing(want); len(m) != 0 {
		t.Errorf("receiver lacks %d of %d", len(m), len(want))
	}
	var others []string
	for _, a := range arts {
		if !slices.Contains(want, a.MessageID) {
			others = append(others, a.MessageID)
		}
	}
	if m := l.missing(others); len(m) != len(others) {
		t.Errorf("receiver got %d articles that were filtered out", len(others)-len(m))
	}
}
