// Package innlab runs real, sandboxed INN (Debian inn2) innd instances for
// tests, demonstrations and benchmarks.
//
// Every instance lives in its own directory with its own inn.conf, spool,
// history and port on 127.0.0.1; the system instance (/etc/news,
// /var/spool/news) is never touched. INN programs are run as user news with
// INNCONF pointing at the instance's inn.conf.
//
// A typical test:
//
//	sender, receiver := innlab.SenderReceiver(t, innlab.Options{}, innlab.Options{})
//	arts := innlab.Generate(innlab.GenOptions{Count: 500, Seed: 1, Specials: true})
//	if err := sender.Inject(arts); err != nil {
//		t.Fatal(err)
//	}
//	lines, err := sender.FeedLines("peer") // "@TOKEN@ <mid>" lines for the receiver
//
// The package needs root (or to run as user news) and Linux.
package innlab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries returns the directory holding INN's programs (inn.conf pathbin).
func Binaries() string { return "/usr/lib/news/bin" }

// examplesDir holds the active and newsgroups templates shipped with inn2.
const examplesDir = "/usr/lib/news/examples"

// Method is an INN storage method for the articles of an instance.
type Method string

// Storage methods supported by Start.
const (
	TimeHash  Method = "timehash"
	TradSpool Method = "tradspool"
	CNFS      Method = "cnfs"
	TimeCAF   Method = "timecaf"
)

// DefaultGroups are the groups an instance carries when Options.Groups is
// nil. Generate posts to these groups.
var DefaultGroups = []string{"lab.test", "lab.misc", "lab.big"}

// PeerFeed is the newsfeeds entry SenderReceiver gives the sender: a file
// feed named "peer" written as "token message-id" lines.
const PeerFeed = "peer:*,!junk,!control,!control.*:Tf,Wnm:"

// Options configures an instance.
type Options struct {
	Method     Method   // storage method; default TimeHash
	CNFSSizeKB int      // cycbuff size for CNFS in KiB (default 512 MiB); small values make it wrap
	Streaming  *bool    // nil or true: MODE STREAM allowed; false: MODE STREAM refused (501)
	Feeds      []string // extra newsfeeds lines after the ME entry, e.g. PeerFeed
	Groups     []string // groups to carry (default DefaultGroups)
	Overview   bool     // write tradindexed overview (default false: transit only)
	// Detach lets innd outlive this process, for a demonstration that leaves
	// its servers running. By default innd gets a parent-death signal, so
	// that no innd outlives a crashed or timed-out test.
	Detach bool
}

// Instance is one sandboxed innd.
type Instance struct {
	Dir      string // the instance's directory
	InnConf  string // Dir/etc/inn.conf, the value of INNCONF for its programs
	Outgoing string // pathoutgoing: file feeds are written here
	Articles string // patharticles
	PathEtc  string // pathetc: newsfeeds, incoming.conf, storage.conf, ...
	PathRun  string // pathrun: innd.pid, control socket
	PathDB   string // pathdb: active, history
	PathLog  string // pathlog: news (article log), errlog
	PathHost string // pathhost, the instance's Path identity
	Addr     string // "127.0.0.1:PORT"
	Port     int

	opt      Options
	cmd      *exec.Cmd
	exited   chan struct{} // closed once innd has exited and been reaped
	lock     *os.File      // instance directory lock, held while running
	port     *portLease
	stopOnce sync.Once
	stopErr  error
}

