package commands

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"nxmit/batch"
	"nxmit/internal/innlab"
)

// rotBuildNxmit builds the nxmit binary into a directory of t, so that tests run the
// real program, crash hooks and exit statuses included.
func rotBuildNxmit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nxmit")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Dir(filepath.Dir(file))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// rotLab is a real sender innd with the file feed "peer", the nxmit binary, and the
// message-ids injected so far.
type rotLab struct {
	t    *testing.T
	bin  string
	inst *innlab.Instance
	opt  innlab.Options

	mu       sync.Mutex
	seed     int64
	injected []string
}

func newRotLab(t *testing.T) *rotLab {
	opt := innlab.Options{Feeds: []string{innlab.PeerFeed}}
	inst := innlab.StartT(t, opt)
	return &rotLab{t: t, bin: rotBuildNxmit(t), inst: inst, opt: opt, seed: time.Now().UnixNano() % 1e9}
}

// inject stores n new small articles in innd, which writes a feed line for each.
func (l *rotLab) inject(n int) error {
	l.mu.Lock()
	l.seed++
	seed := l.seed
	l.mu.Unlock()
	arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: seed, Size: 200})
	if err := l.inst.Inject(arts); err != nil {
		return err
	}
	l.mu.Lock()
	for _, a := range arts {
		l.injected = append(l.injected, a.MessageID)
	}
	l.mu.Unlock()
	return nil
}

func (l *rotLab) mustInject(t *testing.T, n int) {
	t.Helper()
	if err := l.inject(n); err != nil {
		t.Fatal(err)
	}
}

type rotRunResult struct {
	stderr string
	code   int
	killed bool // by SIGKILL (the crash hook)
}

// nxmit runs the binary with the instance's INNCONF and extra environment.
func (l *rotLab) nxmit(t *testing.T, env []string, args ...string) rotRunResult {
	t.Helper()
	return rotRunNxmit(t, l.bin, append(l.inst.Env(), env...), args...)
}

func rotRunNxmit(t *testing.T, bin string, env []string, args ...string) rotRunResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := rotRunResult{stderr: stderr.String()}
	if stdout.Len() > 0 {
		t.Errorf("nxmit %s printed on stdout: %q", strings.Join(args, " "), stdout.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		r.killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
		r.code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return r
}

// rotQueueLines returns every line of site's queue: backlogs (plain or zstd), S.rotating
// and the feed file, as "file: line" for messages, and the message-ids.
func rotQueueLines(t *testing.T, dir, site string) (mids []string, where map[string][]string) {
	t.Helper()
	where = map[string][]string{}
	names, err := filepath.Glob(filepath.Join(dir, site+".B.*"))
	if err != nil {
		t.Fatal(err)
	}
	names = append(names, filepath.Join(dir, site+".rotating"), filepath.Join(dir, site))
	var seen []os.FileInfo
	for _, p := range names {
		if strings.HasSuffix(p, batch.TempSuffix) {
			continue
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// S and S.rotating may be one file (hard-linked): read it once.
		if slices.ContainsFunc(seen, func(o os.FileInfo) bool { return os.SameFile(o, fi) }) {
			continue
		}
		seen = append(seen, fi)
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			d, err := zstd.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			b, err = io.ReadAll(d)
			d.Close()
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				t.Errorf("%s: bad line %q", p, sc.Text())
				continue
			}
			mids = append(mids, f[1])
			where[f[1]] = append(where[f[1]], filepath.Base(p))
		}
	}
	return mids, where
}

