package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nxmit/batch"
)

// fullMode reports whether NXMIT_SOAK=full asks for the sizes (see doc.go).
func fullMode() bool { return os.Getenv("NXMIT_SOAK") == "full" }

// pick returns ci, or full in full mode.
func pick[T any](ci, full T) T {
	if fullMode() {
		return full
	}
	return ci
}

// newRand returns the random source of a test, seeded from NXMIT_SOAK_SEED when set so
// that a failing run can be replayed; the seed is logged.
func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NXMIT_SOAK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("NXMIT_SOAK_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (NXMIT_SOAK_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

var reportMu sync.Mutex

// report logs the figures measured for a scenario and appends them to the file named
// by NXMIT_RELIABILITY_REPORT, one "test | measured" line each, for docs/RELIABILITY.md.
func report(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Logf("RESULT %s", msg)
	path := os.Getenv("NXMIT_RELIABILITY_REPORT")
	if path == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer f.Close()
	status := "pass"
	if t.Failed() {
		status = "FAIL"
	}
	fmt.Fprintf(f, "%s | %s | %s | %s\n", time.Now().Format(time.DateTime), t.Name(), status, msg)
}

// The nxmit binary, built once per test process (lazily: fuzz workers never need it).
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// raceExit is the exit status of a race-enabled nxmit that found a data race.
const raceExit = 66

// nxmitBinary builds nxmit from this tree into a directory readable by every user and
// returns its path. Under the race detector the binary is built with it too, so that a
// data race in a child process fails the test (exit status raceExit).
func nxmitBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "nxmit-reliability-bin")
		if binErr != nil {
			return
		}
		os.Chmod(binDir, 0o755)
		binPath = filepath.Join(binDir, "nxmit")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "nxmit")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// A result is what one run of nxmit did.
type result struct {
	Args    []string
	Status  int // exit status; -1 when killed by a signal, -2 when it could not run
	Signal  syscall.Signal
	Stdout  string
	Stderr  string
	Elapsed time.Duration
	Stats   passStats // from the statistics lines -v prints, when there were any
}

func (r result) String() string {
	return fmt.Sprintf("nxmit %s: status %d (%s)\nstderr: %s", strings.Join(r.Args, " "), r.Status,
		r.Elapsed.Round(time.Millisecond), r.Stderr)
}

// passStats are the figures of innxmit's stats line and nxmit's detail line.
type passStats struct {
	Found                                              bool
	Offered, Accepted, Refused, Rejected, Missing      int64
	AccSize, RejSize                                   int64
	Deferred, Requeued, Malformed, Queued, Connections int64
	NoCheck                                            int64
}

func (s passStats) String() string {
	return fmt.Sprintf("offered %d accepted %d refused %d rejected %d missing %d deferred %d requeued %d malformed %d queued %d",
		s.Offered, s.Accepted, s.Refused, s.Rejected, s.Missing, s.Deferred, s.Requeued, s.Malformed, s.Queued)
}

// Done is every line that reached a final answer, as xmit.Stats.Done counts it.
func (s passStats) Done() int64 {
	return s.Accepted + s.Refused + s.Rejected + s.Missing + s.Deferred + s.Requeued
}

var (
	statsRE  = regexp.MustCompile(`(?m)^\S+ stats offered (\d+) accepted (\d+) refused (\d+) rejected (\d+) missing (\d+) accsize (\d+) rejsize (\d+)$`)
	detailRE = regexp.MustCompile(`(?m)^\S+ nxmit deferred (\d+) requeued (\d+) malformed (\d+) queued (\d+) connections (\d+) nocheck (\d+) `)
)

func parseStats(stderr string) passStats {
	var s passStats
	atoi := func(v string) int64 { n, _ := strconv.ParseInt(v, 10, 64); return n }
	if m := statsRE.FindStringSubmatch(stderr); m != nil {
		s.Found = true
		s.Offered, s.Accepted, s.Refused, s.Rejected = atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4])
		s.Missing, s.AccSize, s.RejSize = atoi(m[5]), atoi(m[6]), atoi(m[7])
	}
	if m := detailRE.FindStringSubmatch(stderr); m != nil {
		s.Deferred, s.Requeued, s.Malformed, s.Queued = atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4])
		s.Connections, s.NoCheck = atoi(m[5]), atoi(m[6])
	}
	return s
}