// Start creates (or reuses) an instance directory dir, writes a complete
// configuration, starts innd -N as user news on a free port of 127.0.0.1 and
// waits until `ctlinnd mode` answers. Configuration files are rewritten on
// every Start; active, newsgroups, history and a CNFS buffer are created only
// when missing, so Start on the directory of a stopped instance restarts it
// with its articles. Every parent of dir must be traversable by user news
// (parents under the temporary directory are made so).
func Start(dir string, opt Options) (*Instance, error) {
	if err := Ensure(); err != nil {
		return nil, err
	}
	if err := checkPrivileges(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("innlab: %w", err)
	}
	if opt.Method == "" {
		opt.Method = TimeHash
	}
	switch opt.Method {
	case TimeHash, TradSpool, CNFS, TimeCAF:
	default:
		return nil, fmt.Errorf("innlab: unknown storage method %q", opt.Method)
	}
	if opt.Groups == nil {
		opt.Groups = DefaultGroups
	}
	for _, g := range opt.Groups {
		if g == "" || strings.ContainsAny(g, " \t\n\r:!/,") {
			return nil, fmt.Errorf("innlab: bad newsgroup name %q", g)
		}
	}
	if opt.CNFSSizeKB == 0 {
		opt.CNFSSizeKB = 512 * 1024
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("innlab: %w", err)
	}
	if err := makeTraversable(dir); err != nil {
		return nil, err
	}
	i := &Instance{
		Dir:      dir,
		InnConf:  filepath.Join(dir, "etc", "inn.conf"),
		Outgoing: filepath.Join(dir, "spool", "outgoing"),
		Articles: filepath.Join(dir, "spool", "articles"),
		PathEtc:  filepath.Join(dir, "etc"),
		PathRun:  filepath.Join(dir, "run"),
		PathDB:   filepath.Join(dir, "db"),
		PathLog:  filepath.Join(dir, "log"),
		PathHost: pathHost(dir),
		opt:      opt,
	}
	i.lock, err = lockFile(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("innlab: instance %s is in use: %w", dir, err)
	}
	if err := i.setup(); err != nil {
		i.lock.Close()
		return nil, err
	}
	if err := i.launch(); err != nil {
		i.lock.Close()
		return nil, err
	}
	return i, nil
}

// lockName is the file in an instance directory that Start locks while the
// instance runs, so that two instances never share a directory.
const lockName = "innlab.lock"

// pathHost derives a host name from the directory's base name, so that
// instances started side by side get distinct Path identities.
func pathHost(dir string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(filepath.Base(dir)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" {
		name = "innlab"
	}
	return name + ".lab.test"
}

// setup writes the directory tree, the configuration and the data files.
func (i *Instance) setup() error {
	dirs := []string{
		"etc", "etc/filter", "db", "run", "log", "tmp", "http",
		"spool", "spool/articles", "spool/overview", "spool/outgoing",
		"spool/incoming", "spool/incoming/tmp", "spool/incoming/bad",
		"spool/archive", "spool/cnfs",
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(i.Dir, d), 0o755); err != nil {
			return fmt.Errorf("innlab: %w", err)
		}
	}
	// A pid file or control socket left by a killed innd would make the new
	// one refuse to start or ctlinnd talk to nobody.
	for _, f := range []string{"innd.pid", "control"} {
		os.Remove(filepath.Join(i.PathRun, f))
	}
	// inn.conf is written by launch: it holds the port.
	files := map[string]string{
		"etc/newsfeeds":     i.newsfeeds(),
		"etc/incoming.conf": i.incomingConf(),
		"etc/storage.conf":  i.storageConf(),
		"etc/passwd.nntp":   "",
		"etc/expire.ctl":    "/remember/:11\n*:A:never:never:never\n",
	}
	if i.opt.Method == CNFS {
		buf := filepath.Join(i.Dir, "spool", "cnfs", "LAB1")
		// INN keeps cycbuff paths in 64-byte fields.
		if len(buf) > 63 {
			return fmt.Errorf("innlab: cnfs buffer path %s is %d characters, INN allows 63: use a shorter instance directory", buf, len(buf))
		}
		files["etc/cycbuff.conf"] = fmt.Sprintf("cycbuff:LAB1:%s:%d\nmetacycbuff:LABMETA:LAB1\n", buf, i.opt.CNFSSizeKB)
		if _, err := os.Stat(buf); errors.Is(err, os.ErrNotExist) {
			if err := createCycbuff(buf, int64(i.opt.CNFSSizeKB)*1024); err != nil {
				return err
			}
		}
	}
	for name, text := range files {
		if err := writeFile(filepath.Join(i.Dir, name), text, 0o644); err != nil {
			return err
		}
	}
	if err := i.dataFiles(); err != nil {
		return err
	}
	if err := chownTree(i.Dir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(i.PathDB, "history.dir")); errors.Is(err, os.ErrNotExist) {
		if err := i.emptyHistory(); err != nil {
			return err
		}
	}
	return nil
}