// checkExactlyOnce fails unless every injected message-id is in exactly one line of
// the site's queue files, and no other line is there. With installed set, the lines
// must all be in backlogs. innd writes a feed line shortly after it has accepted the
// article, so a line missing at first is looked for again for a few seconds; a line
// found twice fails at once.
func (l *rotLab) checkExactlyOnce(t *testing.T, installed bool) {
	t.Helper()
	l.mu.Lock()
	want := slices.Clone(l.injected)
	l.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mids, where := rotQueueLines(t, l.inst.Outgoing, "peer")
		var missing, dup, wrong []string
		for _, m := range want {
			switch n := len(where[m]); {
			case n == 0:
				missing = append(missing, m)
			case n > 1:
				dup = append(dup, fmt.Sprintf("%s in %v", m, where[m]))
			case installed && !strings.Contains(where[m][0], ".B."):
				wrong = append(wrong, fmt.Sprintf("%s still in %s", m, where[m][0]))
			}
		}
		extra := len(mids) - len(want) + len(missing)
		if len(dup) == 0 && len(wrong) == 0 && extra == 0 && (len(missing) == 0 || time.Now().After(deadline)) {
			if len(missing) > 0 {
				t.Errorf("%d of %d message-ids in no line, e.g. %s", len(missing), len(want), missing[0])
			}
			return
		}
		if len(dup) > 0 || len(wrong) > 0 || extra != 0 {
			t.Errorf("%d duplicated (e.g. %v), %d not installed (e.g. %v), %d lines not injected",
				len(dup), rotHead(dup), len(wrong), rotHead(wrong), extra)
			ents, _ := os.ReadDir(l.inst.Outgoing)
			for _, e := range ents {
				fi, _ := e.Info()
				t.Logf("%s %d", e.Name(), fi.Size())
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func rotHead(s []string) []string { return s[:min(len(s), 3)] }

// TestRotateRealInndLoop: while a generator keeps injecting articles into the real
// innd, `nxmit rotate peer` runs 50 times (alternating compression and the two ways of
// flushing); then injection stops and a last rotation runs. Every injected message-id
// must be in exactly one backlog line.
func TestRotateRealInndLoop(t *testing.T) {
	l := newRotLab(t)
	stop := make(chan struct{})
	genErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				genErr <- nil
				return
			default:
			}
			if err := l.inject(25); err != nil {
				genErr <- err
				return
			}
		}
	}()
	start := time.Now()
	var rotTime [2]time.Duration // by flush method: ctlinnd, icc
	for i := range 50 {
		args := []string{"rotate", "peer", "--force"}
		if i%3 == 1 {
			args = append(args, "--compress")
		}
		if i%2 == 1 {
			args = append(args, "--flush=icc")
		}
		t0 := time.Now()
		r := l.nxmit(t, nil, args...)
		rotTime[i%2] += time.Since(t0)
		if r.code != 0 || r.stderr != "" {
			close(stop)
			t.Fatalf("rotation %d (%v): exit %d, stderr %q", i, args, r.code, r.stderr)
		}
	}
	close(stop)
	if err := <-genErr; err != nil {
		t.Fatal(err)
	}
	if r := l.nxmit(t, nil, "rotate", "peer", "--force"); r.code != 0 || r.stderr != "" {
		t.Fatalf("last rotation: exit %d, stderr %q", r.code, r.stderr)
	}
	elapsed := time.Since(start)
	backlogs, _ := filepath.Glob(filepath.Join(l.inst.Outgoing, "peer.B.*"))
	l.checkExactlyOnce(t, true)
	t.Logf("%d articles injected during 50 rotations + 1 in %v; %d backlogs; a run of nxmit rotate took %v on average with ctlinnd, %v with icc",
		len(l.injected), elapsed.Round(time.Millisecond), len(backlogs),
		(rotTime[0] / 25).Round(time.Microsecond), (rotTime[1] / 25).Round(time.Microsecond))
	if len(backlogs) < 25 {
		t.Errorf("only %d backlogs from 51 rotations", len(backlogs))
	}
}