// nxmitCmd prepares a run of the binary with env added to this process's environment.
// Statistics go to a log file in the test's directory rather than to syslog.
func nxmitCmd(t testing.TB, ctx context.Context, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, nxmitBinary(t), args...)
	cmd.Env = append(append(os.Environ(), env...), "GORACE=halt_on_error=1 atexit_sleep_ms=0 exitcode="+strconv.Itoa(raceExit))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runNxmit runs the binary to its end (at most limit) and returns what it did. A data
// race reported by a race-enabled binary fails the test.
func runNxmit(t testing.TB, limit time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := nxmitCmd(t, ctx, env, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err := cmd.Run()
	r := finish(t, cmd, err, args, &o, &e, time.Since(start))
	if ctx.Err() != nil {
		// Errorf, not Fatalf: the concurrency test runs nxmit from several goroutines.
		t.Errorf("nxmit %s did not end within %s: %s", strings.Join(args, " "), limit, r.Stderr)
	}
	return r
}

// finish turns a finished command into a result.
func finish(t testing.TB, cmd *exec.Cmd, err error, args []string, o, e *bytes.Buffer, d time.Duration) result {
	t.Helper()
	r := result{Args: args, Stdout: o.String(), Stderr: e.String(), Elapsed: d}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.Status, r.Signal = -1, ws.Signal()
		} else {
			r.Status = ws.ExitStatus()
		}
	default:
		t.Errorf("nxmit %s: %v", strings.Join(args, " "), err)
		r.Status = -2
	}
	if r.Status == raceExit && raceEnabled && strings.Contains(r.Stderr, "DATA RACE") {
		t.Errorf("data race in nxmit %s:\n%s", strings.Join(args, " "), r.Stderr)
	}
	r.Stats = parseStats(r.Stderr)
	return r
}

// A proc is an nxmit started in the background, to be killed or waited for.
type proc struct {
	t     testing.TB
	cmd   *exec.Cmd
	args  []string
	o, e  bytes.Buffer
	start time.Time
	done  chan struct{}
	res   result
}

func startNxmit(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, args: args, done: make(chan struct{})}
	p.cmd = nxmitCmd(t, context.Background(), env, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.o, &p.e
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Errorf("start nxmit: %v", err)
		p.res = result{Args: args, Status: -2}
		close(p.done)
		return p
	}
	go func() {
		err := p.cmd.Wait()
		p.res = finish(t, p.cmd, err, args, &p.o, &p.e, time.Since(p.start))
		close(p.done)
	}()
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (to this process only, by its pid) and waits for it.
func (p *proc) kill() result {
	p.signal(syscall.SIGKILL)
	return p.wait(30 * time.Second)
}

// signal sends sig to the process, if it is still running.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() && p.cmd.Process != nil {
		p.cmd.Process.Signal(sig)
	}
}

// wait waits at most limit for the process to end; then it is killed and the test fails.
func (p *proc) wait(limit time.Duration) result {
	select {
	case <-p.done:
	case <-time.After(limit):
		p.signal(syscall.SIGKILL)
		<-p.done
		p.t.Errorf("nxmit %s did not end within %s: killed", strings.Join(p.args, " "), limit)
	}
	return p.res
}

// snapshot is what a site's queue holds at one moment, by message-id.
type snapshot struct {
	Count map[string]int // queued copies of each message-id, all files together
	Where map[string][]string
	Files []string // names of the site's files, sorted
	Lines int      // queued lines in all
	// Partial counts files whose last line lacks its "\n"; allowed only in S.defer and
	// in the feed file, which are written as the send or innd goes.
	Partial map[string]int
	Bad     []string // malformed lines, "FILE:LINE: reason"
}