// historyFiles are the files of an empty hisv6 history.
var historyFiles = []string{"history", "history.dir", "history.hash", "history.index"}

// historyTemplate is the content of historyFiles as makedbz made them.
var historyTemplate struct {
	sync.Mutex
	files map[string][]byte
}

// emptyHistory writes an empty history. It has to come from makedbz, which
// writes the dbz header with the table size it wants, but makedbz takes
// about 0.13 s (it sizes a table of ten million entries), so it runs once
// per process and later instances get a copy of its files.
func (i *Instance) emptyHistory() error {
	historyTemplate.Lock()
	defer historyTemplate.Unlock()
	if historyTemplate.files == nil {
		if err := i.writeInnConf(0); err != nil {
			return err
		}
		cmd := i.Command("makedbz", "-i", "-o")
		cmd.Dir = i.PathDB
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("innlab: makedbz -i -o in %s: %w: %s", i.PathDB, err, bytes.TrimSpace(out))
		}
		files := map[string][]byte{}
		for _, name := range historyFiles {
			data, err := os.ReadFile(filepath.Join(i.PathDB, name))
			if err != nil {
				return fmt.Errorf("innlab: after makedbz: %w", err)
			}
			files[name] = data
		}
		historyTemplate.files = files
		return nil
	}
	for _, name := range historyFiles {
		if err := writeFile(filepath.Join(i.PathDB, name), string(historyTemplate.files[name]), 0o664); err != nil {
			return err
		}
	}
	return chownTree(i.PathDB)
}

// dataFiles writes active (the examples plus the instance's groups),
// newsgroups, active.times and an empty history file, unless active exists.
func (i *Instance) dataFiles() error {
	active := filepath.Join(i.PathDB, "active")
	if _, err := os.Stat(active); err == nil {
		return nil
	}
	act, err := os.ReadFile(filepath.Join(examplesDir, "active"))
	if err != nil {
		return fmt.Errorf("innlab: %w", err)
	}
	ngs, err := os.ReadFile(filepath.Join(examplesDir, "newsgroups"))
	if err != nil {
		return fmt.Errorf("innlab: %w", err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(act), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			have[f[0]] = true
		}
	}
	var times strings.Builder
	now := time.Now().Unix()
	for _, g := range i.opt.Groups {
		if have[g] {
			continue
		}
		have[g] = true
		// The same fields ctlinnd newgroup writes: high, low, flag.
		act = fmt.Appendf(act, "%s 0000000000 0000000001 y\n", g)
		ngs = fmt.Appendf(ngs, "%s\t\tinnlab test group.\n", g)
		fmt.Fprintf(&times, "%s %d innlab@lab.test\n", g, now)
	}
	// active goes last: its presence means the set is complete.
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"newsgroups", ngs},
		{"active.times", []byte(times.String())},
		{"history", nil},
		{"active", act},
	} {
		if err := writeFile(filepath.Join(i.PathDB, f.name), string(f.data), 0o664); err != nil {
			return err
		}
	}
	return nil
}

func (i *Instance) newsfeeds() string {
	var b strings.Builder
	// ME must come first: its pattern is prepended to every other site's.
	b.WriteString("ME:*::\n")
	for _, f := range i.opt.Feeds {
		b.WriteString(strings.TrimRight(f, "\n"))
		b.WriteByte('\n')
	}
	return b.String()
}

func (i *Instance) incomingConf() string {
	streaming := i.opt.Streaming == nil || *i.opt.Streaming
	return fmt.Sprintf(`streaming:       %t
max-connections: unlimited

peer lab {
    hostname:        "127.0.0.1"
    streaming:       %t
    max-connections: unlimited
}
`, streaming, streaming)
}

func (i *Instance) storageConf() string {
	opts := ""
	if i.opt.Method == CNFS {
		opts = "    options:    LABMETA\n"
	}
	return fmt.Sprintf("method %s {\n    newsgroups: *\n    class:      0\n%s}\n", i.opt.Method, opts)
}

