// Package commands wires nxmit's command line to the packages that do the work: batch
// (queue files), nntp (the protocol), spoolfmt (INN's formats) and xmit (the send pass).
// A file per subcommand holds its flags, help text and wiring, and nothing else.
package commands

import (
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"nxmit/config"
	"nxmit/innctl"
)

// CLI is the whole command line: global flags and one field per subcommand.
type CLI struct {
	Globals

	Send       SendCmd       `cmd:"" help:"Transmit a site's queued backlogs to its peer."`
	Rotate     RotateCmd     `cmd:"" help:"Turn a site's live feed file into a backlog (link, ctlinnd flush, install)."`
	Requeue    RequeueCmd    `cmd:"" help:"Collect a site's deferral files whose retry delay has passed into a new backlog."`
	Merge      MergeCmd      `cmd:"" help:"Merge feed files, innxmit batches and backlogs into one new backlog of a site."`
	Filter     FilterCmd     `cmd:"" help:"Filter batch lines from stdin or files to stdout (dedupe, exists, groups, size, age)."`
	Scan       ScanCmd       `cmd:"" help:"Build a backlog (or stdout lines) from INN's history and spool: time range, groups, size."`
	Status     StatusCmd     `cmd:"" help:"Show the queue of each site: feed file, backlogs, deferrals, locks."`
	Trace      TraceCmd      `cmd:"" help:"Where is an article (feed, backlog, deferral, quarantine) and what happened to it, per site."`
	Run        RunCmd        `cmd:"" help:"For the crontab: rotate, requeue and send every configured site."`
	Hold       HoldCmd       `cmd:"" help:"Pause sending to a site (its block in nxmit.conf stays)."`
	Release    ReleaseCmd    `cmd:"" aliases:"unhold" help:"Resume sending to a site paused by 'nxmit hold'."`
	Innxmit    InnxmitCmd    `cmd:"" help:"Behave as INN's innxmit (also when invoked under that name)." passthrough:""`
	Check      CheckCmd      `cmd:"" help:"Check the setup: inn.conf, nxmit.conf, passwd.nntp, newsfeeds entries, the outgoing directory, and optionally the peers."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
	Man        ManCmd        `cmd:"" help:"Print the manual page nxmit(8), in roff." hidden:""`
	Version    VersionCmd    `cmd:"" help:"Print nxmit's version, VCS revision and Go release."`
	Help       HelpCmd       `cmd:"" help:"Show the help of nxmit or of a command."`
}

// Globals are the flags every subcommand accepts.
type Globals struct {
	VersionFlag kong.VersionFlag `name:"version" help:"Print nxmit's version and exit."`

	Config      string `help:"nxmit's site configuration file (default: PATHETC/nxmit.conf)." env:"NXMIT_CONFIG" type:"path" placeholder:"FILE"`
	InnConfFile string `name:"innconf" help:"INN's inn.conf (default: $INNCONF, then /etc/news/inn.conf)." env:"INNCONF" type:"path" placeholder:"FILE"`
	Outgoing    string `help:"Outgoing directory holding the sites' queue files (default: inn.conf's pathoutgoing)." type:"path" placeholder:"DIR"`
	Verbose     bool   `short:"v" help:"Also print statistics and progress notes on stderr."`
	LogFile     string `help:"Append statistics to this file instead of syslog." type:"path" placeholder:"FILE"`
	LogIdent    string `help:"Syslog ident for statistics (default: nxmit.conf's log-ident, else innxmit, which innreport counts)." placeholder:"NAME"`

	SyslogSocket string `help:"Local syslog socket for statistics (default /dev/log)." env:"NXMIT_SYSLOG_SOCKET" type:"path" placeholder:"PATH"`
	Passwd       string `help:"INN's passwd.nntp, AUTHINFO credentials by host (default: nxmit.conf's passwd, else PATHETC/passwd.nntp)." type:"path" placeholder:"FILE"`

	loaded *loaded // files read once; see AfterApply
	// DropRoot makes a run started as root switch to INN's user before it touches the
	// queue or the spool (see dropRoot). The program sets it; tests that call commands
	// in the test process leave it off, since the switch is for the whole process.
	DropRoot bool `kong:"-"`
}

// KongOptions returns the parser options nxmit uses everywhere, tests included.
func KongOptions() []kong.Option {
	return []kong.Option{
		kong.Name("nxmit"),
		kong.Description("Transmit INN's outgoing news feeds over NNTP, one bounded pass per run, losing nothing."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Help(helpPrinter),
		kong.Vars(defaultVars()),
		kong.TypeMapper(reflect.TypeFor[time.Duration](), durationMapper()),
	}
}

// defaultVars quotes the built-in defaults for the help texts (${default_window} and so
// on), so that each default is written once: in config.Builtin and the constants it
// quotes.
func defaultVars() kong.Vars {
	b := config.Builtin()
	return kong.Vars{
		"default_port":            strconv.Itoa(b.Port),
		"default_tls_port":        strconv.Itoa(config.DefaultTLSPort),
		"default_connections":     strconv.Itoa(b.Connections),
		"default_max_site_conns":  strconv.Itoa(b.MaxSiteConnections),
		"default_window":          strconv.Itoa(b.Window),
		"default_connect_timeout": shortDuration(b.ConnectTimeout),
		"default_reply_timeout":   shortDuration(b.ReplyTimeout),
		"default_rotate_min_size": shortSize(b.RotateMinSize),
		"default_rotate_max_age":  shortDuration(b.RotateMaxAge),
		"default_retry_delay":     shortDuration(b.RetryDelay),
		"default_max_connections": strconv.Itoa(config.DefaultMaxConnections),
		"default_flush_timeout":   shortDuration(innctl.DefaultTimeout),
		"version":                 Version(),
	}
}

// shortDuration writes d as an administrator would: 2m, not 2m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// shortSize writes n bytes with the largest suffix (k, M, G: powers of 1024) that
// divides it.
func shortSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"k", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