// takeSnapshot reads every file of site q that holds queued lines: backlogs (through
// batch.OpenBacklog, so blanked lines and a compressed backlog's checkpoint count),
// deferral files, S.defer and, with feed, the feed file and S.rotating. No process may
// be changing the files meanwhile.
func takeSnapshot(t testing.TB, q batch.Queue, feed bool) snapshot {
	t.Helper()
	s := snapshot{Count: map[string]int{}, Where: map[string][]string{}, Partial: map[string]int{}}
	add := func(path, mid string) {
		s.Count[mid]++
		s.Where[mid] = append(s.Where[mid], filepath.Base(path))
		s.Lines++
	}
	ents, err := os.ReadDir(q.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == q.Site || strings.HasPrefix(e.Name(), q.Site+".") {
			s.Files = append(s.Files, e.Name())
		}
	}
	sort.Strings(s.Files)
	backlogs, err := q.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range backlogs {
		b, err := batch.OpenBacklog(f.Path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatalf("open backlog: %v", err)
		}
		for {
			rec, err := b.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			if rec.Err != nil {
				if errors.Is(rec.Err, batch.ErrPartialLine) {
					s.Partial[filepath.Base(f.Path)]++
				} else {
					s.Bad = append(s.Bad, rec.Err.Error())
				}
				continue
			}
			add(f.Path, lineKey(rec.Line))
		}
		b.Close()
	}
	plain := []string{}
	defs, err := q.Deferrals()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range defs {
		plain = append(plain, f.Path)
	}
	plain = append(plain, q.DeferPath())
	if feed {
		plain = append(plain, q.FeedPath(), q.RotatingPath())
	}
	for _, path := range plain {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := batch.NewScanner(f, path)
		for sc.Scan() {
			switch err := sc.LineErr(); {
			case err == nil:
				add(path, lineKey(sc.Line()))
			case errors.Is(err, batch.ErrBlank):
			case errors.Is(err, batch.ErrPartialLine):
				s.Partial[filepath.Base(path)]++
			default:
				s.Bad = append(s.Bad, err.Error())
			}
		}
		if err := sc.Err(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		sc.Close()
		f.Close()
	}
	return s
}

// lineKey is the message-id of a line, or its article field when it has none.
func lineKey(l batch.Line) string {
	if l.MessageID != "" {
		return l.MessageID
	}
	return l.Article
}

// Dups returns the message-ids queued more than once.
func (s snapshot) Dups() []string {
	var d []string
	for mid, n := range s.Count {
		if n > 1 {
			d = append(d, mid)
		}
	}
	sort.Strings(d)
	return d
}

// checkNoLeftovers fails the test when the outgoing directory holds a file being
// written (*.tmp), a merge journal or temporary file, or a progress file without its
// backlog: what a crash or a full disk must not leave behind once a later run has
// cleaned up.
func checkNoLeftovers(t testing.TB, q batch.Queue) {
	t.Helper()
	ents, err := os.ReadDir(q.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasSuffix(n, batch.TempSuffix),
			n == filepath.Base(q.MergeJournalPath()), n == filepath.Base(q.MergeTempPath()):
			t.Errorf("left in %s: %s", q.Dir, n)
		case strings.HasSuffix(n, batch.ProgressSuffix):
			if _, err := os.Stat(filepath.Join(q.Dir, strings.TrimSuffix(n, batch.ProgressSuffix))); err != nil {
				t.Errorf("left in %s: %s without its backlog", q.Dir, n)
			}
		}
	}
}

// checkWholeFiles fails the test when an installed queue file (S.B.*, S.D.*) of q ends
// in a partial line or does not decompress to its end: a truncated file was installed.
func checkWholeFiles(t testing.TB, q batch.Queue) {
	t.Helper()
	var files []batch.File
	for _, list := range []func() ([]batch.File, error){q.Backlogs, q.Deferrals} {
		fs, err := list()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	for _, f := range files {
		fh, err := os.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		sc := batch.NewScanner(fh, f.Path)
		for sc.Scan() {
			if err := sc.LineErr(); errors.Is(err, batch.ErrPartialLine) {
				t.Errorf("installed file %s ends in a partial line: %v", f.Path, err)
			}
		}
		if err := sc.Err(); err != nil {
			t.Errorf("installed file %s does not read to its end: %v", f.Path, err)
		}
		sc.Close()
		fh.Close()
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts it when the
// test ends. Without the privilege to mount the test is skipped, or fails under CI.
func mountTmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nxmit-tinyfs")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		os.Remove(dir)
		msg := fmt.Sprintf("cannot mount a small tmpfs (needs root): %v: %s", err, bytes.TrimSpace(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// A process of the test may still hold a file open: lazily, then.
			exec.Command("umount", "-l", dir).Run()
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
		os.Remove(dir)
	})
	return dir
}

// fillFS writes a filler file into dir until the file system has at most leave bytes
// free, and returns its path.
func fillFS(t testing.TB, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if n := free - leave; n > 0 {
		if _, err := f.Write(make([]byte, n)); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
	}
	return path
}

// freeBytes returns the bytes available on the file system of dir.
func freeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// newsDir returns a new directory of the test that news owns and can reach, for files a
// run started as root (which switches to news) must remove, as merge --remove does.
func newsDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	u, err := user.Lookup("news")
	if err != nil {
		t.Fatalf("user news: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(dir), 0o711) // t.TempDir's parent is root's alone
	return dir
}