// writeInnConf writes inn.conf for the given port.
func (i *Instance) writeInnConf(port int) error {
	d := i.Dir
	conf := fmt.Sprintf(`# Written by innlab for a sandboxed test instance.
pathhost:           %s
domain:             lab.test
organization:       "innlab"
mta:                "/bin/false %%s"
mailcmd:            /bin/false
port:               %d
bindaddress:        127.0.0.1
runasuser:          news
runasgroup:         news
artcutoff:          0
maxartsize:         10000000
maxconnections:     0
hismethod:          hisv6
ovmethod:           tradindexed
enableoverview:     %t
wireformat:         true
timer:              60
status:             0
pathnews:           /usr/lib/news
pathbin:            %s
pathcontrol:        %s/control
pathfilter:         %s/etc/filter
pathetc:            %s/etc
pathdb:             %s/db
pathrun:            %s/run
pathlog:            %s/log
pathhttp:           %s/http
pathtmp:            %s/tmp
pathspool:          %s/spool
patharticles:       %s/spool/articles
pathoverview:       %s/spool/overview
pathoutgoing:       %s/spool/outgoing
pathincoming:       %s/spool/incoming
patharchive:        %s/spool/archive
`, i.PathHost, port, i.opt.Overview, Binaries(), Binaries(),
		d, d, d, d, d, d, d, d, d, d, d, d, d)
	return writeFile(i.InnConf, conf, 0o644)
}

// createCycbuff makes a CNFS buffer file. It is sparse: innd writes the
// header itself on first use, and a 512 MiB buffer costs no disk until used.
func createCycbuff(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o664)
	if err != nil {
		return fmt.Errorf("innlab: create cycbuff: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("innlab: size cycbuff %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("innlab: %w", err)
	}
	return nil
}

// launch picks a port, writes inn.conf and starts innd, retrying with a new
// port when innd could not bind the one it was given.
func (i *Instance) launch() error {
	const attempts = 6
	var last error
	for n := 0; n < attempts; n++ {
		lease, err := leasePort()
		if err != nil {
			return err
		}
		err = i.startInnd(lease.port)
		if err == nil {
			i.port = lease
			i.Port = lease.port
			i.Addr = fmt.Sprintf("127.0.0.1:%d", lease.port)
			return nil
		}
		lease.release()
		last = err
		var be *bindError
		if !errors.As(err, &be) {
			return err
		}
	}
	return fmt.Errorf("innlab: innd in %s: no usable port after %d attempts: %w", i.Dir, attempts, last)
}

// bindError is returned by startInnd when innd exited early and its port is
// taken: another port may work.
type bindError struct{ err error }

func (e *bindError) Error() string { return e.err.Error() }
func (e *bindError) Unwrap() error { return e.err }

// startupTimeout bounds how long innd may take to answer `ctlinnd mode`.
const startupTimeout = 20 * time.Second

