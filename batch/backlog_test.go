package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// backlogText returns n good lines "tok mid\n", numbered from 1.
func backlogText(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s %s\n", tok(i), mid(i))
	}
	return b.Bytes()
}

// readAll calls Next to the end, returning good records and malformed ones.
func readAll(t testing.TB, b *Backlog) (good, bad []Record) {
	t.Helper()
	for {
		rec, err := b.Next()
		if err == io.EOF {
			return good, bad
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Err != nil {
			bad = append(bad, rec)
		} else {
			good = append(good, rec)
		}
	}
}

func lineNos(recs []Record) []int {
	var out []int
	for _, r := range recs {
		out = append(out, r.LineNo)
	}
	return out
}

func TestBacklogBlankConcurrent(t *testing.T) {
	dir := t.TempDir()
	content := string(backlogText(3)) + // 1-3
		strings.Repeat(" ", 40) + "\n" + // 4 already blanked
		"\n" + // 5
		tok(6) + " <bad\n" // 6 malformed
	for i := 7; i <= 2000; i++ {
		content += fmt.Sprintf("%s %s\n", tok(i), mid(i))
	}
	path := touch(t, dir, "peer.B.5db93971", content, time.Time{})

	b, err := OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := readAll(t, b)
	if len(good) != 1997 || len(bad) != 1 || bad[0].LineNo != 6 {
		t.Fatalf("good %d, bad %v", len(good), lineNos(bad))
	}
	if !strings.HasPrefix(bad[0].Err.Error(), path+":6: ") {
		t.Errorf("malformed line error %q", bad[0].Err)
	}
	if b.Finished() {
		t.Fatal("Finished before any Done")
	}
	// Several connections finish lines out of order.
	rand.Shuffle(len(good), func(i, j int) { good[i], good[j] = good[j], good[i] })
	var wg sync.WaitGroup
	errs := make(chan error, len(good))
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(good); i += 8 {
				if err := b.Done(good[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !b.Finished() || b.Outstanding() != 0 {
		t.Errorf("not Finished after all Done")
	}
	st := b.Stats()
	if want := (BacklogStats{Lines: 2000, Blank: 2, Malformed: 1, Offered: 1997, Done: 1997}); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
	if err := b.Done(good[0]); err == nil {
		t.Error("a second Done of the same line was accepted")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(content) {
		t.Fatalf("size changed %d -> %d", len(content), len(after))
	}
	for i, l := range strings.Split(strings.TrimSuffix(string(after), "\n"), "\n") {
		orig := strings.Split(content, "\n")[i]
		switch {
		case i+1 == 6:
			if l != orig {
				t.Errorf("malformed line changed: %q", l)
			}
		case strings.Trim(l, " ") != "" || len(l) != len(orig):
			t.Errorf("line %d not blanked to %d spaces: %q", i+1, len(orig), l)
		}
	}

	// Reopened, only the malformed line is left.
	b, err = OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	good, bad = readAll(t, b)
	if len(good) != 0 || len(bad) != 1 || !b.Finished() {
		t.Errorf("after reopen: good %v bad %v finished %v", lineNos(good), lineNos(bad), b.Finished())
	}
}

func TestBacklogDoneAll(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := 1; i <= 3000; i++ {
		l := tok(i) + " " + mid(i)
		switch {
		case i%500 == 0:
			l = tok(i) + " <bad" // malformed: must survive between blanked neighbours
		case i%97 == 0:
			l = "news/" + strings.Repeat("d", 400) + fmt.Sprint("/", i) // longer lines
		case i%701 == 0:
			l = tok(i) + " <" + strings.Repeat("m", 240) + ">"
		}
		lines = append(lines, l)
	}
	content := strings.Join(lines, "\n") + "\n"
	path := touch(t, dir, "peer.B.5db93971", content, time.Time{})
	b, err := OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := readAll(t, b)
	keep := func(n int) bool { return n%13 == 0 } // left undone (Unsent)
	var todo []Record
	for _, r := range good {
		if !keep(r.LineNo) {
			todo = append(todo, r)
		}
	}
	// Batches of 50 consecutive offers, finished by 4 connections in any order.
	var batches [][]Record
	for i := 0; i < len(todo); i += 50 {
		batch := slices.Clone(todo[i:min(i+50, len(todo))])
		rand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		batches = append(batches, batch)
	}
	rand.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(batches); i += 4 {
				if err := b.DoneAll(batches[i]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := b.DoneAll(todo[:2]); err == nil || !strings.Contains(err.Error(), "done twice") {
		t.Errorf("DoneAll of done lines: %v", err)
	}
	if b.Finished() || b.Outstanding() != len(good)-len(todo) {
		t.Errorf("Finished %v, Outstanding %d, want %d", b.Finished(), b.Outstanding(), len(good)-len(todo))
	}
	b.Close()

	after, _ := os.ReadFile(path)
	got := strings.Split(strings.TrimSuffix(string(after), "\n"), "\n")
	if len(got) != len(lines) {
		t.Fatalf("%d lines after blanking, want %d", len(got), len(lines))
	}
	for i, l := range got {
		n := i + 1
		if n%500 == 0 || keep(n) {
			if l != lines[i] {
				t.Errorf("line %d changed: %.50q", n, l)
			}
		} else if l != strings.Repeat(" ", len(lines[i])) {
			t.Errorf("line %d not blanked: %.50q", n, l)
		}
	}
}

func TestBacklogResumePlain(t *testing.T) {
	dir := t.TempDir()
	path := touch(t, dir, "peer.B.5db93971", string(backlogText(100)), time.Time{})
	b, err := OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	var offered []Record
	for range 60 {
		rec, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		offered = append(offered, rec)
	}
	for _, r := range offered {
		if r.LineNo%3 != 0 { // lines 3, 6, ... stay (Unsent, Failed)
			if err := b.Done(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Crash: no Close, no Sync. Blanks are in the kernel already.
	b.f.Close()

	b, err = OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	good, _ := readAll(t, b)
	var want []int
	for n := 1; n <= 100; n++ {
		if n > 60 || n%3 == 0 {
			want = append(want, n)
		}
	}
	if got := lineNos(good); !slices.Equal(got, want) {
		t.Errorf("re-offered %v\nwant %v", got, want)
	}
	if good[0].Line.MessageID != mid(3) || good[0].Line.Article != tok(3) {
		t.Errorf("first record %+v", good[0])
	}
}

func TestBacklogPartialLastLine(t *testing.T) {
	dir := t.TempDir()
	content := string(backlogText(2)) + tok(3) + " <3.te"
	path := touch(t, dir, "peer.B.5db93971", content, time.Time{})
	b, err := OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := readAll(t, b)
	if len(good) != 2 || len(bad) != 1 || !errors.Is(bad[0].Err, ErrPartialLine) {
		t.Fatalf("good %v bad %v", lineNos(good), bad)
	}
	for _, r := range good {
		b.Done(r)
	}
	if !b.Finished() {
		t.Error("a partial last line keeps the backlog from finishing")
	}
	b.Close()
	after, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(after), "\n"+tok(3)+" <3.te") {
		t.Errorf("partial line touched: %q", after[len(after)-50:])
	}
}

// zstdBacklog writes n lines as a zstd backlog and returns its path.
func zstdBacklog(t testing.TB, dir string, n int) string {
	t.Helper()
	q := Queue{Dir: dir, Site: "peer"}
	path, err := q.Create(KindBacklog, true, func(w io.Writer) error {
		_, err := w.Write(backlogText(n))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBacklogZstdProgress(t *testing.T) {
	dir := t.TempDir()
	path := zstdBacklog(t, dir, 1000)
	b, err := OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.Compressed() != "zstd" {
		t.Fatalf("Compressed() = %q", b.Compressed())
	}
	recs := map[int]Record{}
	for range 600 {
		rec, err := b.Next()
		if err != nil || rec.Err != nil {
			t.Fatal(err, rec.Err)
		}
		recs[rec.LineNo] = rec
	}
	// At the checkpoint: lines 1-500 done except multiples of 50 (in
	// flight); 501-600 in flight.
	for n := 1; n <= 500; n++ {
		if n%50 != 0 {
			if err := b.Done(recs[n]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	// After the checkpoint, more lines finish, then the process dies.
	for n := 501; n <= 550; n++ {
		b.Done(recs[n])
	}
	b.Done(recs[100])
	b.f.Close() // crash: no Sync, no Close

	b, err = OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.Warning() != nil {
		t.Fatal(b.Warning())
	}
	// Read up to line 520, then checkpoint before the old holes above are
	// reached: they must survive in the new checkpoint.
	var second []int
	for {
		rec, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		second = append(second, rec.LineNo)
		if err := b.Done(rec); err != nil {
			t.Fatal(err)
		}
		if rec.LineNo >= 520 {
			break
		}
	}
	var want []int
	for n := 50; n <= 500; n += 50 {
		want = append(want, n)
	}
	for n := 501; n <= 520; n++ {
		want = append(want, n)
	}
	if !slices.Equal(second, want) {
		t.Fatalf("re-offered %v\nwant %v", second, want)
	}
	if st := b.Stats(); st.Resumed != 490 {
		t.Errorf("Resumed = %d, want 490", st.Resumed)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	b.f.Close() // crash again

	b, err = OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	var third []int
	for {
		rec, err := b.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		third = append(third, rec.LineNo)
		b.Done(rec)
	}
	want = want[:0]
	for n := 521; n <= 1000; n++ {
		want = append(want, n)
	}
	if !slices.Equal(third, want) {
		t.Fatalf("third pass offered %v...", third[:min(10, len(third))])
	}
	if !b.Finished() {
		t.Fatal("not finished")
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left after Remove: %v", names)
	}
}

func TestBacklogZstdProgressIgnored(t *testing.T) {
	dir := t.TempDir()
	path := zstdBacklog(t, dir, 10)
	for _, tc := range []struct{ name, content string }{
		{"garbage", "hello\n"},
		{"truncated", progressMagic + "\nsize 1\nmtime 1\nnext 5\nhole 2\n"},
		{"other file", progressMagic + "\nsize 1\nmtime 1\nnext 5\nend\n"},
		{"unsorted holes", progressMagic + "\nsize 1\nmtime 1\nnext 5\nhole 3\nhole 2\nend\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			touch(t, dir, filepath.Base(ProgressPath(path)), tc.content, time.Time{})
			b, err := OpenBacklog(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Warning() == nil || !strings.Contains(b.Warning().Error(), "ignoring progress file") {
				t.Errorf("Warning() = %v", b.Warning())
			}
			if good, _ := readAll(t, b); len(good) != 10 {
				t.Errorf("offered %d lines, want all 10", len(good))
			}
		})
	}
}

func TestBacklogReadOnlyCompressed(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root ignores file permissions: run this test as nobody instead, so that it
		// runs in CI (as root) too.
		runAsNobody(t, "TestBacklogReadOnlyCompressed")
		return
	}
	dir := t.TempDir()
	path := zstdBacklog(t, dir, 3)
	os.Chmod(path, 0o444)
	b, err := OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

// TestBacklogMemoryFlat reads and blanks a 1,000,000-line backlog and checks
// that the heap stays small throughout.
func TestBacklogMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 70 MB file")
	}
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			path, _ := bigBacklog(t, t.TempDir(), 1_000_000, compress)
			var ms runtime_MemStats
			readMem(&ms)
			base := ms.HeapAlloc
			var first uint64 // after 100,000 lines: buffers and decoder allocated
			b, err := OpenBacklog(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			var peak uint64
			n := 0
			for {
				rec, err := b.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Done(rec); err != nil {
					t.Fatal(err)
				}
				n++
				if n%100_000 == 0 {
					if err := b.Sync(); err != nil {
						t.Fatal(err)
					}
					readMem(&ms)
					peak = max(peak, ms.HeapAlloc)
					if first == 0 {
						first = ms.HeapAlloc
					}
				}
			}
			if n != 1_000_000 || !b.Finished() {
				t.Fatalf("read %d lines, finished %v", n, b.Finished())
			}
			fixed := int64(first) - int64(base)
			growth := int64(peak) - int64(first)
			t.Logf("heap: %d KiB after 1e5 lines (buffers, decoder), then %+d KiB up to 1e6 lines", fixed/1024, growth/1024)
			if fixed > 16<<20 {
				t.Errorf("heap grew by %d MiB for the first 100,000 lines", fixed>>20)
			}
			if growth > 1<<20 {
				t.Errorf("heap grew by %d KiB from 1e5 to 1e6 lines", growth>>10)
			}
		})
	}
}

// bigBacklog writes n lines, plain or zstd, through Create, and returns the
// path and the uncompressed size.
func bigBacklog(t testing.TB, dir string, n int, compress bool) (string, int64) {
	t.Helper()
	var size int64
	path, err := Queue{Dir: dir, Site: "peer"}.Create(KindBacklog, compress, func(w io.Writer) error {
		buf := make([]byte, 0, 128)
		for i := 1; i <= n; i++ {
			buf = fmt.Appendf(buf[:0], "%s %s\n", tok(i), mid(i))
			size += int64(len(buf))
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path, size
}

// BenchmarkBacklogReadBlank reads and completes a 1,000,000-line backlog:
// one Done per line, or DoneAll with batches of 128 as a streaming
// connection would deliver them.
func BenchmarkBacklogReadBlank(b *testing.B) {
	const lines = 1_000_000
	for _, tc := range []struct {
		compress bool
		batch    int
	}{{false, 1}, {false, 128}, {true, 1}} {
		compress := tc.compress
		b.Run(fmt.Sprintf("compress=%v/batch=%d", tc.compress, tc.batch), func(b *testing.B) {
			dir := b.TempDir()
			path, size := bigBacklog(b, dir, lines, compress)
			orig, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				if err := os.WriteFile(path, orig, 0o644); err != nil {
					b.Fatal(err)
				}
				os.Remove(ProgressPath(path))
				b.StartTimer()
				start := time.Now()
				bl, err := OpenBacklog(path)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				batch := make([]Record, 0, tc.batch)
				for {
					rec, err := bl.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
					if batch = append(batch, rec); len(batch) < tc.batch {
						continue
					}
					if err := bl.DoneAll(batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
				if err := bl.DoneAll(batch); err != nil {
					b.Fatal(err)
				}
				if !bl.Finished() {
					b.Fatal("not finished")
				}
				if err := bl.Close(); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				if n != lines {
					b.Fatalf("%d lines", n)
				}
			}
			secs := elapsed.Seconds() / float64(b.N)
			b.ReportMetric(lines/secs, "lines/s")
			b.ReportMetric(float64(size)/1e6/secs, "MB/s")
		})
	}
}

// FuzzBacklogBlank completes every good line of an arbitrary file, in
// batches, and checks that exactly those bytes became spaces.
func FuzzBacklogBlank(f *testing.F) {
	f.Add([]byte(string(backlogText(5))+"  \n\nbad line\r\n"+tok(9)), uint8(3))
	f.Add([]byte(strings.Repeat("x", MaxLineLen+1)+"\n"+tok(1)+"\n"), uint8(1))
	f.Add([]byte(tok(1)+" <a\x00>\n"+tok(2)+" <\xff>\n"+tok(3)+"\n"), uint8(2))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, batch uint8) {
		path := filepath.Join(dir, "peer.B.5db93971")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := OpenBacklog(path)
		if err != nil {
			t.Fatal(err)
		}
		good, _ := readAll(t, b)
		size := max(int(batch), 1)
		for i := 0; i < len(good); i += size {
			if err := b.DoneAll(slices.Clone(good[i:min(i+size, len(good))])); err != nil {
				t.Fatal(err)
			}
		}
		if b.Compressed() == "" && !b.Finished() {
			t.Fatal("not finished")
		}
		b.Close()
		if b.Compressed() != "" {
			return
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Clone(data)
		for _, r := range good {
			copy(want[r.Offset:], bytes.Repeat([]byte{' '}, r.Len))
		}
		if !bytes.Equal(after, want) {
			t.Fatalf("file after blanking differs:\n%q\nwant\n%q", after, want)
		}
	})
}

// runAsNobody runs the test named name in a copy of this test binary as uid and gid
// 65534 (nobody, nogroup), and fails unless it passed there.
func runAsNobody(t *testing.T, name string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nxmit-nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "batch.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+os.TempDir(), "GOCOVERDIR=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s as nobody: %v\n%s", name, err, out)
	}
}
