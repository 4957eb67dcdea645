package batch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func mqDeferral(t testing.TB, q Queue, created time.Time, lines ...string) string {
	t.Helper()
	return mqWrite(t, filepath.Join(q.Dir, q.Name(KindDeferred, created, false)), lines...)
}

func TestRequeue(t *testing.T) {
	q := mqQueue(t)
	now := time.Now()
	d1 := mqDeferral(t, q, now.Add(-20*time.Minute), mqLine(1), mqLine(2), "", strings.Repeat(" ", 40), mqLine(7)+"\r", mqLine(1))
	// A compressed deferral file named without .zst.
	var zb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb)
	fmt.Fprintf(zw, "%s\n%s\n", mqLine(3), mqLine(2))
	zw.Close()
	d2 := filepath.Join(q.Dir, q.Name(KindDeferred, now.Add(-15*time.Minute), false))
	os.WriteFile(d2, zb.Bytes(), 0o644)
	young := mqDeferral(t, q, now.Add(-time.Minute), mqLine(9))
	// A crashed send's S.defer, last written half an hour ago, ending in a partial line.
	os.WriteFile(q.DeferPath(), []byte(mqLine(4)+"\n"+mqLine(5)+"\n"+mqTok(6)+" <6.fix"), 0o644)
	old := now.Add(-30 * time.Minute)
	os.Chtimes(q.DeferPath(), old, old)

	var w mqWarnings
	st, err := q.Requeue(RequeueOptions{RetryDelay: 10 * time.Minute, Now: now, Warn: w.add})
	if err != nil {
		t.Fatal(err)
	}
	want := mqLineRange(1, 5)
	if got := mqFileLines(t, st.Output); !slices.Equal(got, want) {
		t.Errorf("requeued:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(w.errs) != 1 || !strings.HasPrefix(w.errs[0].Error(), d1+":5: carriage return") {
		t.Errorf("warnings: %v", &w)
	}
	if st.StaleDefer == "" || st.SendBusy || st.Waiting != 1 {
		t.Errorf("stats %+v", st)
	}
	if tot := st.Total; tot.Written != 5 || tot.Duplicates != 2 || tot.Malformed != 1 || tot.Blank != 2 || tot.Lines != 10 {
		t.Errorf("total %+v", tot)
	}
	for _, p := range []string{d1, d2, q.DeferPath(), st.StaleDefer} {
		if mqExists(p) {
			t.Errorf("%s not removed", filepath.Base(p))
		}
	}
	if !mqExists(young) {
		t.Error("deferral file not yet due was requeued")
	}
	files, _ := q.Backlogs()
	if len(files) != 1 || files[0].Path != st.Output {
		t.Errorf("backlogs %v", files)
	}
	if slices.Contains(baseNamesOf(t, q.Dir), filepath.Base(q.MergeJournalPath())) {
		t.Error("journal left")
	}
}