func (i *Instance) startInnd(port int) error {
	if err := i.writeInnConf(port); err != nil {
		return err
	}
	for _, f := range []string{"innd.pid", "control"} {
		os.Remove(filepath.Join(i.PathRun, f))
	}
	out, err := os.OpenFile(filepath.Join(i.PathLog, "innd.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("innlab: %w", err)
	}
	defer out.Close()
	// -f keeps innd in the foreground as our child: we can reap it, know its
	// pid for sure, and have the kernel kill it if this process dies
	// (parent-death signal), so no innd outlives a crashed or timed-out test.
	cmd := i.commandContext(context.Background(), !i.opt.Detach, "innd", "-N", "-f")
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Its own process group: a ^C meant for a test or demo in a terminal
	// must not reach innd, which would then take 60 s (timer) to notice.
	cmd.SysProcAttr.Setpgid = true
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Dir = i.Dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("innlab: start innd in %s: %w", i.Dir, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	i.cmd, i.exited = cmd, exited

	deadline := time.Now().Add(startupTimeout)
	control := filepath.Join(i.PathRun, "control")
	delay := 5 * time.Millisecond
	for {
		select {
		case <-exited:
			err := fmt.Errorf("innlab: innd in %s exited during startup (%v)%s", i.Dir, cmd.ProcessState, i.logTail())
			if portInUse(port) {
				return &bindError{err}
			}
			return err
		default:
		}
		// The control socket appears once innd is nearly ready; polling for it
		// is far cheaper than running ctlinnd every few milliseconds.
		if _, err := os.Stat(control); err == nil {
			if _, err := i.ctlinnd(2*time.Second, "-t", "2", "mode"); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			i.kill()
			return fmt.Errorf("innlab: innd in %s not ready after %v%s", i.Dir, startupTimeout, i.logTail())
		}
		time.Sleep(delay)
		if delay < 40*time.Millisecond {
			delay += 5 * time.Millisecond
		}
	}
}

// logTail returns the end of innd's own error outputs, for error messages.
func (i *Instance) logTail() string {
	var b strings.Builder
	for _, name := range []string{"innd.out", "errlog"} {
		data, err := os.ReadFile(filepath.Join(i.PathLog, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "\n%s:\n%s", name, bytes.TrimSpace(data))
	}
	return b.String()
}

// Pid returns the process id of the instance's innd, for measuring it (/proc).
func (i *Instance) Pid() int { return i.cmd.Process.Pid }

// Stop shuts innd down with `ctlinnd shutdown`, waits (at most 10 s) for it
// to exit and kills it otherwise. It kills nothing but its own innd: the
// child it started, which is also the pid in its innd.pid. An innd that was
// already shut down cleanly (say by a test's own `ctlinnd shutdown`) is not
// an error; one that died is. Stop may be called more than once; the
// directory is left in place.
func (i *Instance) Stop() error {
	i.stopOnce.Do(func() { i.stopErr = i.stop() })
	return i.stopErr
}

func (i *Instance) stop() error {
	defer func() {
		if i.port != nil {
			i.port.release()
		}
		if i.lock != nil {
			i.lock.Close()
		}
	}()
	if i.cmd == nil {
		return nil
	}
	select {
	case <-i.exited:
		// Shut down by someone else (a test's own ctlinnd shutdown) is fine;
		// a crash is worth reporting.
		if i.cmd.ProcessState.Success() {
			return nil
		}
		return fmt.Errorf("innlab: innd in %s had died (%v)%s", i.Dir, i.cmd.ProcessState, i.logTail())
	default:
	}
	// innd's article log is a stdio buffer that only a flush or a normal
	// exit writes out; see waitCleanup for why it matters.
	i.ctlinnd(10*time.Second, "flush", "")
	_, shutErr := i.ctlinnd(10*time.Second, "shutdown", "innlab stop")
	limit := 10 * time.Second
	if shutErr != nil {
		// Either innd is already shutting down (then waitCleanup sees it at
		// once) or it does not answer; don't wait long for the latter.
		limit = time.Second
	}
	if i.waitCleanup(limit) {
		return nil
	}
	i.kill()
	if shutErr != nil {
		return fmt.Errorf("innlab: stop innd in %s: %w (killed it)", i.Dir, shutErr)
	}
	return fmt.Errorf("innlab: innd in %s did not exit within 10s of ctlinnd shutdown (killed it)", i.Dir)
}

// waitCleanup waits at most limit for innd to finish after a shutdown
// request. innd's shutdown closes everything (feeds, history, active,
// storage, overview, the control socket) and then sleeps one second before
// it removes its pid file and exits. Waiting that second out for every
// instance of every test adds up, so once the control socket is gone and innd
// sits in that sleep, it is killed: all its files are complete by then
// except the article log, which Stop flushed just before.
func (i *Instance) waitCleanup(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	control := filepath.Join(i.PathRun, "control")
	pid := i.cmd.Process.Pid
	for {
		select {
		case <-i.exited:
			return true
		case <-time.After(5 * time.Millisecond):
		}
		if _, err := os.Stat(control); errors.Is(err, os.ErrNotExist) && inNanosleep(pid) {
			i.cmd.Process.Signal(syscall.SIGKILL)
			<-i.exited
			os.Remove(filepath.Join(i.PathRun, "innd.pid"))
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// inNanosleep reports whether process pid is blocked in nanosleep(2) or
// clock_nanosleep(2).
func inNanosleep(pid int) bool {
	wchan, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	if err == nil && bytes.Contains(wchan, []byte("nanosleep")) {
		return true
	}
	sc, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	if err != nil {
		return false
	}
	nr, _, _ := strings.Cut(string(sc), " ")
	switch runtime.GOARCH {
	case "amd64":
		return nr == "35" || nr == "230"
	case "arm64":
		return nr == "101" || nr == "115"
	}
	return false
}

// kill sends SIGKILL to the innd this instance started and waits for it to
// be reaped. The child is not reaped before this returns, so its pid cannot
// have been reused by another process.
func (i *Instance) kill() {
	if i.cmd == nil || i.cmd.Process == nil {
		return
	}
	select {
	case <-i.exited:
		return
	default:
	}
	pid := i.cmd.Process.Pid
	if data, err := os.ReadFile(filepath.Join(i.PathRun, "innd.pid")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && p != pid && isOurInnd(p, i.InnConf) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	i.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-i.exited:
	case <-time.After(5 * time.Second):
	}
}

// isOurInnd reports whether pid is an innd running with the given INNCONF.
func isOurInnd(pid int, innconf string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || filepath.Base(exe) != "innd" {
		return false
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if string(kv) == "INNCONF="+innconf {
			return true
		}
	}
	return false
}

// Env returns the environment for this instance's INN programs: os.Environ()
// with INNCONF set to the instance's inn.conf.
func (i *Instance) Env() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "INNCONF=") {
			out = append(out, kv)
		}
	}
	return append(out, "INNCONF="+i.InnConf)
}

// Command returns a command running prog (a program in Binaries() unless it
// contains a slash) as user news, with INNCONF set and the instance
// directory as working directory. The caller may change the command before
// starting it. The program is killed if the calling process dies.
func (i *Instance) Command(prog string, args ...string) *exec.Cmd {
	return i.commandContext(context.Background(), true, prog, args...)
}

func (i *Instance) commandContext(ctx context.Context, pdeath bool, prog string, args ...string) *exec.Cmd {
	if !strings.Contains(prog, "/") {
		prog = filepath.Join(Binaries(), prog)
	}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		// setpriv changes uid and gid without a PAM session (su and runuser log
		// to syslog and fail to set limits). It sets the parent-death signal
		// after the uid change, which clears one set before.
		a := []string{"--reuid=news", "--regid=news", "--init-groups"}
		if pdeath {
			a = append(a, "--pdeathsig=KILL")
		}
		cmd = exec.CommandContext(ctx, setprivPath, append(append(a, "--", prog), args...)...)
	} else {
		cmd = exec.CommandContext(ctx, prog, args...)
		if pdeath {
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}
	}
	cmd.Env = i.Env()
	cmd.Dir = i.Dir
	return cmd
}

// setprivPath is util-linux's setpriv.
const setprivPath = "/usr/bin/setpriv"

// Ctlinnd runs ctlinnd with args against this instance and returns its
// output. A failing command (non-zero exit) is an error that includes the
// output. It gives up after a minute.
func (i *Instance) Ctlinnd(args ...string) (string, error) {
	return i.ctlinnd(time.Minute, args...)
}

func (i *Instance) ctlinnd(limit time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := i.commandContext(ctx, true, "ctlinnd", args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return text, fmt.Errorf("innlab: ctlinnd %s (%s): %w: %s", strings.Join(args, " "), i.Dir, err, text)
	}
	return text, nil
}

// Missing runs grephistory -i with the given message-ids on its standard
// input and returns those that are not in the instance's history.
func (i *Instance) Missing(mids []string) ([]string, error) {
	cmd := i.Command("grephistory", "-i")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("innlab: grephistory: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("innlab: grephistory: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("innlab: grephistory: %w", err)
	}
	go func() {
		w := bufio.NewWriter(in)
		for _, m := range mids {
			w.WriteString(m)
			w.WriteByte('\n')
		}
		w.Flush()
		in.Close()
	}()
	var missing []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			missing = append(missing, line)
		}
	}
	scanErr := sc.Err()
	if err := cmd.Wait(); err != nil {
		return missing, fmt.Errorf("innlab: grephistory -i in %s: %w: %s", i.Dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if scanErr != nil {
		return missing, fmt.Errorf("innlab: grephistory -i: %w", scanErr)
	}
	return missing, nil
}

// FeedLines flushes site's file feed (`ctlinnd flush site`) and returns the
// lines of pathoutgoing/site. A feed file that does not exist yet has no
// lines.
func (i *Instance) FeedLines(site string) ([]string, error) {
	if _, err := i.Ctlinnd("flush", site); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(i.Outgoing, site))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("innlab: %w", err)
	}
	defer f.Close()
	var lines []string
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if line = strings.TrimRight(line, "\n"); line != "" {
			lines = append(lines, line)
		}
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, fmt.Errorf("innlab: read %s: %w", f.Name(), err)
		}
	}
}

