package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"nxmit/innctl"
)

// rotInnd imitates what innd does with a file feed: it appends to an open
// descriptor on the feed path, and on flush writes what it holds, opens the
// path again (creating it) and closes the old descriptor.
type rotInnd struct {
	t    testing.TB
	path string

	mu      sync.Mutex
	fd      *os.File // nil: buffering in memory (innd's LRU of file feeds)
	mem     bytes.Buffer
	next    int      // number of the next line
	written []string // every line written, in order
	flushes int

	// beforeFlush runs inside Flush before innd writes and reopens, as
	// articles arriving while the flush is on its way.
	beforeFlush func()
	// err, when set, is what Flush returns without doing anything.
	err error
	// check is returned by Check.
	check error
}

func newRotInnd(t testing.TB, q Queue) *rotInnd {
	n := &rotInnd{t: t, path: q.FeedPath()}
	n.reopen()
	t.Cleanup(func() {
		if n.fd != nil {
			n.fd.Close()
		}
	})
	return n
}

func (n *rotInnd) reopen() {
	fd, err := os.OpenFile(n.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o664)
	if err != nil {
		n.t.Fatal(err)
	}
	if n.fd != nil {
		n.fd.Close()
	}
	n.fd = fd
}

// write appends count lines to the open file.
func (n *rotInnd) write(count int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var b bytes.Buffer
	for range count {
		l := fmt.Sprintf("@0201%032X@ <%d@rot.test>", n.next, n.next)
		n.next++
		n.written = append(n.written, l)
		b.WriteString(l + "\n")
	}
	if n.fd == nil {
		n.mem.Write(b.Bytes())
		return
	}
	if _, err := n.fd.Write(b.Bytes()); err != nil {
		n.t.Fatal(err)
	}
}

// buffer closes the file and keeps later lines in memory until the next flush.
func (n *rotInnd) buffer() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fd.Close()
	n.fd = nil
}

// writeRaw appends bytes as they are (for partial lines).
func (n *rotInnd) writeRaw(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.fd.WriteString(s); err != nil {
		n.t.Fatal(err)
	}
}

func (n *rotInnd) Flush(ctx context.Context, site string) error {
	if n.err != nil {
		return n.err
	}
	if n.beforeFlush != nil {
		n.beforeFlush()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.flushes++
	n.reopen()
	if n.mem.Len() > 0 {
		if _, err := n.fd.Write(n.mem.Bytes()); err != nil {
			n.t.Fatal(err)
		}
		n.mem.Reset()
	}
	return nil
}

func (n *rotInnd) Check() error { return n.check }

// noFlush fails the test when a flush is asked for.
type noFlush struct{ t testing.TB }

func (f noFlush) Flush(context.Context, string) error {
	f.t.Error("unexpected flush")
	return errors.New("unexpected flush")
}

// rotLines returns the lines of every backlog of q, decompressing .zst.
func rotLines(t testing.TB, q Queue) []string {
	t.Helper()
	files, err := q.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		out = append(out, rotFileLines(t, f.Path)...)
	}
	return out
}

func rotFileLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if compression(b) == "zstd" {
		d, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if b, err = io.ReadAll(d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("%s: does not end in a newline", path)
	}
	return strings.Fields(strings.ReplaceAll(strings.TrimSuffix(string(b), "\n"), " ", "_"))
}

func rotWant(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.ReplaceAll(l, " ", "_")
	}
	return out
}

func rotExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func rotQueue(t testing.TB) Queue {
	return Queue{Dir: t.TempDir(), Site: "peer"}
}

type rotWarnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *rotWarnings) warn(m string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, m)
	w.mu.Unlock()
}

func (w *rotWarnings) String() string { return strings.Join(w.msgs, "\n") }

