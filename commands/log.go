package commands

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"nxmit/config"
	"nxmit/logging"
	"nxmit/nntp"
	"nxmit/xmit"
)

// detailIdent is the syslog ident of nxmit's own statistics line. It is not innxmit's,
// and the line is logged at info, below the news.notice file innreport reads, so that
// innreport's report lists no unknown entries.
const detailIdent = "nxmit"

// FallbackLogName is the log file nxmit writes in INN's pathlog when there is neither a
// syslog socket nor a configured log file: statistics are never silently lost.
const FallbackLogName = "nxmit.log"

// logDestination returns where the statistics go: the log file (--log-file, else
// nxmit.conf's log-file, else, when there is no syslog socket, pathlog/nxmit.log) or ""
// for syslog; fallback is set in the last case.
func (g *Globals) logDestination() (file string, fallback bool) {
	file = g.LogFile
	if file == "" {
		if conf, err := g.SiteConfig(); err == nil {
			file = conf.LogFile
		}
	}
	if file != "" || logging.SocketExists(g.SyslogSocket) {
		return file, false
	}
	ic, err := g.InnConf()
	if err != nil || ic.PathLog == "" {
		return "", false
	}
	if fi, err := os.Stat(ic.PathLog); err != nil || !fi.IsDir() {
		return "", false // no INN log directory either: nowhere sensible to write
	}
	return filepath.Join(ic.PathLog, FallbackLogName), true
}

// logger returns the Logger for statistics: --log-file, else the configuration file's
// log-file, else syslog, else (no syslog socket) pathlog/nxmit.log; the ident from
// --log-ident, else the file's log-ident, else innxmit. A log file that cannot be opened
// is reported once, and syslog is used. A log file created or left by a run as root
// is given to the outgoing directory's owner (news).
func (g *Globals) logger() *logging.Logger {
	opt := logging.Options{Ident: g.LogIdent, Socket: g.SyslogSocket}
	opt.File, _ = g.logDestination()
	if conf, err := g.SiteConfig(); err == nil {
		// Kong fills in the default, so "innxmit" may mean "not given".
		if (opt.Ident == "" || opt.Ident == logging.DefaultIdent) && conf.LogIdent != "" {
			opt.Ident = conf.LogIdent
		}
	}
	key := fmt.Sprintf("%q %q %q", opt.Ident, opt.File, opt.Socket)
	// Before the lock: OutgoingDir takes it too.
	dir, dirErr := g.OutgoingDir()
	// One Logger per process: run logs for several sites at once.
	lc := g.init()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.logger != nil && lc.loggerKey == key {
		return lc.logger
	}
	if err := config.CheckIdent(opt.Ident); err != nil && opt.Ident != "" {
		fmt.Fprintf(os.Stderr, "nxmit: --log-ident: %v; using %s\n", err, logging.DefaultIdent)
		opt.Ident = logging.DefaultIdent
	}
	l, err := logging.Open(opt)
	if err == nil && opt.File != "" && dirErr == nil {
		// A log file a run as root created belongs to the outgoing directory's owner
		// (news), so that the cron runs as news can write it.
		logging.GiveTo(opt.File, dir)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nxmit: %v; logging to syslog instead\n", err)
		opt.File = ""
		l, _ = logging.Open(opt)
	}
	lc.loggerKey, lc.logger = key, l
	return l
}

// logStats records a pass's statistics in innxmit's formats, so innreport counts nxmit:
// the stats and times lines at notice under the ident innxmit, nxmit's detail line at
// info under the ident nxmit. With -v they are also printed on stderr. The label is the
// site's name (two sites feeding one host must not merge in innreport); innxmit mode
// passes the host, as innxmit does.
func (g *Globals) logStats(label string, st xmit.Stats) {
	g.logStatsTo(label, st, nil)
}

// logStatsTo is logStats; the lines also go to w when it is not nil (innxmit -v prints
// them on stdout).
func (g *Globals) logStatsTo(host string, st xmit.Stats, w io.Writer) {
	l := g.logger()
	stats, times, detail := st.StatsLine(host), st.TimesLine(host), st.DetailLine(host)
	l.Log(logging.Notice, stats)
	l.Log(logging.Notice, times)
	l.LogAs(detailIdent, logging.Info, detail)
	if w != nil {
		fmt.Fprintf(w, "%s\n%s\n", stats, times)
	}
	if g.Verbose {
		fmt.Fprintf(os.Stderr, "%s\n%s\n%s\n", stats, times, detail)
	}
}

// logSendError logs why a pass failed in the forms innreport recognizes:
// "HOST connect failed ...", "HOST authenticate failed ...", "HOST ihave failed ...".
// Errors of other kinds are not logged (they are on stderr).
func (g *Globals) logSendError(host string, err error) {
	if msg := failureLine(host, err); msg != "" {
		pri := logging.Notice
		if strings.Contains(msg, " authenticate failed ") {
			pri = logging.Err
		}
		g.logger().Log(pri, msg)
	}
}

// failureLine renders err as innxmit's syslog line for it, or "".
func failureLine(host string, err error) string {
	var nerr *nntp.Error
	hasReply := errors.As(err, &nerr)
	var unreachable *xmit.UnreachableError
	switch {
	case hasReply && strings.HasPrefix(nerr.Op, "AUTHINFO"):
		return fmt.Sprintf("%s authenticate failed %d %s", host, nerr.Reply.Code, nerr.Reply.Text)
	case errors.As(err, &unreachable):
		if hasReply {
			// innreport tells "connect HOST 400 ..." (throttled, no space, load) from
			// other failures.
			return fmt.Sprintf("%s connect failed %d %s", host, nerr.Reply.Code, nerr.Reply.Text)
		}
		return fmt.Sprintf("%s connect failed %v", host, errors.Unwrap(unreachable))
	case hasReply && (nerr.Reply.Code == 400 || nerr.Reply.Code == 403 || nerr.Reply.Code == 436 || nerr.Reply.Code == 480):
		return fmt.Sprintf("%s ihave failed %d %s", host, nerr.Reply.Code, nerr.Reply.Text)
	}
	return ""
}