// StartT calls Require, then starts an instance in a new directory under the
// temporary directory. A cleanup stops the instance and removes the
// directory; if the test failed, the end of innd's error log is logged first.
func StartT(t testing.TB, opt Options) *Instance {
	t.Helper()
	Require(t)
	dir, err := tempInstanceDir()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := Start(dir, opt)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.cleanupT(t) })
	return inst
}

func (i *Instance) cleanupT(t testing.TB) {
	if t.Failed() {
		if tail := i.logTail(); tail != "" {
			t.Logf("innd in %s:%s", i.Dir, tail)
		}
	}
	if err := i.Stop(); err != nil {
		t.Error(err)
	}
	if err := os.RemoveAll(i.Dir); err != nil {
		t.Error(err)
	}
}

// SenderReceiver starts two instances side by side (with Require and
// cleanups as StartT). The sender additionally gets PeerFeed, so every
// article injected into it is written as "token message-id" to
// sender.Outgoing/peer.
func SenderReceiver(t testing.TB, sendOpt, recvOpt Options) (sender, receiver *Instance) {
	t.Helper()
	Require(t)
	sendOpt.Feeds = append(append([]string(nil), sendOpt.Feeds...), PeerFeed)
	var (
		wg    sync.WaitGroup
		insts [2]*Instance
		errs  [2]error
	)
	for n, opt := range []Options{sendOpt, recvOpt} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir, err := tempInstanceDir()
			if err != nil {
				errs[n] = err
				return
			}
			insts[n], errs[n] = Start(dir, opt)
			if errs[n] != nil {
				os.RemoveAll(dir)
			}
		}()
	}
	wg.Wait()
	for _, inst := range insts {
		if inst != nil {
			t.Cleanup(func() { inst.cleanupT(t) })
		}
	}
	if err := errors.Join(errs[0], errs[1]); err != nil {
		t.Fatal(err)
	}
	return insts[0], insts[1]
}