func baseNamesOf(t testing.TB, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

// While a send holds the send lock, S.defer is that send's: requeue leaves it alone.
func TestRequeueSendBusy(t *testing.T) {
	q := mqQueue(t)
	now := time.Now()
	d := mqDeferral(t, q, now.Add(-time.Hour), mqLine(1))
	mqWrite(t, q.DeferPath(), mqLine(2))
	old := now.Add(-time.Hour)
	os.Chtimes(q.DeferPath(), old, old)
	lk, err := q.Lock(SendLock, "nxmit send peer")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	st, err := q.Requeue(RequeueOptions{RetryDelay: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !st.SendBusy || st.StaleDefer != "" {
		t.Errorf("stats %+v", st)
	}
	if got := mqFileLines(t, st.Output); !slices.Equal(got, []string{mqLine(1)}) {
		t.Errorf("requeued %q", got)
	}
	if got := mqFileLines(t, q.DeferPath()); !slices.Equal(got, []string{mqLine(2)}) {
		t.Errorf("S.defer now %q", got)
	}
	if mqExists(d) {
		t.Error("due deferral file not removed")
	}
}

// A stale S.defer written to recently is closed, and waits for the retry delay.
func TestRequeueYoungStaleDefer(t *testing.T) {
	q := mqQueue(t)
	mqWrite(t, q.DeferPath(), mqLine(1))
	st, err := q.Requeue(RequeueOptions{RetryDelay: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if st.Output != "" || st.StaleDefer == "" || st.Waiting != 1 {
		t.Errorf("stats %+v", st)
	}
	if mqExists(q.DeferPath()) || !mqExists(st.StaleDefer) {
		t.Errorf("S.defer not closed into %s", st.StaleDefer)
	}
	// With no retry delay it goes now.
	st, err = q.Requeue(RequeueOptions{Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(st.Output, ".zst") || !sniffCompressed(st.Output) {
		t.Errorf("output %q not compressed", st.Output)
	}
	if got := mqFileLines(t, st.Output); !slices.Equal(got, []string{mqLine(1)}) {
		t.Errorf("requeued %q", got)
	}
}

func TestRequeueNothingDue(t *testing.T) {
	q := mqQueue(t)
	st, err := q.Requeue(RequeueOptions{RetryDelay: time.Minute})
	if err != nil || st.Output != "" || len(st.Inputs) != 0 {
		t.Fatalf("%+v, %v", st, err)
	}
	// Files of blank lines only make no backlog, and go away.
	d := mqDeferral(t, q, time.Now().Add(-time.Hour), strings.Repeat(" ", 30))
	st, err = q.Requeue(RequeueOptions{RetryDelay: time.Minute})
	if err != nil || st.Output != "" {
		t.Fatalf("%+v, %v", st, err)
	}
	if mqExists(d) {
		t.Error("blank deferral file kept")
	}
}

func TestRequeueLocked(t *testing.T) {
	q := mqQueue(t)
	lk, err := q.Lock(QueueLock, "nxmit rotate peer")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()
	_, err = q.Requeue(RequeueOptions{})
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.Command != "nxmit rotate peer" {
		t.Fatalf("err = %v", err)
	}
}

// A requeue that crashed after installing its backlog is finished by the next one: its
// inputs are removed before anything else, so no line is queued twice.
func TestRequeueFinishesCrashedRequeue(t *testing.T) {
	q := mqQueue(t)
	d := mqDeferral(t, q, time.Now().Add(-time.Hour), mqLine(1))
	info, _ := os.Stat(d)
	j := journal{Tmp: q.MergeTempPath(), Inputs: []journalInput{{Path: d, ID: fileIDOf(info)}}}
	if err := os.WriteFile(q.MergeJournalPath(), j.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	mqWrite(t, filepath.Join(q.Dir, q.Name(KindBacklog, time.Now(), false)), mqLine(1))
	st, err := q.Requeue(RequeueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Output != "" || mqExists(d) || mqExists(q.MergeJournalPath()) {
		t.Errorf("after recovery: %+v; input left %v", st, mqExists(d))
	}
	if got := mqBacklogLines(t, q); !slices.Equal(got, []string{mqLine(1)}) {
		t.Errorf("queue %q", got)
	}

	// A journal whose temporary file still exists was not committed: inputs stay.
	d = mqDeferral(t, q, time.Now().Add(-time.Hour), mqLine(2))
	info, _ = os.Stat(d)
	j = journal{Tmp: q.MergeTempPath(), Inputs: []journalInput{{Path: d, ID: fileIDOf(info)}}}
	os.WriteFile(q.MergeJournalPath(), j.encode(), 0o644)
	mqWrite(t, q.MergeTempPath(), mqLine(2))
	removed, err := q.RecoverMerge()
	if err != nil || len(removed) != 0 || !mqExists(d) || mqExists(q.MergeTempPath()) {
		t.Fatalf("rollback: removed %q, %v; input kept %v", removed, err, mqExists(d))
	}
}

// A journal naming a path that now holds another file leaves that file alone.
func TestRecoverMergeReplacedInput(t *testing.T) {
	q := mqQueue(t)
	p := mqWrite(t, filepath.Join(t.TempDir(), "in"), mqLine(1))
	info, _ := os.Stat(p)
	j := journal{Tmp: q.MergeTempPath(), Inputs: []journalInput{{Path: p, ID: fileIDOf(info)}}}
	os.WriteFile(q.MergeJournalPath(), j.encode(), 0o644)
	os.Remove(p)
	mqWrite(t, p, mqLine(1), mqLine(2)) // a new file, new inode and size
	if removed, err := q.RecoverMerge(); err != nil || len(removed) != 0 {
		t.Fatalf("removed %q, %v", removed, err)
	}
	if !mqExists(p) {
		t.Error("replaced file removed")
	}
}

// mqBigDeferral writes n lines of typical length into a deferral file due for requeue,
// one in 10 a duplicate, and returns its size.
func mqBigDeferral(b testing.TB, q Queue, n int) int64 {
	p := filepath.Join(q.Dir, q.Name(KindDeferred, time.Now().Add(-time.Hour), false))
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		k := i
		if i%10 == 9 {
			k = i - 5
		}
		fmt.Fprintf(w, "@0201%08X%024X@ <%d.%x@bench.example.org>\n", 0x5F3A1B2C, k, k, k*7919)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	info, _ := f.Stat()
	f.Close()
	return info.Size()
}

// BenchmarkRequeue1M requeues a 1,000,000-line deferral file (about 80 MB); MB/s is of
// the input.
func BenchmarkRequeue1M(b *testing.B) {
	for _, compress := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "zstd-out"}[compress], func(b *testing.B) {
			q := Queue{Dir: b.TempDir(), Site: "peer"}
			for b.Loop() {
				b.StopTimer()
				size := mqBigDeferral(b, q, 1_000_000)
				b.SetBytes(size)
				b.StartTimer()
				st, err := q.Requeue(RequeueOptions{Compress: compress})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if st.Total.Written != 900_000 {
					b.Fatalf("wrote %d", st.Total.Written)
				}
				os.Remove(st.Output)
				b.StartTimer()
			}
		})
	}
}

// RetryDelay 0 requeues every deferral file, also one whose name lies in the future (a
// name taken within the same second as another moves on to the next second).
func TestRequeueZeroDelayTakesFutureNames(t *testing.T) {
	q := Queue{Dir: t.TempDir(), Site: "peer"}
	now := time.Now()
	for i, at := range []time.Time{now.Add(-time.Hour), now.Add(10 * time.Minute)} {
		p := filepath.Join(q.Dir, q.Name(KindDeferred, at, false))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("a%d <%d@x>\n", i, i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := q.Requeue(RequeueOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if st.Waiting != 0 || st.Total.Written != 2 {
		t.Errorf("waiting %d, written %d; want every file requeued", st.Waiting, st.Total.Written)
	}
	if defs, _ := q.Deferrals(); len(defs) != 0 {
		t.Errorf("left %v", defs)
	}
}
