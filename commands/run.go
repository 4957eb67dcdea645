package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"nxmit/batch"
	"nxmit/config"
	"nxmit/innctl"
	"nxmit/logging"
	"nxmit/nntp"
	"nxmit/spoolfmt"
	"nxmit/xmit"
)

// RunCmd is the crontab's command: rotate, requeue and send every configured site.
type RunCmd struct {
	Sites []string `arg:"" optional:"" name:"site" help:"Sites to process (default: every site of nxmit.conf)."`

	MaxConnections *int           `help:"Connections to all peers together (default: nxmit.conf's max-connections, else ${default_max_connections})." placeholder:"N" global:"max-connections"`
	RunTime        *time.Duration `name:"run-time" help:"End the whole run within this long; unsent articles stay queued (default: nxmit.conf's max-time, else no limit)." placeholder:"DUR" global:"max-time"`

	NoRotate  bool `help:"Do not rotate the feed files."`
	NoRequeue bool `help:"Do not requeue deferred articles."`
	NoSend    bool `help:"Do not send (rotate and requeue only)."`
	DryRun    bool `short:"n" help:"Say what would be rotated, requeued and sent, and do nothing: no file changed, no lock taken, no peer contacted."`

	RotateMinSize *rotateSize    `help:"Rotate a feed file once it has this many bytes (suffixes k, M, G; default: nxmit.conf's rotate-min-size, else ${default_rotate_min_size})." placeholder:"SIZE" setting:"rotate-min-size"`
	RotateMaxAge  *time.Duration `help:"...or once it is this old; 0 with --rotate-min-size 0 rotates any non-empty feed file (default: nxmit.conf's rotate-max-age, else ${default_rotate_max_age})." placeholder:"DUR" setting:"rotate-max-age"`
	Compress      *bool          `help:"Write new backlogs zstd-compressed (default: nxmit.conf's compress)." negatable:"" setting:"compress"`
	RetryDelay    *time.Duration `help:"Requeue deferred articles after this long (default: nxmit.conf's retry-delay, else ${default_retry_delay})." placeholder:"DUR" setting:"retry-delay"`
	Flush         *string        `help:"How to ask innd to flush: ctlinnd or icc (default: nxmit.conf, else ctlinnd)." enum:"ctlinnd,icc" placeholder:"HOW" global:"flush"`
	Ctlinnd       *string        `help:"The ctlinnd program (default: nxmit.conf, else inn.conf's pathbin/ctlinnd)." placeholder:"PATH" global:"ctlinnd"`
	FlushTimeout  *time.Duration `help:"How long to wait for innd's answer to a flush (default: nxmit.conf, else ${default_flush_timeout})." placeholder:"DUR" global:"flush-timeout"`

	PeerFlags
}

// Help is shown under the subcommand's usage.
func (c *RunCmd) Help() string {
	return `For each site of nxmit.conf (or each site named), in parallel: rotate the feed file
innd writes into a backlog when it is big or old enough, requeue the deferred articles
whose retry delay has passed, and send the backlogs to the peer. The connections of all
sites together stay within --max-connections (each site starts with a fair share of
them, or fewer when they are taken); --run-time bounds the whole run.

Made for the crontab, e.g. every five minutes as the news user:
    */5 * * * *  news  /usr/local/bin/nxmit run

A site whose send lock is held (a long drain from an earlier run) is skipped without a
word, and so are the rotation and requeue of a site whose queue lock is held; a site on
hold ('nxmit hold', or "hold: yes") is rotated and requeued but not sent. A successful
run prints nothing; statistics go to syslog (facility news, ident innxmit), or to
PATHLOG/nxmit.log when there is no syslog socket. A failure repeated the same way as
the site's last run (S.lastrun) is logged but not printed until it has lasted
alert-after (nxmit.conf, default 1h); then it is printed once, and once more when the
site recovers. -v says per site what was rotated, or why not, and what was sent, or
that nothing was queued.

Exit status: 0 every site done, 1 an error at some site, 75 only temporary failures
(peer unreachable, innd not answering the flush); the other sites are still done.`
}