// writeFile writes text to path with the given mode.
func writeFile(path, text string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		return fmt.Errorf("innlab: %w", err)
	}
	return nil
}

// newsIDs returns the uid and gid of user news.
var newsIDs = sync.OnceValues(func() ([2]int, error) {
	u, err := user.Lookup("news")
	if err != nil {
		return [2]int{}, fmt.Errorf("innlab: user news: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return [2]int{}, fmt.Errorf("innlab: user news: %w", err)
	}
	return [2]int{uid, gid}, nil
})

// chownTree gives everything under dir to news:news.
func chownTree(dir string) error {
	ids, err := newsIDs()
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil // we are news already (checkPrivileges)
	}
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("innlab: %w", err)
		}
		if err := os.Lchown(path, ids[0], ids[1]); err != nil {
			return fmt.Errorf("innlab: %w", err)
		}
		return nil
	})
}

// makeTraversable checks that user news can reach dir. Parents under the
// temporary directory (t.TempDir() makes them 0700) get o+x added; any other
// parent that news cannot traverse is an error.
func makeTraversable(dir string) error {
	ids, err := newsIDs()
	if err != nil {
		return err
	}
	tmp := filepath.Clean(os.TempDir())
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("innlab: %w", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0 ||
			(int(st.Uid) == ids[0] && mode&0o100 != 0) ||
			(int(st.Gid) == ids[1] && mode&0o010 != 0)
		if !ok {
			if !strings.HasPrefix(p, tmp+"/") || os.Geteuid() != 0 && int(st.Uid) != os.Geteuid() {
				return fmt.Errorf("innlab: user news cannot traverse %s (mode %v)", p, mode)
			}
			if err := os.Chmod(p, mode|0o011); err != nil {
				return fmt.Errorf("innlab: %w", err)
			}
		}
		if p == "/" || p == tmp {
			return nil
		}
	}
}
