package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Fixtures shared with the commands' tests; gen.py in that directory makes them.
const mqFixtures = "../testdata/queuetools"

func mqTok(i int) string { return fmt.Sprintf("@0201%08X%024X@", 0x5F3A1B2C, i) }
func mqMid(i int) string { return fmt.Sprintf("<%d.fixture@example.org>", i) }

// mqLine is fixture line i: "token <i.fixture@example.org>".
func mqLine(i int) string { return mqTok(i) + " " + mqMid(i) }

func mqLineRange(from, to int) []string {
	var l []string
	for i := from; i <= to; i++ {
		l = append(l, mqLine(i))
	}
	return l
}

// mqQueue returns site "peer" in a new outgoing directory.
func mqQueue(t testing.TB) Queue {
	t.Helper()
	return Queue{Dir: t.TempDir(), Site: "peer"}
}

// mqCopy copies fixtures into dir and returns their new paths.
func mqCopy(t testing.TB, dir string, names ...string) []string {
	t.Helper()
	var paths []string
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(mqFixtures, n))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func mqWrite(t testing.TB, path string, lines ...string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mqFileLines returns the good lines of a file (compressed or not), blank ones left out.
func mqFileLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := NewScanner(f, path)
	defer sc.Close()
	var out []string
	for sc.Scan() {
		switch err := sc.LineErr(); {
		case err == nil:
			out = append(out, sc.Line().String())
		case errors.Is(err, ErrBlank):
		default:
			t.Errorf("%s: %v", path, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// mqBacklogLines returns the lines of every backlog of q, oldest first.
func mqBacklogLines(t testing.TB, q Queue) []string {
	t.Helper()
	files, err := q.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, mqFileLines(t, f.Path)...)
	}
	return out
}

type mqWarnings struct{ errs []error }

func (w *mqWarnings) add(err error) { w.errs = append(w.errs, err) }
func (w *mqWarnings) String() string {
	var s []string
	for _, e := range w.errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

func mqExists(path string) bool { _, err := os.Lstat(path); return err == nil }

func TestMergeInputKinds(t *testing.T) {
	tests := []struct {
		name      string
		fixture   string
		want      []string
		malformed []string // "FILE:LINE" prefixes expected in the warnings
		stats     InputStats
	}{
		{name: "feed file", fixture: "feed.peer", want: mqLineRange(1, 5),
			stats: InputStats{Lines: 5, Written: 5}},
		{name: "innxmit batch", fixture: "innxmit.batch",
			want:  []string{mqTok(6), mqLine(7), "news/test/8", "/var/spool/news/articles/news/test/9 <9.fixture@example.org>", mqLine(1)},
			stats: InputStats{Lines: 5, Written: 5}},
		{name: "nntpsend SITE=n", fixture: "peer=n", want: mqLineRange(10, 11),
			stats: InputStats{Lines: 2, Written: 2}},
		{name: "nntpsend SITE.work", fixture: "peer.work", want: []string{mqLine(12), mqLine(10)},
			stats: InputStats{Lines: 2, Written: 2}},
		{name: "innduct backlog with blanked lines", fixture: "peer_backlog_1700000000.1234",
			want: []string{mqLine(14), mqLine(16)}, stats: InputStats{Lines: 4, Blank: 2, Written: 2}},
		{name: "innfeed tape with checkpoint", fixture: "peer.input",
			want: []string{mqLine(19), mqLine(20)}, stats: InputStats{Lines: 5, Resumed: 3, Written: 2}},
		{name: "other site's backlog", fixture: "other.B.5db93971", want: mqLineRange(21, 22),
			stats: InputStats{Lines: 2, Written: 2}},
		{name: "zstd without .zst name", fixture: "old-feed.compressed", want: mqLineRange(1, 5),
			stats: InputStats{Lines: 5, Written: 5}},
		{name: "malformed lines", fixture: "malformed.batch",
			want:      []string{mqLine(23), mqLine(30), mqLine(31)},
			malformed: []string{":2:", ":3:", ":4:", ":5:", ":6:", ":7:", ":9:"},
			stats:     InputStats{Lines: 10, Malformed: 7, Written: 3}},
		{name: "partial last line", fixture: "partial.batch", want: []string{mqLine(32)},
			malformed: []string{":2:"}, stats: InputStats{Lines: 2, Malformed: 1, Written: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mqQueue(t)
			in := mqCopy(t, t.TempDir(), tt.fixture)
			var w mqWarnings
			st, err := q.Merge(MergeOptions{Inputs: in, Warn: w.add})
			if err != nil {
				t.Fatal(err)
			}
			if got := mqBacklogLines(t, q); !slices.Equal(got, tt.want) {
				t.Errorf("queued lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			tt.stats.Name = in[0]
			if st.Inputs[0] != tt.stats {
				t.Errorf("stats %+v, want %+v", st.Inputs[0], tt.stats)
			}
			if len(w.errs) != len(tt.malformed) {
				t.Errorf("warnings:\n%v\nwant %d", &w, len(tt.malformed))
			}
			for i, m := range tt.malformed {
				if i < len(w.errs) && !strings.HasPrefix(w.errs[i].Error(), in[0]+m) {
					t.Errorf("warning %d = %q, want prefix %q", i, w.errs[i], in[0]+m)
				}
				var le *LineError
				if i < len(w.errs) && !errors.As(w.errs[i], &le) {
					t.Errorf("warning %d is %T, want *LineError", i, w.errs[i])
				}
			}
			if !mqExists(in[0]) {
				t.Error("input removed without Remove")
			}
		})
	}
}

func TestMergeStdinAndDedupe(t *testing.T) {
	q := mqQueue(t)
	dir := t.TempDir()
	in := mqCopy(t, dir, "feed.peer", "innxmit.batch", "peer=n", "peer.work", "old-feed.compressed")
	stdin := strings.NewReader(mqLine(3) + "\n" + mqLine(40) + "\n" + strings.ToUpper(mqLine(41)[:38]) + " <41.fixture@EXAMPLE.org>\n" + mqLine(41) + "\n")
	st, err := q.Merge(MergeOptions{Inputs: append(in, "-"), Stdin: stdin})
	if err != nil {
		t.Fatal(err)
	}
	want := append(mqLineRange(1, 5), mqTok(6), mqLine(7), "news/test/8", "/var/spool/news/articles/news/test/9 <9.fixture@example.org>",
		mqLine(10), mqLine(11), mqLine(12), mqLine(40), mqTok(41)+" <41.fixture@EXAMPLE.org>")
	if got := mqBacklogLines(t, q); !slices.Equal(got, want) {
		t.Errorf("queued lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Duplicates: innxmit.batch 1, peer.work 1, the compressed copy 5, stdin 2 (3, and 41
	// whose Message-ID differs only in the case of its domain).
	if st.Total.Duplicates != 9 || st.Total.Written != int64(len(want)) {
		t.Errorf("total %+v", st.Total)
	}
	if st.Output == "" || !strings.HasPrefix(filepath.Base(st.Output), "peer.B.") {
		t.Errorf("output %q", st.Output)
	}
}

func TestMergeDedupeQueued(t *testing.T) {
	q := mqQueue(t)
	// Already queued: a backlog (one line done), a deferral file, S.defer and the feed file.
	old := mqWrite(t, filepath.Join(q.Dir, "peer.B.5db93971"), mqLine(1), strings.Repeat(" ", len(mqLine(2))))
	mqWrite(t, filepath.Join(q.Dir, "peer.D.5db93972"), mqLine(3))
	mqWrite(t, q.DeferPath(), mqLine(4))
	mqWrite(t, q.FeedPath(), mqLine(5))
	// Another site's backlog is not this site's queue.
	mqWrite(t, filepath.Join(q.Dir, "other.B.5db93971"), mqLine(6))

	in := mqWrite(t, filepath.Join(t.TempDir(), "in"), mqLineRange(1, 7)...)
	st, err := q.Merge(MergeOptions{Inputs: []string{in}, DedupeQueued: true, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{mqLine(2), mqLine(6), mqLine(7)}
	if got := mqFileLines(t, st.Output); !slices.Equal(got, want) {
		t.Errorf("merged %q, want %q", got, want)
	}
	// Four queued lines, each keyed by its Message-ID and its token.
	if st.Total.Queued != 4 || st.Queued != 8 {
		t.Errorf("queued: %+v, %d keys", st.Total, st.Queued)
	}
	if mqExists(in) {
		t.Error("input not removed")
	}
	if !mqExists(old) {
		t.Error("queued backlog touched")
	}
}

// Merging a site's own backlogs with DedupeQueued must not count them as queued: they
// are the inputs, and removing them would lose their lines.
func TestMergeOwnBacklogsDedupeQueued(t *testing.T) {
	q := mqQueue(t)
	a := mqWrite(t, filepath.Join(q.Dir, "peer.B.5db93971"), mqLineRange(1, 3)...)
	b := mqWrite(t, filepath.Join(q.Dir, "peer.B.5db93972"), mqLineRange(2, 5)...)
	st, err := q.Merge(MergeOptions{Inputs: []string{a, b}, DedupeQueued: true, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mqBacklogLines(t, q), mqLineRange(1, 5); !slices.Equal(got, want) {
		t.Errorf("queue %q, want %q", got, want)
	}
	if mqExists(a) || mqExists(b) {
		t.Error("inputs not removed")
	}
	if len(st.Removed) != 2 {
		t.Errorf("removed %q", st.Removed)
	}
}

func TestMergeCompressedAndCheckpoint(t *testing.T) {
	q := mqQueue(t)
	dir := t.TempDir()
	// A compressed backlog of another site, half sent: its checkpoint says lines 1-3
	// are done except 2.
	zpath := filepath.Join(dir, "other.B.5db93971.zst")
	var zbuf bytes.Buffer
	zw, _ := zstd.NewWriter(&zbuf)
	io.WriteString(zw, strings.Join(mqLineRange(1, 5), "\n")+"\n")
	zw.Close()
	if err := os.WriteFile(zpath, zbuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(zpath)
	cp := fmt.Sprintf("%s\nsize %d\nmtime %d\nnext 4\nhole 2\nend\n", progressMagic, info.Size(), info.ModTime().UnixNano())
	if err := os.WriteFile(ProgressPath(zpath), []byte(cp), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := q.Merge(MergeOptions{Inputs: []string{zpath}, Compress: true, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(st.Output, ".zst") {
		t.Errorf("output %q not .zst", st.Output)
	}
	if !sniffCompressed(st.Output) {
		t.Error("output not compressed")
	}
	want := []string{mqLine(2), mqLine(4), mqLine(5)}
	if got := mqFileLines(t, st.Output); !slices.Equal(got, want) {
		t.Errorf("merged %q, want %q", got, want)
	}
	if mqExists(zpath) || mqExists(ProgressPath(zpath)) {
		t.Error("compressed input or its checkpoint not removed")
	}
}

func TestMergeNothingLeft(t *testing.T) {
	q := mqQueue(t)
	in := mqWrite(t, filepath.Join(t.TempDir(), "in"), strings.Repeat(" ", 20), "")
	st, err := q.Merge(MergeOptions{Inputs: []string{in}, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Output != "" {
		t.Errorf("output %q for no lines", st.Output)
	}
	if mqExists(in) {
		t.Error("input of blank lines not removed")
	}
	if names, _ := os.ReadDir(q.Dir); len(names) != 1 { // the queue lock
		t.Errorf("left in queue: %v", names)
	}
}

func TestMergeErrorsKeepInputs(t *testing.T) {
	q := mqQueue(t)
	dir := t.TempDir()
	good := mqWrite(t, filepath.Join(dir, "good"), mqLine(1))
	if _, err := q.Merge(MergeOptions{Inputs: []string{good, filepath.Join(dir, "missing")}, Remove: true}); err == nil {
		t.Fatal("missing input: no error")
	}
	// A corrupt zstd stream fails the whole merge.
	bad := filepath.Join(dir, "bad.zst")
	os.WriteFile(bad, append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte{0xff}, 64)...), 0o644)
	if _, err := q.Merge(MergeOptions{Inputs: []string{good, bad}, Remove: true}); err == nil {
		t.Fatal("corrupt zstd: no error")
	}
	if !mqExists(good) || !mqExists(bad) {
		t.Error("input removed after a failed merge")
	}
	if lines := mqBacklogLines(t, q); len(lines) != 0 {
		t.Errorf("backlog installed after a failed merge: %q", lines)
	}
	if mqExists(q.MergeTempPath()) || mqExists(q.MergeJournalPath()) {
		t.Error("temporary file or journal left")
	}
}

func TestMergeLocked(t *testing.T) {
	q := mqQueue(t)
	lk, err := q.Lock(QueueLock, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	in := mqWrite(t, filepath.Join(t.TempDir(), "in"), mqLine(1))
	_, err = q.Merge(MergeOptions{Inputs: []string{in}})
	var le *LockedError
	if !errors.As(err, &le) || !le.Temporary() {
		t.Fatalf("err = %v, want *LockedError", err)
	}
}

func TestMergeRefusesBusyInputs(t *testing.T) {
	q := mqQueue(t)
	t.Run("other site sending", func(t *testing.T) {
		other := Queue{Dir: q.Dir, Site: "other"}
		in := mqWrite(t, filepath.Join(q.Dir, "other.B.5db93971"), mqLine(1))
		lk, err := other.Lock(SendLock, "test send")
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Merge(MergeOptions{Inputs: []string{in}, Remove: true})
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("err = %v, want *LockedError", err)
		}
		var w mqWarnings
		if _, err := q.Merge(MergeOptions{Inputs: []string{in}, Warn: w.add}); err != nil || len(w.errs) != 1 {
			t.Fatalf("without Remove: %v, warnings %v", err, &w)
		}
		lk.Unlock()
		if _, err := q.Merge(MergeOptions{Inputs: []string{in}, Remove: true}); err != nil {
			t.Fatal(err)
		}
		if mqExists(in) {
			t.Error("not removed")
		}
	})
	t.Run("two backlogs of one other site", func(t *testing.T) {
		mqWrite(t, filepath.Join(q.Dir, "third.send.lock"))
		a := mqWrite(t, filepath.Join(q.Dir, "third.B.5db93971"), mqLine(1))
		b := mqWrite(t, filepath.Join(q.Dir, "third.B.5db93972"), mqLine(2))
		if _, err := q.Merge(MergeOptions{Inputs: []string{a, b}, Remove: true}); err != nil {
			t.Fatal(err)
		}
		if mqExists(a) || mqExists(b) {
			t.Error("not removed")
		}
	})
	t.Run("own feed file", func(t *testing.T) {
		mqWrite(t, q.FeedPath(), mqLine(2))
		if _, err := q.Merge(MergeOptions{Inputs: []string{q.FeedPath()}, Remove: true}); err == nil {
			t.Fatal("removing the live feed file: no error")
		}
		mqWrite(t, q.RotatingPath(), mqLine(2))
		if _, err := q.Merge(MergeOptions{Inputs: []string{q.RotatingPath()}, Remove: true}); err == nil {
			t.Fatal("removing S.rotating: no error")
		}
		if _, err := q.Merge(MergeOptions{Inputs: []string{q.FeedPath(), q.RotatingPath()}}); err != nil {
			t.Fatalf("merging a copy of them: %v", err)
		}
	})
	t.Run("nntpsend lock", func(t *testing.T) {
		run := t.TempDir()
		in := mqWrite(t, filepath.Join(t.TempDir(), "peer=n"), mqLine(3))
		lock := filepath.Join(run, "LOCK.peer")
		os.WriteFile(lock, []byte(fmt.Sprintf("%10d\n", os.Getppid())), 0o644) // a live process
		_, err := q.Merge(MergeOptions{Inputs: []string{in}, Remove: true, ShlockDir: run})
		var be *BusyError
		if !errors.As(err, &be) || !be.Temporary() {
			t.Fatalf("err = %v, want *BusyError", err)
		}
		os.WriteFile(lock, []byte(fmt.Sprintf("%10d\n", 0x7ffffff0)), 0o644) // stale
		work := mqWrite(t, filepath.Join(filepath.Dir(in), "peer.work"), mqLine(4))
		if _, err := q.Merge(MergeOptions{Inputs: []string{in, work}, Remove: true, ShlockDir: run}); err != nil {
			t.Fatal(err)
		}
		if mqExists(lock) {
			t.Error("shlock not released")
		}
		if mqExists(in) || mqExists(work) {
			t.Error("not removed")
		}
	})
}

func TestQueueFileSites(t *testing.T) {
	tests := []struct {
		base string
		want []string
	}{
		{"a.B.5db93971", []string{"a"}},
		{"a.D.5db93971.zst", []string{"a"}},
		{"x.B.y.D.1", []string{"x.B.y", "x"}},
		{"peer.defer", []string{"peer"}},
		{"peer", nil},
		{".B.x", nil},
	}
	for _, tt := range tests {
		if got := queueFileSites(tt.base); !slices.Equal(got, tt.want) {
			t.Errorf("queueFileSites(%q) = %q, want %q", tt.base, got, tt.want)
		}
	}
}

func TestInnfeedCheckpoint(t *testing.T) {
	tests := []struct {
		line string
		off  int64
		ok   bool
	}{
		{"159                           ", 159, true},
		{"0 ", 0, true},
		{"159", 0, false}, // no spaces: an article path
		{"   ", 0, false},
		{"12a ", 0, false},
		{"99999999999999999999999 ", 0, false},
	}
	for _, tt := range tests {
		off, ok := innfeedCheckpoint([]byte(tt.line))
		if off != tt.off || ok != tt.ok {
			t.Errorf("innfeedCheckpoint(%q) = %d, %v", tt.line, off, ok)
		}
	}
}

func TestJournalRoundTrip(t *testing.T) {
	j := journal{Tmp: "/x/peer.merge.tmp", Inputs: []journalInput{
		{Path: "/a b/c\nd", ID: fileID{Dev: 1, Ino: 2, Size: 3}},
		{Path: "/e", ID: fileID{Dev: 4, Ino: 5, Size: 0}},
	}}
	got, err := parseJournal(j.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Tmp != j.Tmp || !slices.Equal(got.Inputs, j.Inputs) {
		t.Errorf("round trip: %+v", got)
	}
	for _, bad := range []string{"", "nxmit-merge-journal 1\n", "nxmit-merge-journal 1\ntmp \"x\"\ninput 1 2 3 \"p\"\n", "x\n"} {
		if _, err := parseJournal([]byte(bad)); err == nil {
			t.Errorf("parseJournal(%q): no error", bad)
		}
	}
}

func TestIDSetKey(t *testing.T) {
	tests := []struct {
		a, b Line
		same bool
	}{
		{Line{Article: "x", MessageID: "<a@Example.ORG>"}, Line{Article: "y", MessageID: "<a@example.org>"}, true},
		{Line{MessageID: "<A@example.org>"}, Line{MessageID: "<a@example.org>"}, false},
		{Line{MessageID: "<PostMaster@example.org>"}, Line{MessageID: "<postmaster@example.org>"}, true},
		{Line{MessageID: "<postmasters@example.org>"}, Line{MessageID: "<PostMasters@example.org>"}, false},
		{Line{Article: "<a@b>"}, Line{MessageID: "<a@b>"}, false},
		{Line{Article: "tok"}, Line{Article: "tok"}, true},
	}
	for _, tt := range tests {
		s := NewIDSet()
		s.Add(tt.a)
		if got := s.Has(tt.b); got != tt.same {
			t.Errorf("%+v vs %+v: same = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// The set's memory per key, as IDSetBytesPerLine states; run with -bench IDSetMemory.
func BenchmarkIDSetMemory(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		var before, after runtimeMem
		readRuntimeMem(&before)
		s := NewIDSet()
		for i := range n {
			s.Add(Line{MessageID: fmt.Sprintf("<%d.bench@example.org>", i)})
		}
		readRuntimeMem(&after)
		b.ReportMetric(float64(after.heap-before.heap)/n, "bytes/key")
		if s.Len() != n {
			b.Fatal("lost keys")
		}
	}
}

func TestIDSetMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million keys")
	}
	var before, after runtimeMem
	readRuntimeMem(&before)
	s := NewIDSet()
	l := Line{} // one key a line: the Message-ID
	worst := 0.0
	n := 0
	// The table is emptiest right after it grows. Its size is measured exactly; the
	// heap, which other tests' goroutines also use, only for the log.
	for ; n < 1_000_000; n++ {
		size := len(s.slots)
		l.MessageID = "<" + strconv.Itoa(n) + ".bench@example.org>"
		s.Add(l)
		if len(s.slots) != size && n > 1000 {
			worst = max(worst, float64(16*len(s.slots))/float64(n+1))
		}
	}
	readRuntimeMem(&after)
	t.Logf("heap: %.1f bytes per key at %d keys; table: %.1f now, %.1f at worst", float64(after.heap-before.heap)/float64(n),
		n, float64(16*len(s.slots))/float64(n), worst)
	if worst > IDSetBytesPerLine+0.1 {
		t.Errorf("%.1f bytes per key, IDSetBytesPerLine says %d", worst, IDSetBytesPerLine)
	}
	if s.Len() != n {
		t.Errorf("Len %d, want %d", s.Len(), n)
	}
}