// rotSameInode reports whether two paths name one file.
func rotSameInode(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err1 := os.Lstat(a)
	fb, err2 := os.Lstat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func rotExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestRotateCrashRecovery kills nxmit (SIGKILL, through the crash hook) at every step
// of a rotation against a real innd that keeps receiving articles, checks that the
// files are in the state that step leaves, and that the next run finishes it with
// nothing lost and nothing duplicated.
func TestRotateCrashRecovery(t *testing.T) {
	l := newRotLab(t)
	out := l.inst.Outgoing
	f, d, tmp := filepath.Join(out, "peer"), filepath.Join(out, "peer.rotating"), filepath.Join(out, "peer.rotating.zst.tmp")
	isZstd := func(p string) bool {
		b, err := os.ReadFile(p)
		return err == nil && bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd})
	}
	for _, tc := range []struct {
		point    string
		compress bool
		state    func() string // "" when the files are as that step leaves them
		recovery string        // the state the next run reports finishing
	}{
		{"after-link", false, func() string {
			if !rotSameInode(t, f, d) {
				return "want peer and peer.rotating to be one file"
			}
			return ""
		}, "hardlinked"},
		{"after-unlink", false, func() string {
			if rotExists(f) || !rotExists(d) {
				return "want peer.rotating only"
			}
			return ""
		}, "moved"},
		// nxmit dies while ctlinnd is running (ctlinnd kills it, then flushes):
		// whether innd has flushed yet when the next run looks is a matter of timing.
		{"during-flush", false, func() string {
			if !rotExists(d) || rotSameInode(t, f, d) {
				return "want peer.rotating, and no peer or a new one"
			}
			return ""
		}, ""},
		{"after-flush", false, func() string {
			if !rotExists(f) || !rotExists(d) || rotSameInode(t, f, d) {
				return "want a new peer next to peer.rotating"
			}
			return ""
		}, "separated"},
		{"after-truncate", false, func() string {
			if !rotExists(f) || !rotExists(d) || rotSameInode(t, f, d) {
				return "want a new peer next to peer.rotating"
			}
			return ""
		}, "separated"},
		{"during-compress", true, func() string {
			if !rotExists(tmp) || !rotExists(d) || isZstd(d) {
				return "want a partial peer.rotating.zst.tmp next to the plain peer.rotating"
			}
			return ""
		}, "separated"},
		{"after-compress", true, func() string {
			if !rotExists(tmp) || !rotExists(d) || isZstd(d) {
				return "want peer.rotating.zst.tmp next to the plain peer.rotating"
			}
			return ""
		}, "separated"},
		{"after-compress-rename", true, func() string {
			if rotExists(tmp) || !isZstd(d) {
				return "want peer.rotating compressed, no temporary file"
			}
			return ""
		}, "compressed"},
	} {
		t.Run(tc.point, func(t *testing.T) {
			l.mustInject(t, 40)
			args := []string{"rotate", "peer", "--force"}
			if tc.compress {
				args = append(args, "--compress")
			}
			env := []string{batch.CrashEnv + "=" + tc.point}
			if tc.point == "during-flush" {
				env = nil
				args = append(args, "--ctlinnd", rotFakeProgram(t, "ctlinnd",
					"kill -9 $PPID; exec "+filepath.Join(innlab.Binaries(), "ctlinnd")+` "$@"`))
			}
			r := l.nxmit(t, env, args...)
			if !r.killed {
				t.Fatalf("not killed at %s: exit %d, stderr %q", tc.point, r.code, r.stderr)
			}
			if msg := tc.state(); msg != "" {
				t.Fatalf("after a crash at %s: %s", tc.point, msg)
			}
			l.mustInject(t, 15) // innd goes on: the lines go wherever innd writes now
			l.checkExactlyOnce(t, false)
			r = l.nxmit(t, nil, args[:3+rotBtoi(tc.compress)]...)
			if r.code != 0 || !strings.Contains(r.stderr, "interrupted earlier (peer.rotating: "+describeState(tc.recovery)) {
				t.Fatalf("recovery: exit %d, stderr %q", r.code, r.stderr)
			}
			if rotExists(d) || rotExists(tmp) {
				t.Errorf("left behind: rotating %v, tmp %v", rotExists(d), rotExists(tmp))
			}
			l.checkExactlyOnce(t, false)
		})
	}
	l.mustInject(t, 10)
	if r := l.nxmit(t, nil, "rotate", "peer", "--force"); r.code != 0 || r.stderr != "" {
		t.Fatalf("last rotation: exit %d, stderr %q", r.code, r.stderr)
	}
	l.checkExactlyOnce(t, true)
}

func rotBtoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rotFakeProgram writes an executable shell script.
func rotFakeProgram(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	giveToNews(t, filepath.Dir(p)) // nxmit runs it as news
	return p
}

// oneLine fails unless s is a single line starting with prefix and containing every
// part.
func rotOneLine(t *testing.T, s, prefix string, parts ...string) {
	t.Helper()
	if strings.Count(s, "\n") != 1 || !strings.HasPrefix(s, prefix) {
		t.Errorf("want one line starting %q, got %q", prefix, s)
	}
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%q does not say %q", s, p)
		}
	}
}