// Run runs the pass over every site.
func (c *RunCmd) Run(g *Globals) error {
	feedProcs()
	layer, err := flagSettings(c)
	if err != nil {
		return err
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	conf, err := g.SiteConfig()
	if err != nil {
		return err
	}
	if conf, err = flagGlobals(conf, c); err != nil {
		return err
	}
	sites := c.Sites
	if len(sites) == 0 {
		sites = conf.SiteNames()
		if len(sites) == 0 {
			return fmt.Errorf("no sites configured in %s: add \"site NAME { host: ... }\" blocks, or name the sites", conf.Path)
		}
	}
	seen := map[string]bool{}
	for _, s := range sites {
		if err := batch.SiteNameError(s); err != nil {
			return usagef("%v", err)
		}
		if seen[s] {
			return usagef("site %s named twice", s)
		}
		seen[s] = true
	}
	dir, err := g.OutgoingDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("outgoing directory: %w", err)
	}
	if err := knownSites(g, sites, conf); err != nil {
		return err
	}

	maxConns := conf.MaxConnections
	if maxConns == 0 {
		maxConns = config.DefaultMaxConnections
	}
	runTime := conf.MaxTime

	if c.DryRun {
		return c.plan(g, layer, dir, sites)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	grace := time.Duration(0) // xmit's own
	if runTime > 0 {
		// The sites stop offering a grace before the end, and the replies still due
		// get that long, so that the whole run ends within --run-time.
		grace = runGrace(runTime)
		var cancel context.CancelFunc
		// A bounded run ends its passes normally; a signal interrupts them.
		ctx, cancel = context.WithTimeoutCause(ctx, runTime-grace, xmit.ErrTimeLimit)
		defer cancel()
	}

	r := &runner{cmd: c, g: g, conf: conf, layer: layer, grace: grace, dir: dir, sites: sites, slots: xmit.NewConnSlots(maxConns)}
	if !c.NoRotate {
		if r.flusher, err = newFlusher(g, conf); err != nil {
			return err
		}
	}
	if !c.NoSend {
		ic, err := g.InnConf()
		if err != nil {
			return err
		}
		if r.store, err = spoolfmt.OpenStore(ic); err != nil {
			return err
		}
		defer r.store.Close()
	}

	if !g.Verbose { // -v writes lines of its own
		r.lines = newSiteLines(sites)
		defer r.lines.close()
	}
	statuses := make([]int, len(sites))
	var wg sync.WaitGroup
	for i, site := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = r.site(ctx, site)
		}()
	}
	wg.Wait()
	writeMetricsFile(g, func(m string) { fmt.Fprintf(os.Stderr, "nxmit: run: %s\n", m) })
	return worstStatus(statuses...)
}

// runner holds what the sites of one run share.
type runner struct {
	cmd     *RunCmd
	g       *Globals
	conf    *config.Config  // the command line's global flags set over nxmit.conf's
	layer   config.Settings // the command line's site settings
	grace   time.Duration   // for the replies due once the run's time is up (0: xmit's)
	lines   *siteLines      // a line per site on a terminal; nil otherwise
	dir     string
	sites   []string
	flusher innctl.Flusher
	store   *spoolfmt.Store
	slots   *xmit.ConnSlots
}

