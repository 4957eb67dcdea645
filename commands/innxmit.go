package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"nxmit/batch"
	"nxmit/config"
	"nxmit/logging"
	"nxmit/nntp"
	"nxmit/spoolfmt"
	"nxmit/xmit"
)

// InnxmitCmd is INN's innxmit, for nntpsend and send-nntp: it sends one batch file to a
// host and rewrites the file with what was not done.
type InnxmitCmd struct {
	Args []string `arg:"" optional:"" passthrough:"" help:"innxmit's arguments: [-acdHlprsv] [-P port] [-T secs] [-t secs] host file."`
}

// Help is shown under the subcommand's usage.
func (c *InnxmitCmd) Help() string {
	return `Invoked as "innxmit" (a symlink to nxmit) or as "nxmit innxmit", nxmit behaves as
INN's innxmit: it takes innxmit's options, sends the batch file FILE (relative names are
in inn.conf's pathoutgoing) to HOST, and then removes the file when everything was done,
or rewrites it with the lines not done (deferred, not read, or not yet offered when the
transfer stopped). Statistics are logged as innxmit logs them (syslog, facility news,
ident innxmit; -v also prints them on stdout).

Options (innxmit's): -a always rewrite; -c no CHECK, TAKETHIS only; -d protocol trace on
stderr; -l log rejected articles; -p purge (keep the lines whose article still exists,
no connection); -P port; -r accepted (no effect); -s no MODE STREAM; -t secs connect
timeout; -T secs time limit; -v print statistics. -H (headers-only feed) is not supported.

Exit status (innxmit's): 0 done; 1 anything else (usage, no connection, transfer
interrupted and batch rewritten).`
}

// innxmitArgs are innxmit's parsed options.
type innxmitArgs struct {
	always, noCheck, debug, logRejected, purge bool
	noRequeue, noStream, verbose, headers      bool

	port                      int
	connectTimeout, timeLimit time.Duration
	host, file                string
}

const innxmitUsage = "Usage: innxmit [-acdHlprs] [-t#] [-T#] host file"

// parseInnxmitArgs parses innxmit's command line as getopt("acdHlpP:rst:T:v") does:
// clustered flags, option arguments attached or separate, "--" ends the options.
func parseInnxmitArgs(args []string) (innxmitArgs, error) {
	a := innxmitArgs{port: 119}
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		for j := 1; j < len(arg); j++ {
			opt := arg[j]
			switch opt {
			case 'a':
				a.always = true
			case 'c':
				a.noCheck = true
			case 'd':
				a.debug = true
			case 'H':
				a.headers = true
			case 'l':
				a.logRejected = true
			case 'p':
				a.purge = true
			case 'r':
				a.noRequeue = true
			case 's':
				a.noStream = true
			case 'v':
				a.verbose = true
			case 'P', 't', 'T':
				val := arg[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return a, fmt.Errorf("option requires an argument -- '%c'", opt)
					}
					i++
					val = args[i]
				}
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 {
					return a, fmt.Errorf("invalid value %q for -%c", val, opt)
				}
				switch opt {
				case 'P':
					if n < 1 || n > 65535 {
						return a, fmt.Errorf("invalid port %q", val)
					}
					a.port = n
				case 't':
					a.connectTimeout = time.Duration(n) * time.Second
				case 'T':
					a.timeLimit = time.Duration(n) * time.Second
				}
				j = len(arg)
			default:
				return a, fmt.Errorf("invalid option -- '%c'", opt)
			}
		}
	}
	rest := args[i:]
	if len(rest) != 2 {
		return a, errors.New("need a host and a batch file")
	}
	a.host, a.file = rest[0], rest[1]
	return a, nil
}

// Run runs innxmit. Messages go to stderr prefixed "innxmit: " and the exit status is
// innxmit's, so it never returns an error main would print again.
func (c *InnxmitCmd) Run(g *Globals) error {
	warn := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "innxmit: "+format+"\n", args...)
	}
	a, err := parseInnxmitArgs(c.Args)
	if err != nil {
		warn("%v", err)
		fmt.Fprintln(os.Stderr, innxmitUsage)
		return ExitStatus(ExitError)
	}
	if a.headers {
		warn("-H (headers-only feed, MODE HEADFEED) is not supported by nxmit")
		return ExitStatus(ExitError)
	}
	conf, err := g.InnConf()
	if err != nil {
		warn("%v", err)
		return ExitStatus(ExitError)
	}
	path := a.file
	if !filepath.IsAbs(path) {
		path = filepath.Join(conf.PathOutgoing, path)
	}
	x := &innxmit{g: g, a: a, conf: conf, path: path, warn: warn}
	return x.run()
}

// innxmit is one innxmit run over a batch file.
type innxmit struct {
	g    *Globals
	a    innxmitArgs
	conf *spoolfmt.InnConf
	path string
	warn func(format string, args ...any)
}