// TestRotateFailures: each way a rotation cannot finish gives one clear line, the
// right exit status and loses nothing; the next good run finishes.
func TestRotateFailures(t *testing.T) {
	l := newRotLab(t)
	out := l.inst.Outgoing
	f, d := filepath.Join(out, "peer"), filepath.Join(out, "peer.rotating")
	ctlinnd := filepath.Join(innlab.Binaries(), "ctlinnd")

	t.Run("ctlinnd missing", func(t *testing.T) {
		l.mustInject(t, 20)
		r := l.nxmit(t, nil, "rotate", "peer", "--force", "--ctlinnd", "/nonexistent/ctlinnd")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		rotOneLine(t, r.stderr, "nxmit: rotate: site peer: ", "/nonexistent/ctlinnd", "no such file")
		if rotExists(d) || !rotExists(f) {
			t.Error("files touched")
		}
		l.checkExactlyOnce(t, false)
	})

	t.Run("ctlinnd failing", func(t *testing.T) {
		l.mustInject(t, 20)
		bad := rotFakeProgram(t, "ctlinnd", `echo 'ctlinnd: cannot send "flush" command (timeout failure): Connection timed out' >&2; exit 1`)
		r := l.nxmit(t, nil, "rotate", "peer", "--force", "--ctlinnd", bad)
		if r.code != 75 {
			t.Errorf("exit %d, want 75", r.code)
		}
		rotOneLine(t, r.stderr, "nxmit: rotate: site peer: ", "ctlinnd flush peer: cannot send", "peer.rotating kept")
		l.mustInject(t, 10) // still written to peer.rotating: innd was not flushed
		l.checkExactlyOnce(t, false)
		if r := l.nxmit(t, nil, "rotate", "peer"); r.code != 0 || !strings.Contains(r.stderr, batch.StateMoved.Describe()) {
			t.Errorf("next run: exit %d, %q", r.code, r.stderr)
		}
		l.checkExactlyOnce(t, false)
	})

	t.Run("ctlinnd killed after flushing", func(t *testing.T) {
		l.mustInject(t, 20)
		dies := rotFakeProgram(t, "ctlinnd", ctlinnd+` "$@"; kill -9 $$`)
		r := l.nxmit(t, nil, "rotate", "peer", "--force", "--ctlinnd", dies)
		if r.code != 75 {
			t.Errorf("exit %d, want 75", r.code)
		}
		rotOneLine(t, r.stderr, "nxmit: rotate: site peer: ", "signal: killed", "peer.rotating kept")
		l.mustInject(t, 10)
		if r := l.nxmit(t, nil, "rotate", "peer"); r.code != 0 || !strings.Contains(r.stderr, batch.StateSeparated.Describe()) {
			t.Errorf("next run: exit %d, %q", r.code, r.stderr)
		}
		l.checkExactlyOnce(t, false)
	})

	t.Run("ctlinnd hangs", func(t *testing.T) {
		l.mustInject(t, 20)
		hangs := rotFakeProgram(t, "ctlinnd", `exec sleep 60`)
		start := time.Now()
		r := l.nxmit(t, nil, "rotate", "peer", "--force", "--ctlinnd", hangs, "--flush-timeout", "1s")
		if r.code != 75 || time.Since(start) > 15*time.Second {
			t.Errorf("exit %d after %v, want 75 within the timeout", r.code, time.Since(start))
		}
		rotOneLine(t, r.stderr, "nxmit: rotate: site peer: ", "did not finish within", "killed")
		if r := l.nxmit(t, nil, "rotate", "peer"); r.code != 0 {
			t.Errorf("next run: exit %d, %q", r.code, r.stderr)
		}
		l.checkExactlyOnce(t, false)
	})

	t.Run("site not in newsfeeds", func(t *testing.T) {
		// An old feed file of a site innd no longer has, with a partial last line.
		gone := filepath.Join(out, "gone")
		lines := "@0201000000010000000000000000000000AA@ <a@gone.test>\n@0201000000010000000000000000000000AB@ <b@gone.test>\n"
		if err := os.WriteFile(gone, []byte(lines+"@0201000000010000000000000000"), 0o664); err != nil {
			t.Fatal(err)
		}
		giveToNews(t, gone) // as innd would have written it
		for _, flush := range []string{"ctlinnd", "icc"} {
			r := l.nxmit(t, nil, "rotate", "gone", "--force", "--flush", flush)
			if r.code != 0 {
				t.Errorf("exit %d, want 0", r.code)
			}
			for _, want := range []string{"innd has no site gone", `partial last line of 29 bytes (no newline): "@0201000000010000000000000000"`} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not say %q", r.stderr, want)
				}
			}
			mids, _ := rotQueueLines(t, out, "gone")
			if !slices.Equal(mids, []string{"<a@gone.test>", "<b@gone.test>"}) {
				t.Errorf("gone's queue: %v", mids)
			}
			if rotExists(gone) || rotExists(gone+".rotating") {
				t.Error("feed file or S.rotating left")
			}
			files, _ := filepath.Glob(gone + ".B.*")
			for _, p := range files {
				os.Remove(p)
			}
			os.WriteFile(gone, []byte(lines+"@0201000000010000000000000000"), 0o664)
			giveToNews(t, gone)
		}
	})

	t.Run("lock held", func(t *testing.T) {
		l.mustInject(t, 5)
		q := batch.Queue{Dir: out, Site: "peer"}
		lk, err := q.Lock(batch.QueueLock, "nxmit requeue peer")
		if err != nil {
			t.Fatal(err)
		}
		r := l.nxmit(t, nil, "rotate", "peer", "--force")
		lk.Unlock()
		if r.code != 75 {
			t.Errorf("exit %d, want 75", r.code)
		}
		rotOneLine(t, r.stderr, "nxmit: rotate: site peer: ", "queue lock held by pid "+strconv.Itoa(os.Getpid()), "nxmit requeue peer")
	})

	t.Run("several sites, worst status", func(t *testing.T) {
		l.mustInject(t, 5)
		q := batch.Queue{Dir: out, Site: "other"}
		os.WriteFile(q.FeedPath(), nil, 0o644) // a known site: it has a feed file
		lk, err := q.Lock(batch.QueueLock, "holder")
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Unlock()
		giveToNews(t, q.LockPath(batch.QueueLock)) // a lock news took
		r := l.nxmit(t, nil, "rotate", "other", "peer", "--force")
		if r.code != 75 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q; want 75 and one line", r.code, r.stderr)
		}
		if rotExists(f) && rotFileSize(f) > 0 {
			t.Error("peer not rotated")
		}
		r = l.nxmit(t, nil, "rotate", "other", "bad/name", "peer")
		if r.code != 2 || strings.Count(r.stderr, "\n") != 2 {
			t.Errorf("exit %d, stderr %q; want 2 and two lines", r.code, r.stderr)
		}
		l.checkExactlyOnce(t, false)
	})

	t.Run("innd not running", func(t *testing.T) {
		l.mustInject(t, 30)
		time.Sleep(100 * time.Millisecond)
		if err := l.inst.Stop(); err != nil {
			t.Fatal(err)
		}
		for _, flush := range []string{"ctlinnd", "icc"} {
			r := l.nxmit(t, nil, "rotate", "peer", "--force", "--flush", flush)
			if r.code != 75 {
				t.Errorf("%s: exit %d, want 75", flush, r.code)
			}
			rotOneLine(t, r.stderr, "nxmit: rotate: site peer: ", flush+" flush peer: ", "peer.rotating kept")
		}
		l.checkExactlyOnce(t, false)
		inst, err := innlab.Start(l.inst.Dir, l.opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { inst.Stop() })
		l.inst = inst
		l.mustInject(t, 10)
		if r := l.nxmit(t, nil, "rotate", "peer", "--force"); r.code != 0 || !strings.Contains(r.stderr, batch.StateSeparated.Describe()) {
			t.Errorf("after innd restarted: exit %d, %q", r.code, r.stderr)
		}
		l.checkExactlyOnce(t, false)
		if r := l.nxmit(t, nil, "rotate", "peer", "--force"); r.code != 0 || r.stderr != "" {
			t.Errorf("last rotation: exit %d, %q", r.code, r.stderr)
		}
		l.checkExactlyOnce(t, true)
	})

	t.Run("outgoing directory not writable", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to run nxmit as another user")
		}
		bin := rotSharedBinary(t, l.bin)
		dir := filepath.Dir(bin)
		outDir := filepath.Join(dir, "out")
		os.Mkdir(outDir, 0o755)
		feed := filepath.Join(outDir, "peer")
		os.WriteFile(feed, []byte("@0201000000010000000000000000000000AA@ <a@x.test>\n"), 0o644)
		cmd := exec.Command("/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
			bin, "rotate", "peer", "--force", "--outgoing", outDir, "--ctlinnd", "/bin/true", "--innconf", "/nonexistent")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("err %v, want exit 1", err)
		}
		rotOneLine(t, stderr.String(), "nxmit: rotate: site peer: ", "outgoing directory "+outDir+" is not writable", "permission denied")
		if b, _ := os.ReadFile(feed); len(b) == 0 {
			t.Error("feed file lost")
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 1 {
			t.Errorf("outgoing directory changed: %v", ents)
		}
	})
}