// site runs the steps of one site and returns its exit status. Problems are reported
// on stderr when the site's steps are done, as its last-run record allows (a failure
// repeated the same way is quiet until it has lasted alert-after).
func (r *runner) site(ctx context.Context, site string) (status int) {
	c := r.cmd
	p, err := resolvePeer(r.g, site, r.layer)
	if err != nil {
		r.lines.println(fmt.Sprintf("nxmit: run %s: configuration: %v", site, err))
		r.lines.step(site, "configuration failed")
		return Status(err)
	}
	s := p.Settings
	q := batch.Queue{Dir: r.dir, Site: site, OtherSites: otherSites(r.sites, site)}
	command := "nxmit run " + site
	rep := newPassReport(r.g, q, command, "nxmit: run "+site+": ")
	rep.out = r.lines.println
	fail := func(step string, err error) {
		rep.fail(step, err)
		r.lines.step(site, step+" failed")
	}
	warn := func(step string) func(string) { return func(msg string) { rep.warn(step, msg) } }
	var st xmit.Stats
	// The record describes passes that sent or failed: a run that only rotated
	// (--no-send, nothing queued, a site on hold) must not pass for a recovery.
	record, sent := true, false
	defer func() {
		if record && (sent || rep.status != ExitOK) {
			rep.finish(st, s.AlertAfter, !stderrIsTerminal())
		} else {
			rep.print()
		}
		status = rep.status
	}()

	if !c.NoRotate && ctx.Err() == nil {
		r.lines.step(site, "rotating")
		opt := rotateOptions(s)
		opt.Flusher, opt.Warn, opt.Command = r.flusher, warn("rotate"), command
		res, err := q.Rotate(ctx, opt)
		switch {
		case isLocked(err):
		case err != nil:
			fail("rotate", err)
		default:
			if res.Backlog != "" {
				r.g.logger().LogAs(detailIdent, logging.Info, site+" rotate: "+rotateSummary(res, opt))
			}
			if r.g.Verbose {
				r.lines.println(fmt.Sprintf("run %s: rotate: %s", site, rotateSummary(res, opt)))
			}
		}
	}
	if !c.NoRequeue && ctx.Err() == nil {
		r.lines.step(site, "requeueing")
		st, err := q.Requeue(batch.RequeueOptions{
			RetryDelay: s.RetryDelay,
			Compress:   s.Compress,
			Command:    command,
			Warn:       func(e error) { warn("requeue")(e.Error()) },
		})
		switch {
		case isLocked(err):
		case err != nil:
			fail("requeue", err)
		case st.Output != "":
			r.g.logger().LogAs(detailIdent, logging.Info, site+" requeue: "+filepath.Base(st.Output))
			if r.g.Verbose {
				r.lines.println(fmt.Sprintf("run %s: requeued %s", site, filepath.Base(st.Output)))
			}
		}
	}
	if c.NoSend || ctx.Err() != nil {
		if rep.status == ExitOK {
			r.lines.step(site, "done")
		}
		return
	}
	if why := heldBy(q, s, r.conf.Where(site, "hold")); why != "" {
		r.lines.step(site, "held")
		if r.g.Verbose {
			r.lines.println(fmt.Sprintf("run %s: send: %s", site, why))
		}
		return
	}
	files, err := q.Backlogs()
	if err != nil {
		fail("send", err)
		return
	} else if len(files) == 0 {
		if rep.status == ExitOK {
			r.lines.step(site, "nothing to send")
		}
		if r.g.Verbose {
			r.lines.println(fmt.Sprintf("run %s: send: %s", site, nothingQueued(q)))
		}
		return
	}
	r.lines.step(site, "waiting for a connection")

	// A fair share of the cap to start with, and whatever is free if less: a site
	// whose peer is slow must not keep the others waiting for the whole run.
	share := max(1, (r.slots.Size()+len(r.sites)-1)/len(r.sites))
	got, err := r.slots.Acquire(ctx, min(p.Connections, share))
	if err != nil {
		r.lines.step(site, "run time up: backlogs stay queued")
		return
	}
	defer r.slots.Release(got)
	opt := p.sendOptions()
	opt.Connections = got
	opt.Slots = r.slots // connections added while the peer keeps up take free slots
	opt.Queue = q
	opt.Store = r.store
	if opt.Shape, err = p.shaper(r.store); err != nil {
		fail("send", err)
		return
	}
	opt.Warn = warn("send")
	opt.Command = command
	opt.Stream.Grace = r.grace
	if r.lines != nil {
		var total int64
		for _, f := range files {
			total += batch.EstimateFile(f).Pending
		}
		r.lines.sending(site, total)
		opt.Progress = func(n int64) { r.lines.add(site, n) }
	}
	defer auditPass(&opt, p, q, opt.Warn)()
	sent = true
	st, err = xmit.Send(ctx, opt)
	switch {
	case err == nil:
		r.lines.step(site, fmt.Sprintf("sent: %d offered, %d accepted, %d left queued", st.Offered, st.Accepted, st.Unsent))
	case isLocked(err):
		r.lines.step(site, "skipped: another nxmit is sending")
	}
	if st.Connections > 0 {
		r.g.logStats(p.Site, st)
	}
	switch {
	case isLocked(err):
		record = false // the holder's pass writes the record
	case err != nil:
		r.g.logSendError(p.Site, err)
		fail("send", authHint(p, err))
	}
	return
}

