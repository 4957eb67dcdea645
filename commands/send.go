package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"nxmit/spoolfmt"
	"nxmit/xmit"
)

// SendCmd transmits a site's backlogs.
type SendCmd struct {
	Site string `arg:"" help:"Site whose S.B.* backlogs are sent."`
	PeerFlags
}

// Help is shown under the subcommand's usage.
func (c *SendCmd) Help() string {
	return `Sends the site's backlog files (S.B.*, oldest first) to its peer over several
connections, streaming with pipelined CHECK/TAKETHIS (IHAVE when the peer refuses
MODE STREAM). Each answer is final for its line, which is blanked in place; deferred
articles go to S.defer, closed as S.D.<hex> at the end of the pass. A backlog whose lines
are all done is removed. SIGINT or SIGTERM stop offering, wait at most 1 s for the answers
in flight, leave the rest queued and exit 75 (not finished); --max-time and --max-articles
end a pass normally (exit 0). Each reply settles its own article (see docs/RELIABILITY.md,
"Reply codes"); a peer whose first offers all get 5xx stops the pass, everything queued.

Exit status: 0 done (or nothing to send, or a bound reached), 1 error (a peer refusing
everything), 75 locked, peer unreachable or interrupted.`
}

// Run runs the pass.
func (c *SendCmd) Run(g *Globals) error {
	feedProcs()
	layer, err := flagSettings(c)
	if err != nil {
		return err
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	// The other configured sites keep their files out of this site's backlogs (a site
	// named "a.B.x" writes a feed file that would look like a backlog of "a").
	q, _, err := siteQueue(g, c.Site)
	if err != nil {
		return err
	}
	conf, err := g.InnConf()
	if err != nil {
		return err
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		return err
	}
	defer store.Close()

	peer, err := resolvePeer(g, c.Site, layer)
	if err != nil {
		return err
	}
	sites, err := g.SiteConfig()
	if err != nil {
		return err
	}
	if why := heldBy(q, peer.Settings, sites.Where(c.Site, "hold")); why != "" {
		fmt.Fprintf(os.Stderr, "nxmit: send %s: %s\n", c.Site, why)
		return nil
	}
	opt := peer.sendOptions()
	opt.Queue = q
	opt.Store = store
	if opt.Shape, err = peer.shaper(store); err != nil {
		return err
	}
	progress := newProgress(g, "send "+c.Site, q)
	opt.Progress = progress.add
	// Warnings go through the progress bar, which prints them above itself.
	opt.Warn = func(m string) { progress.warn("nxmit: send " + c.Site + ": " + m) }

	defer auditPass(&opt, peer, q, opt.Warn)()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := xmit.Send(ctx, opt)
	progress.finish(err != nil || ctx.Err() != nil || st.Queued > 0)
	if !isLocked(err) {
		writeMetricsFile(g, opt.Warn)
	}
	if err == nil && st.Connections == 0 && g.Verbose {
		fmt.Fprintf(os.Stderr, "send %s: %s\n", c.Site, nothingQueued(q))
	}
	if st.Connections > 0 {
		g.logStats(peer.Site, st)
	}
	if err != nil {
		// "connect failed", "authenticate failed": the forms innreport counts.
		g.logSendError(peer.Site, err)
	}
	if isLocked(err) {
		return err // the holder's pass writes the record
	}
	// The failure is printed by the report (or kept quiet when it repeats the last
	// one's), not by main.
	rep := newPassReport(g, q, "nxmit send "+c.Site, "nxmit: send "+c.Site+": ")
	if err != nil {
		msg := authHint(peer, err).Error()
		rep.lines = append(rep.lines, "nxmit: "+msg)
		rep.errs = append(rep.errs, msg)
		rep.status = Status(err)
	}
	if err == nil && st.Connections == 0 {
		return nil // nothing was sent: the record of the last real pass stays
	}
	rep.finish(st, peer.AlertAfter, !stderrIsTerminal())
	return worstStatus(rep.status)
}
