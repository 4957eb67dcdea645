package commands

import (
	"fmt"
	"os"
	"strings"
	"time"

	"nxmit/batch"
	"nxmit/logging"
	"nxmit/xmit"
)

// passReport holds what a site's pass has to say on stderr until the pass is over: then
// the site's last-run record decides whether it is said (a new failure), kept quiet (the
// same failure as last time, not yet lasting alert-after: cron would mail it every five
// minutes) or summed up (still failing, recovered). Everything is logged either way.
type passReport struct {
	g       *Globals
	q       batch.Queue
	command string
	prefix  string // "nxmit: run peer: "
	lines   []string
	errs    []string // the failures, for the record
	status  int
	out     func(string) // prints a line on stderr (run: above its per-site lines)
}

func newPassReport(g *Globals, q batch.Queue, command, prefix string) *passReport {
	return &passReport{g: g, q: q, command: command, prefix: prefix,
		out: func(l string) { fmt.Fprintln(os.Stderr, l) }}
}

// warn keeps a warning line (printed with the report).
func (p *passReport) warn(step, msg string) {
	p.lines = append(p.lines, p.prefix+step+": "+msg)
}

// fail keeps a failure of step and its exit status.
func (p *passReport) fail(step string, err error) {
	p.lines = append(p.lines, p.prefix+step+": "+err.Error())
	p.errs = append(p.errs, step+": "+err.Error())
	p.status = worseStatus(p.status, Status(err))
}

// finish writes the last-run record and prints what the comparison with the previous
// record allows. quietOK is false when a person is watching (stderr is a terminal):
// then everything is printed.
func (p *passReport) finish(st xmit.Stats, alertAfter time.Duration, quietOK bool) {
	now := time.Now()
	cur := batch.LastRun{Time: now, Command: p.command, Result: batch.ResultOK,
		Offered: st.Offered, Accepted: st.Accepted, Refused: st.Refused, Rejected: st.Rejected,
		Missing: st.Missing, Deferred: st.Deferred + st.Requeued}
	switch p.status {
	case ExitOK:
	case ExitTemporary:
		cur.Result = batch.ResultTemporary
	default:
		cur.Result = batch.ResultError
	}
	cur.Error = strings.Join(p.errs, "; ")
	prev, ok := p.q.ReadLastRun()
	rec, alert := prev.Next(ok, cur, alertAfter)
	if err := p.q.WriteLastRun(rec); err != nil {
		p.lines = append(p.lines, p.prefix+err.Error())
	}
	log := p.g.logger()
	for _, l := range p.lines {
		log.LogAs(detailIdent, logging.Err, strings.TrimPrefix(l, "nxmit: "))
	}
	switch {
	case alert == batch.AlertQuiet && quietOK:
		return
	case alert == batch.AlertStill:
		msg := fmt.Sprintf("%sstill failing the same way since %s (%s; alert-after %s); quiet until it recovers",
			p.prefix, rec.FailingSince.Local().Format("Jan _2 15:04"), ago(now.Sub(rec.FailingSince)), shortDuration(alertAfter))
		log.LogAs(detailIdent, logging.Err, strings.TrimPrefix(msg, "nxmit: "))
		p.out(msg)
	case alert == batch.AlertRecovered:
		msg := fmt.Sprintf("%srecovered after failing since %s (%s): %s", p.prefix,
			prev.FailingSince.Local().Format("Jan _2 15:04"), ago(now.Sub(prev.FailingSince)), prev.Error)
		log.LogAs(detailIdent, logging.Info, strings.TrimPrefix(msg, "nxmit: "))
		p.out(msg)
	}
	for _, l := range p.lines {
		p.out(l)
	}
}

// stderrIsTerminal reports whether a person is watching stderr; tests replace it.
var stderrIsTerminal = func() bool { return terminalCheck() }

// print logs and prints the report's lines without consulting the record (a pass that
// neither sent nor failed leaves the record alone).
func (p *passReport) print() {
	log := p.g.logger()
	for _, l := range p.lines {
		log.LogAs(detailIdent, logging.Err, strings.TrimPrefix(l, "nxmit: "))
		p.out(l)
	}
}