// runGrace is the part of a run's time kept for the replies due when the sites stop
// offering: nntp's usual grace, but no more than a fifth of the run.
func runGrace(runTime time.Duration) time.Duration {
	return min(nntp.DefaultGrace, runTime/5)
}

func isLocked(err error) bool {
	var le *batch.LockedError
	return errors.As(err, &le)
}

// plan prints, for each site, what a run would do now, without locking or changing
// anything (--dry-run).
func (c *RunCmd) plan(g *Globals, layer config.Settings, dir string, sites []string) error {
	worst := ExitOK
	now := time.Now()
	for _, site := range sites {
		say := func(format string, args ...any) { fmt.Printf("run %s: "+format+"\n", append([]any{site}, args...)...) }
		fail := func(err error) {
			fmt.Fprintf(os.Stderr, "nxmit: run %s: %v\n", site, err)
			worst = worseStatus(worst, Status(err))
		}
		p, err := resolvePeer(g, site, layer)
		if err != nil {
			fail(err)
			continue
		}
		q := batch.Queue{Dir: dir, Site: site, OtherSites: otherSites(sites, site)}
		rotated := false
		if !c.NoRotate {
			opt := rotateOptions(p.Settings)
			res, err := q.PlanRotate(opt)
			switch {
			case err != nil:
				fail(err)
			case res.Recovered != batch.StateIdle:
				rotated = true
				say("would finish an interrupted rotation (%s: %s)", filepath.Base(q.RotatingPath()), res.Recovered.Describe())
			case res.FeedSize < 0:
				say("no feed file %s", q.FeedPath())
			case res.Rotated:
				rotated = true
				say("would rotate the feed file (%s)", feedDescription(res, opt))
			default:
				say("would not rotate the feed file (%s)", feedDescription(res, opt))
			}
		}
		if !c.NoRequeue {
			rp, err := q.PlanRequeue(p.RetryDelay, now)
			switch {
			case err != nil:
				fail(err)
			case len(rp.Due) > 0:
				say("would requeue %d deferral file(s), %d bytes; %d waiting for the retry delay %s", len(rp.Due), totalSize(rp.Due), len(rp.Waiting), shortDuration(p.RetryDelay))
			case len(rp.Waiting) > 0:
				say("nothing to requeue: %d deferral file(s) waiting for the retry delay %s", len(rp.Waiting), shortDuration(p.RetryDelay))
			}
		}
		if c.NoSend {
			continue
		}
		files, err := q.Backlogs()
		if err != nil {
			fail(err)
			continue
		}
		switch {
		case len(files) > 0 || rotated:
			what := fmt.Sprintf("%d backlog(s), %d bytes", len(files), totalSize(files))
			if rotated {
				what += ", and the rotated feed file,"
			}
			say("would send %s to %s with up to %d connection(s)", what, p.Addr(), p.Connections)
		default:
			say("nothing to send")
		}
	}
	return worstStatus(worst)
}

// feedDescription describes the feed file against the rotation rules.
func feedDescription(res batch.RotateResult, opt batch.RotateOptions) string {
	age := "age unknown"
	if res.FeedAge >= 0 {
		age = shortDuration(res.FeedAge.Round(time.Second)) + " old"
	}
	rule := "rotates when not empty"
	if opt.MinSize > 0 || opt.MaxAge > 0 {
		rule = fmt.Sprintf("rotates at %s or %s", shortSize(opt.MinSize), shortDuration(opt.MaxAge))
	}
	return fmt.Sprintf("%d bytes, %s; %s", res.FeedSize, age, rule)
}

func totalSize(files []batch.File) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}