// TestRotateStates builds every intermediate state by hand, with the fake
// innd still writing where the real one would, and checks that one run
// finishes it: every line exactly once, in the order written.
func TestRotateStates(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, q Queue, n *rotInnd)
		compress bool
		state    RotateState
		flush    bool // the run must flush
		inF      int  // lines expected left in the new feed file
	}{
		{
			name: "idle", state: StateIdle, flush: true,
			setup: func(t *testing.T, q Queue, n *rotInnd) { n.write(10) },
		},
		{
			name: "idle compressed", state: StateIdle, flush: true, compress: true,
			setup: func(t *testing.T, q Queue, n *rotInnd) { n.write(10) },
		},
		{
			name: "hardlinked", state: StateHardlinked, flush: true,
			setup: func(t *testing.T, q Queue, n *rotInnd) {
				n.write(10)
				must(t, os.Link(q.FeedPath(), q.RotatingPath()))
				n.write(5) // innd goes on writing to the one inode
			},
		},
		{
			name: "moved", state: StateMoved, flush: true,
			setup: func(t *testing.T, q Queue, n *rotInnd) {
				n.write(10)
				must(t, os.Link(q.FeedPath(), q.RotatingPath()))
				must(t, os.Remove(q.FeedPath()))
				n.write(5) // to the unlinked name, until the flush
			},
		},
		{
			name: "moved and flushed but innd buffering", state: StateMoved, flush: true,
			setup: func(t *testing.T, q Queue, n *rotInnd) {
				// innd flushed, then went back to buffering in memory: no new F yet.
				n.write(10)
				must(t, os.Link(q.FeedPath(), q.RotatingPath()))
				must(t, os.Remove(q.FeedPath()))
				must(t, n.Flush(context.Background(), "peer"))
				n.buffer()
				must(t, os.Remove(q.FeedPath()))
				n.write(6)
			},
			inF: 10,
		},
		{
			name: "separated", state: StateSeparated, inF: 7,
			setup: func(t *testing.T, q Queue, n *rotInnd) {
				n.write(10)
				must(t, os.Link(q.FeedPath(), q.RotatingPath()))
				must(t, os.Remove(q.FeedPath()))
				must(t, n.Flush(context.Background(), "peer"))
				n.write(7) // the new feed file, not this rotation's
			},
		},
		{
			name: "separated, compressing crashed", state: StateSeparated, compress: true, inF: 3,
			setup: func(t *testing.T, q Queue, n *rotInnd) {
				n.write(10)
				must(t, os.Link(q.FeedPath(), q.RotatingPath()))
				must(t, os.Remove(q.FeedPath()))
				must(t, n.Flush(context.Background(), "peer"))
				n.write(3)
				// Half a zstd stream left by a crash while compressing.
				must(t, os.WriteFile(q.RotatingTempPath(), []byte("\x28\xb5\x2f\xfd\x04\x00garbage"), 0o644))
			},
		},
		{
			name: "moved, compressing crashed", state: StateMoved, compress: true, flush: true,
			setup: func(t *testing.T, q Queue, n *rotInnd) {
				n.write(10)
				must(t, os.Link(q.FeedPath(), q.RotatingPath()))
				must(t, os.Remove(q.FeedPath()))
				must(t, os.WriteFile(q.RotatingTempPath(), nil, 0o644))
			},
		},
		{
			name: "compressed, not installed", state: StateCompressed, compress: true, inF: 2,
			setup: func(t *testing.T, q Queue, n *rotInnd) {
				n.write(10)
				must(t, os.Link(q.FeedPath(), q.RotatingPath()))
				must(t, os.Remove(q.FeedPath()))
				must(t, n.Flush(context.Background(), "peer"))
				n.write(2)
				// What compress leaves just before Install: D replaced by its zstd copy.
				r := rotation{q: q, d: q.RotatingPath()}
				src, err := os.Open(q.RotatingPath())
				must(t, err)
				fi, _ := src.Stat()
				_, err = r.compress(src, fi.Size())
				src.Close()
				must(t, err)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := rotQueue(t)
			n := newRotInnd(t, q)
			tc.setup(t, q, n)
			var w rotWarnings
			var f innctl.Flusher = n
			if !tc.flush {
				f = noFlush{t}
			}
			if st, err := q.RotationState(); err != nil || st != tc.state {
				t.Errorf("RotationState() = %v, %v; want %v", st, err, tc.state)
			}
			n.beforeFlush = func() { n.write(4) } // arrive while the flush is on its way
			res, err := q.Rotate(context.Background(), RotateOptions{Flusher: f, Compress: tc.compress, Warn: w.warn})
			if err != nil {
				t.Fatal(err)
			}
			if res.Recovered != tc.state {
				t.Errorf("recovered %v, want %v", res.Recovered, tc.state)
			}
			if (tc.state != StateIdle) != strings.Contains(w.String(), "interrupted") {
				t.Errorf("warnings %q", w.String())
			}
			if tc.flush != res.Flushed {
				t.Errorf("flushed %v, want %v", res.Flushed, tc.flush)
			}
			if res.Backlog == "" || strings.HasSuffix(res.Backlog, ZstdSuffix) != tc.compress {
				t.Errorf("backlog %q (compress %v)", res.Backlog, tc.compress)
			}
			for _, p := range []string{q.RotatingPath(), q.RotatingTempPath()} {
				if rotExists(p) {
					t.Errorf("%s left behind", p)
				}
			}
			got := rotLines(t, q)
			inF := rotFileLines(t, q.FeedPath())
			all := append(slices.Clone(got), inF...)
			if want := rotWant(n.written); !slices.Equal(all, want) {
				t.Errorf("backlog+feed lines:\n%v\nwant\n%v", all, want)
			}
			if len(inF) != tc.inF {
				t.Errorf("%d lines left in the feed file, want %d", len(inF), tc.inF)
			}
			if tc.state != StateCompressed && res.Lines != int64(len(got)) {
				t.Errorf("result counts %d lines, backlog has %d", res.Lines, len(got))
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRotateDue covers the size and age rules and the cases with nothing to do.
func TestRotateDue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lines   int // -1: no feed file
		minSize int64
		maxAge  time.Duration
		later   time.Duration // clock offset
		due     bool
	}{
		{name: "no feed file", lines: -1},
		{name: "empty, no rules", lines: 0},
		{name: "empty and old", lines: 0, maxAge: time.Minute, later: time.Hour},
		{name: "non-empty, no rules", lines: 1, due: true},
		{name: "small and young", lines: 3, minSize: 1 << 20, maxAge: time.Minute},
		{name: "big enough", lines: 3, minSize: 100, maxAge: time.Minute, due: true},
		{name: "old enough", lines: 3, minSize: 1 << 20, maxAge: time.Minute, later: time.Minute, due: true},
		{name: "size rule only, small", lines: 3, minSize: 1 << 20, later: time.Hour},
		{name: "age rule only, young", lines: 3, maxAge: time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := rotQueue(t)
			var n *rotInnd
			if tc.lines >= 0 {
				n = newRotInnd(t, q)
				n.write(tc.lines)
			}
			res, err := q.Rotate(context.Background(), RotateOptions{
				MinSize: tc.minSize, MaxAge: tc.maxAge, Flusher: &rotInnd{t: t, path: q.FeedPath()},
				Now: func() time.Time { return time.Now().Add(tc.later) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rotated != tc.due || (res.Backlog != "") != tc.due {
				t.Errorf("rotated %v, backlog %q; want due %v", res.Rotated, res.Backlog, tc.due)
			}
			if tc.lines < 0 && res.FeedSize != -1 {
				t.Errorf("FeedSize %d for a missing feed file", res.FeedSize)
			}
			if tc.lines >= 0 && res.FeedAge < tc.later {
				t.Errorf("FeedAge %v, want at least %v", res.FeedAge, tc.later)
			}
			if !tc.due && rotExists(q.RotatingPath()) {
				t.Error("S.rotating made though not due")
			}
		})
	}
}

// TestRotatePartialLine: a last line without "\n" is dropped, shown, counted.
func TestRotatePartialLine(t *testing.T) {
	for _, compress := range []bool{false, true} {
		for _, complete := range []int{0, 3} {
			t.Run(fmt.Sprintf("compress=%v/lines=%d", compress, complete), func(t *testing.T) {
				q := rotQueue(t)
				n := newRotInnd(t, q)
				n.write(complete)
				n.writeRaw("@0201DEAD@ <cut")
				var w rotWarnings
				res, err := q.Rotate(context.Background(), RotateOptions{Flusher: n, Compress: compress, Warn: w.warn})
				if err != nil {
					t.Fatal(err)
				}
				if res.Partial != 1 || !strings.Contains(w.String(), `"@0201DEAD@ <cut"`) || !strings.Contains(w.String(), "15 bytes") {
					t.Errorf("partial %d, warnings %q", res.Partial, w.String())
				}
				if got, want := rotLines(t, q), rotWant(n.written); !slices.Equal(got, want) {
					t.Errorf("lines %v, want %v", got, want)
				}
				if (res.Backlog == "") != (complete == 0) || rotExists(q.RotatingPath()) {
					t.Errorf("backlog %q, S.rotating left: %v", res.Backlog, rotExists(q.RotatingPath()))
				}
			})
		}
	}
}

// TestRotateFlushFails: the state stays as it is and the error is temporary;
// the next run finishes.
func TestRotateFlushFails(t *testing.T) {
	q := rotQueue(t)
	n := newRotInnd(t, q)
	n.write(10)
	n.err = &innctl.FlushError{Site: "peer", Via: "test", Reason: "innd is not running"}
	res, err := q.Rotate(context.Background(), RotateOptions{Flusher: n})
	var temp interface{ Temporary() bool }
	if err == nil || !errors.As(err, &temp) || !temp.Temporary() {
		t.Fatalf("err = %v, want a temporary error", err)
	}
	if !strings.Contains(err.Error(), "peer.rotating kept") {
		t.Errorf("message %q does not say what is left", err)
	}
	if !res.Rotated || res.Backlog != "" || !rotExists(q.RotatingPath()) || rotExists(q.FeedPath()) {
		t.Fatalf("after a failed flush: %+v, D %v, F %v", res, rotExists(q.RotatingPath()), rotExists(q.FeedPath()))
	}
	n.write(3) // innd still writes to D until it flushes
	n.err = nil
	res, err = q.Rotate(context.Background(), RotateOptions{Flusher: n})
	if err != nil || res.Recovered != StateMoved || res.Backlog == "" {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	if got, want := rotLines(t, q), rotWant(n.written); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestRotateNoSuchSite: innd no longer knows the site; what is there is
// installed, with a warning.
func TestRotateNoSuchSite(t *testing.T) {
	q := rotQueue(t)
	n := newRotInnd(t, q)
	n.write(4)
	n.err = fmt.Errorf("flush: %w", innctl.ErrNoSuchSite)
	var w rotWarnings
	res, err := q.Rotate(context.Background(), RotateOptions{Flusher: n, Warn: w.warn})
	if err != nil {
		t.Fatal(err)
	}
	if !res.NoSuchSite || res.Backlog == "" || !strings.Contains(w.String(), "innd has no site peer") {
		t.Errorf("%+v, warnings %q", res, w.String())
	}
	if got, want := rotLines(t, q), rotWant(n.written); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestRotateCannotFlush: a flusher that cannot work (ctlinnd missing) is found
// before anything is moved.
func TestRotateCannotFlush(t *testing.T) {
	q := rotQueue(t)
	n := newRotInnd(t, q)
	n.write(4)
	n.check = errors.New("ctlinnd /nonexistent: no such file or directory")
	_, err := q.Rotate(context.Background(), RotateOptions{Flusher: n})
	var temp interface{ Temporary() bool }
	if err == nil || errors.As(err, &temp) && temp.Temporary() {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	if rotExists(q.RotatingPath()) || !rotExists(q.FeedPath()) || n.flushes != 0 {
		t.Error("files touched")
	}
	// The real thing.
	_, err = q.Rotate(context.Background(), RotateOptions{Flusher: innctl.Command{Path: filepath.Join(q.Dir, "no-ctlinnd")}})
	if err == nil || !strings.Contains(err.Error(), "no-ctlinnd") || rotExists(q.RotatingPath()) {
		t.Fatalf("err = %v", err)
	}
}

// TestRotateLocked: a held queue lock is a temporary error naming the holder.
func TestRotateLocked(t *testing.T) {
	q := rotQueue(t)
	n := newRotInnd(t, q)
	n.write(1)
	l, err := q.Lock(QueueLock, "nxmit requeue peer")
	must(t, err)
	defer l.Unlock()
	_, err = q.Rotate(context.Background(), RotateOptions{Flusher: n})
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "nxmit requeue peer") {
		t.Fatalf("err = %v", err)
	}
	if rotExists(q.RotatingPath()) {
		t.Error("rotated under someone else's lock")
	}
}

// TestRotateAlreadyInstalled: where Install had to link and unlink, a crash
// between them leaves S.rotating also named as a backlog; it is not
// installed twice.
func TestRotateAlreadyInstalled(t *testing.T) {
	q := rotQueue(t)
	n := newRotInnd(t, q)
	n.write(5)
	must(t, os.Link(q.FeedPath(), q.RotatingPath()))
	must(t, os.Remove(q.FeedPath()))
	must(t, n.Flush(context.Background(), "peer"))
	b := filepath.Join(q.Dir, q.Name(KindBacklog, time.Unix(0x60000000, 0), false))
	must(t, os.Link(q.RotatingPath(), b))
	res, err := q.Rotate(context.Background(), RotateOptions{Flusher: noFlush{t}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backlog != b || rotExists(q.RotatingPath()) {
		t.Errorf("%+v", res)
	}
	if got, want := rotLines(t, q), rotWant(n.written); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestRotateEmptyAfterFlush: D with nothing in it is removed, not installed.
func TestRotateEmptyAfterFlush(t *testing.T) {
	q := rotQueue(t)
	n := newRotInnd(t, q)
	must(t, os.Link(q.FeedPath(), q.RotatingPath()))
	must(t, os.Remove(q.FeedPath()))
	res, err := q.Rotate(context.Background(), RotateOptions{Flusher: n})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backlog != "" || rotExists(q.RotatingPath()) || res.Recovered != StateMoved {
		t.Errorf("%+v", res)
	}
	if files, _ := q.Backlogs(); len(files) != 0 {
		t.Errorf("backlogs %v", files)
	}
}

// TestRotateRepeated: many rotations while the fake innd writes from another
// goroutine; every line lands in exactly one backlog or the last feed file.
func TestRotateRepeated(t *testing.T) {
	q := rotQueue(t)
	n := newRotInnd(t, q)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				n.write(3)
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	for i := range 40 {
		if _, err := q.Rotate(context.Background(), RotateOptions{Flusher: n, Compress: i%2 == 1}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	if _, err := q.Rotate(context.Background(), RotateOptions{Flusher: n}); err != nil {
		t.Fatal(err)
	}
	got := rotLines(t, q)
	slices.Sort(got)
	want := rotWant(n.written)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%d lines in backlogs, %d written", len(got), len(want))
		for _, l := range got {
			if _, found := slices.BinarySearch(want, l); !found {
				t.Errorf("unexpected %s", l)
			}
		}
		for _, l := range want {
			if _, found := slices.BinarySearch(got, l); !found {
				t.Errorf("missing %s", l)
			}
		}
	}
	if n.flushes < 10 {
		t.Errorf("%d flushes", n.flushes)
	}
}