// rotSharedBinary copies the binary where every user can run it.
func rotSharedBinary(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "nxmit")
	if err := os.WriteFile(shared, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o005); err != nil {
				t.Fatal(err)
			}
		}
	}
	return shared
}

// TestRotateAsNews runs nxmit as user news, as cron would, with both ways of flushing:
// the reply socket of the native client must be one innd can answer to.
func TestRotateAsNews(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run nxmit as news")
	}
	l := newRotLab(t)
	bin := rotSharedBinary(t, l.bin)
	for _, flush := range []string{"ctlinnd", "icc"} {
		for _, compress := range []string{"--no-compress", "--compress"} {
			l.mustInject(t, 20)
			cmd := exec.Command("/usr/bin/setpriv", "--reuid=news", "--regid=news", "--init-groups", "--",
				bin, "rotate", "peer", "--force", "--flush", flush, compress)
			cmd.Env = l.inst.Env()
			out, err := cmd.CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Fatalf("as news, --flush=%s %s: %v: %q", flush, compress, err, out)
			}
		}
	}
	l.checkExactlyOnce(t, true)
	files, _ := filepath.Glob(filepath.Join(l.inst.Outgoing, "peer.B.*"))
	if len(files) != 4 {
		t.Errorf("%d backlogs, want 4", len(files))
	}
	if left, _ := filepath.Glob(filepath.Join(l.inst.PathRun, "nxmit*")); len(left) > 0 {
		t.Errorf("reply sockets left: %v", left)
	}
}

func rotFileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// TestRotateQuietAndVerbose: nothing printed on success; -v says what happened.
func TestRotateQuietAndVerbose(t *testing.T) {
	l := newRotLab(t)
	l.mustInject(t, 10)
	if r := l.nxmit(t, nil, "rotate", "peer"); r.code != 0 || r.stderr != "" {
		t.Errorf("not due: exit %d, %q", r.code, r.stderr)
	}
	r := l.nxmit(t, nil, "rotate", "-v", "peer")
	if r.code != 0 || !strings.Contains(r.stderr, "rotate peer: feed ") || !strings.Contains(r.stderr, "old: rotates at 10M or 4m old (in ") {
		t.Errorf("-v not due: exit %d, %q", r.code, r.stderr)
	}
	r = l.nxmit(t, nil, "rotate", "-v", "peer", "--min-size", "500")
	if r.code != 0 || !strings.Contains(r.stderr, "installed peer.B.") || !strings.Contains(r.stderr, ": 10 lines, ") {
		t.Errorf("-v due: exit %d, %q", r.code, r.stderr)
	}
	if r := l.nxmit(t, nil, "rotate", "-v", "peer", "--force"); r.code != 0 || !strings.Contains(r.stderr, "feed file empty") {
		t.Errorf("-v empty: exit %d, %q", r.code, r.stderr)
	}
	l.checkExactlyOnce(t, true)
	if r := l.nxmit(t, nil, "rotate", "peer", "--min-size", "12x"); r.code != 2 {
		t.Errorf("bad size: exit %d, %q", r.code, r.stderr)
	}
	// nxmit.conf supplies what the command line does not.
	conf := filepath.Join(l.inst.PathEtc, "nxmit.conf")
	if err := os.WriteFile(conf, []byte("site peer {\n  rotate-min-size: 1\n  compress: yes\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(conf)
	l.mustInject(t, 3)
	r = l.nxmit(t, nil, "rotate", "-v", "peer")
	if r.code != 0 || !strings.Contains(r.stderr, ".zst: 3 lines") {
		t.Errorf("from nxmit.conf: exit %d, %q", r.code, r.stderr)
	}
	l.checkExactlyOnce(t, true)
}

// describeState is the words the recovery message uses for the state named name.
func describeState(name string) string {
	for s := batch.StateIdle; s <= batch.StateCompressed; s++ {
		if s.String() == name {
			return s.Describe() + ")"
		}
	}
	return name // "": any state
}
