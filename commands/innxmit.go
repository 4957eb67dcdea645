package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

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
	feedProcs()
	if err := g.dropRoot(); err != nil {
		return err
	}
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
	b, err := xmit.OpenInnxmitBatch(x.path)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	defer b.Close()
	store, err := spoolfmt.OpenStore(x.conf)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	defer store.Close()

	if err := b.OpenDeferrals(); err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}

	if x.a.purge {
		return x.purge(store, b)
	}
	return x.send(store, b)
}

// send transmits the batch and rewrites it.
func (x *innxmit) send(store *spoolfmt.Store, b *xmit.InnxmitBatch) error {
	passwd := x.g.Passwd
	if passwd == "" {
		passwd = filepath.Join(x.conf.PathEtc, config.PasswdFileName)
	}
	pw, err := config.LoadPasswd(passwd)
	if err != nil {
		x.warn("%v", passwdHint(err))
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
	}
	if x.a.logRejected {
		opt.LogRejected = func(l batch.Line, r nntp.Reply) {
			logger.Log(logging.Notice, fmt.Sprintf("%s rejected %s (%s) %d %s", x.a.host, l.MessageID, l.Article, r.Code, r.Text))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	st, err := b.Send(ctx, opt)
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
		b.DiscardDeferrals()
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

	left, err := b.Rewrite(x.a.always)
	if err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	if left.Unsent > 0 || interrupted || sendErr != nil {
		if left.Changed {
			x.warn("rewriting batch file and exiting")
		} else {
			x.warn("nothing sent -- leaving batchfile alone")
		}
		return ExitStatus(ExitError)
	}
	return nil
}

// purge keeps the lines whose article still exists, without a connection (innxmit -p).
func (x *innxmit) purge(store *spoolfmt.Store, b *xmit.InnxmitBatch) error {
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
	if _, err := b.Purge(keep); err != nil {
		x.warn("%v", err)
		return ExitStatus(ExitError)
	}
	return nil
}