func (x *innxmit) run() error {
	f, err := os.OpenFile(x.path, os.O_RDWR, 0)
	if err != nil {
		x.warn("cannot open %s: %v", x.path, err)
		return ExitStatus(ExitError)
	}
	defer f.Close()
	// innxmit's lock, so that a real innxmit and nxmit exclude each other. An open file
	// description lock (unlike a classic fcntl lock) is not released when another
	// descriptor of the file is closed, and it conflicts with innxmit's F_SETLKW.
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		x.warn("cannot lock %s: %v", x.path, err)
		return ExitStatus(ExitError)
	}
	store, err := spoolfmt.OpenStore(x.conf)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	defer store.Close()

	defers, err := openDeferFile(x.path)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	defer defers.close()

	if x.a.purge {
		return x.purge(store, defers)
	}
	return x.send(store, defers)
}

// send transmits the batch and rewrites it.
func (x *innxmit) send(store *spoolfmt.Store, defers *deferFile) error {
	fi, err := os.Stat(x.path)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	passwd := x.g.Passwd
	if passwd == "" {
		passwd = filepath.Join(x.conf.PathEtc, config.PasswdFileName)
	}
	pw, err := config.LoadPasswd(passwd)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	cred, _ := pw.Lookup(x.a.host)

	dial := nntp.Config{DialTimeout: 300 * time.Second, ReplyTimeout: 600 * time.Second}
	if x.a.connectTimeout > 0 {
		dial.DialTimeout = x.a.connectTimeout
	}
	if x.a.debug {
		dial.Trace = os.Stderr
	}
	mode := nntp.Adaptive
	if x.a.noCheck {
		mode = nntp.NeverCheck
	}
	logger := x.g.logger()
	opt := xmit.Options{
		Queue:       batch.Queue{Dir: filepath.Dir(x.path), Site: filepath.Base(x.path)},
		Store:       store,
		Addr:        net.JoinHostPort(x.a.host, strconv.Itoa(x.a.port)),
		Dial:        dial,
		User:        cred.User,
		Password:    cred.Password,
		Connections: 1,
		Stream:      nntp.StreamConfig{Mode: mode},
		NoStream:    x.a.noStream,
		MaxTime:     x.a.timeLimit,
		Warn:        func(msg string) { x.warn("%s", msg) },
		Command:     "innxmit " + x.a.host,
		Files:       []batch.File{{Path: x.path, Kind: batch.KindBacklog, Created: fi.ModTime(), Size: fi.Size()}},
		Defers:      defers,
		NoLock:      true,
	}
	if x.a.logRejected {
		opt.LogRejected = func(l batch.Line, r nntp.Reply) {
			logger.Log(logging.Notice, fmt.Sprintf("%s rejected %s (%s) %d %s", x.a.host, l.MessageID, l.Article, r.Code, r.Text))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	st, err := xmit.Send(ctx, opt)
	var stdout io.Writer
	if x.a.verbose {
		stdout = os.Stdout
	}
	if st.Connections > 0 {
		x.g.logStatsTo(x.a.host, st, stdout)
	}
	var unreachable *xmit.UnreachableError
	if errors.As(err, &unreachable) {
		// Nothing was read or changed: the batch stays as it is.
		x.g.logSendError(x.a.host, err)
		x.warn("%s connect failed %v", x.a.host, errors.Unwrap(unreachable))
		defers.remove()
		return ExitStatus(ExitError)
	}
	sendErr := err
	if sendErr != nil {
		x.g.logSendError(x.a.host, sendErr)
		x.warn("%v", sendErr)
	}
	interrupted := ctx.Err() != nil
	if interrupted {
		x.warn("interrupted")
	}

	left, err := x.rewrite(defers)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	if left.unsent > 0 || interrupted || sendErr != nil {
		if left.changed {
			x.warn("rewriting batch file and exiting")
		} else {
			x.warn("nothing sent -- leaving batchfile alone")
		}
		return ExitStatus(ExitError)
	}
	return nil
}

// purge keeps the lines whose article still exists, without a connection (innxmit -p).
func (x *innxmit) purge(store *spoolfmt.Store, defers *deferFile) error {
	keep := func(l batch.Line) bool {
		if l.IsToken {
			ok, err := store.Exists(l.Token)
			return ok || err != nil // when in doubt, keep
		}
		p := l.Article
		if !filepath.IsAbs(p) {
			p = filepath.Join(x.conf.PathArticles, p)
		}
		_, err := os.Stat(p)
		return err == nil
	}
	if _, err := x.rewriteFiltered(defers, keep); err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	return nil
}

// rewriteResult says what was left in the batch.
type rewriteResult struct {
	unsent  int64 // lines still to be offered (the transfer stopped early)
	changed bool  // the file was rewritten or removed
}

// rewrite replaces the batch with its lines not done, then the deferred lines, or
// removes it when nothing is left.
func (x *innxmit) rewrite(defers *deferFile) (rewriteResult, error) {
	return x.rewriteFiltered(defers, nil)
}

// rewriteFiltered is rewrite, keeping only the lines for which keep is true when keep
// is set (and then also the malformed lines are dropped).
func (x *innxmit) rewriteFiltered(defers *deferFile, keep func(batch.Line) bool) (rewriteResult, error) {
	var res rewriteResult
	dir := filepath.Dir(x.path)
	tmp, err := os.CreateTemp(dir, "bch")
	if err != nil {
		return res, fmt.Errorf("rewrite %s: %w", x.path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	w := bufio.NewWriterSize(tmp, 64<<10)
	var blanks int64
	in, err := os.Open(x.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Every line was done and the batch removed; only deferrals may remain.
		res.changed = true
	case err != nil:
		return res, fmt.Errorf("rewrite %s: %w", x.path, err)
	default:
		sc := batch.NewScanner(in, x.path)
		for sc.Scan() {
			b := sc.Bytes()
			lerr := sc.LineErr()
			switch {
			case errors.Is(lerr, batch.ErrBlank):
				blanks++
				continue
			case errors.Is(lerr, batch.ErrLongLine), errors.Is(lerr, batch.ErrPartialLine):
				blanks++ // dropped, as innxmit drops them
				continue
			case keep != nil && (lerr != nil || !keep(sc.Line())):
				blanks++
				continue
			}
			res.unsent++
			w.Write(b)
			w.WriteByte('\n')
		}
		serr := sc.Err()
		sc.Close()
		in.Close()
		if serr != nil {
			return res, fmt.Errorf("rewrite %s: %w", x.path, serr)
		}
	}
	kept := res.unsent
	if keep != nil {
		res.unsent = 0
	}
	deferred, err := defers.copyTo(w)
	if err != nil {
		return res, err
	}
	if blanks == 0 && deferred == 0 && !res.changed {
		// Nothing was done: leave the batch exactly as it is.
		return res, defers.remove()
	}
	res.changed = true
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("rewrite %s: %w", x.path, err)
	}
	if kept+deferred == 0 {
		tmp.Close()
		os.Remove(tmpName)
		tmp = nil
		if err := os.Remove(x.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("remove %s: %w", x.path, err)
		}
		batch.SyncDir(dir) // best effort, as before: the rename is done
		return res, defers.remove()
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("rewrite %s: %w", x.path, err)
	}
	// Keep the batch's mode (nntpsend makes it 0664 through its umask).
	mode := os.FileMode(0o664)
	if fi, err := os.Stat(x.path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp.Chmod(mode)
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("rewrite %s: %w", x.path, err)
	}
	tmp = nil
	if err := os.Rename(tmpName, x.path); err != nil {
		os.Remove(tmpName)
		return res, fmt.Errorf("rewrite %s: %w", x.path, err)
	}
	batch.SyncDir(dir) // best effort, as before: the rename is done
	return res, defers.remove()
}

// deferFile holds the deferred lines of an innxmit run in BATCH.nxmit-defer next to the
// batch, written before each line is blanked in the batch, so that a crash loses
// nothing: the next run on the batch appends a leftover to the batch first.
type deferFile struct {
	path string
	f    *os.File
	n    int64
}

// DeferSuffix is appended to a batch's name for the file of its deferred lines.
const deferSuffix = ".nxmit-defer"

func openDeferFile(batchPath string) (*deferFile, error) {
	d := &deferFile{path: batchPath + deferSuffix}
	// A leftover from a crashed run: its lines go back into the batch.
	if data, err := os.ReadFile(d.path); err == nil && len(data) > 0 {
		if i := strings.LastIndexByte(string(data), '\n'); i < len(data)-1 {
			data = data[:i+1] // a partial last line was never acted on
		}
		bf, err := os.OpenFile(batchPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("recover %s: %w", d.path, err)
		}
		_, werr := bf.Write(data)
		serr := bf.Sync()
		bf.Close()
		if err := errors.Join(werr, serr); err != nil {
			return nil, fmt.Errorf("recover %s: %w", d.path, err)
		}
	}
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o664)
	if err != nil {
		return nil, fmt.Errorf("deferral file: %w", err)
	}
	d.f = f
	return d, nil
}

// Append implements xmit.DeferSink: one write(2) per line, so it is in the kernel
// before the line is blanked in the batch.
func (d *deferFile) Append(l batch.Line) error {
	b := l.Append(make([]byte, 0, 128))
	b = append(b, '\n')
	if _, err := d.f.Write(b); err != nil {
		return err
	}
	d.n++
	return nil
}

// Sync implements xmit.DeferSink.
func (d *deferFile) Sync() error { return d.f.Sync() }

func (d *deferFile) copyTo(w io.Writer) (int64, error) {
	if d.n == 0 {
		return 0, nil
	}
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := io.Copy(w, d.f); err != nil {
		return 0, fmt.Errorf("deferral file: %w", err)
	}
	return d.n, nil
}

func (d *deferFile) remove() error {
	d.close()
	if err := os.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (d *deferFile) close() {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}
