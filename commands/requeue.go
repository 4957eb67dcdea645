package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"nxmit/batch"
)

// RequeueCmd collects a site's deferral files whose retry delay has passed into a new
// backlog. Options not given come from the site's block in nxmit.conf, then the
// built-in defaults.
type RequeueCmd struct {
	Site       string         `arg:"" help:"Site (its newsfeeds name) whose deferral files S.D.* are requeued."`
	RetryDelay *time.Duration `help:"Requeue deferral files older than this; 0 requeues all (default: nxmit.conf's retry-delay, else ${default_retry_delay})." placeholder:"DUR" setting:"retry-delay"`
	Compress   *bool          `help:"Write the new backlog zstd-compressed, S.B.<hex>.zst (default: nxmit.conf's compress)." negatable:"" setting:"compress"`
}

// Help is shown under the subcommand's usage.
func (c *RequeueCmd) Help() string {
	return `Under the lock S.queue.lock, the site's deferral files S.D.<hex> older than the retry
delay are rewritten into one new backlog S.B.<hex>, which send then offers again. Blank
lines are dropped, malformed ones reported on stderr as FILE:LINE: reason and dropped,
and each article is kept once (by Message-ID). The backlog is installed atomically, and
only then are the deferral files removed; a crash at any point leaves either the
deferral files or the complete backlog, and the next requeue, merge or run finishes the
job without queueing a line twice.

An S.defer left behind by a send that crashed is closed (its partial last line, which
the send never acted on, cut off) and requeued too once its last write is older than
the retry delay. S.defer counts as left behind only if the send lock S.send.lock can be
taken; while a send runs, its S.defer is left alone.

Nothing is printed on success; -v prints what was done.

Exit status: 0 done (or nothing due), 1 error, 75 lock held.`
}

// Run requeues the site's due deferrals.
func (c *RequeueCmd) Run(g *Globals) error {
	layer, err := flagSettings(c)
	if err != nil {
		return err
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	q, s, err := siteQueue(g, c.Site)
	if err != nil {
		return err
	}
	s = s.Merge(layer)
	opt := batch.RequeueOptions{
		RetryDelay: s.RetryDelay,
		Compress:   s.Compress,
		Command:    "nxmit requeue " + c.Site,
		Warn:       stderrWarn("requeue " + c.Site),
	}
	st, err := q.Requeue(opt)
	if err != nil {
		return err
	}
	if g.Verbose {
		fmt.Fprintf(os.Stderr, "requeue %s: %s\n", c.Site, requeueSummary(st))
	}
	return nil
}

// requeueSummary describes a requeue in one line for -v.
func requeueSummary(st batch.RequeueStats) string {
	var parts []string
	if st.SendBusy {
		parts = append(parts, "S.defer left to the running send")
	}
	if len(st.Inputs) == 0 {
		parts = append(parts, "nothing due")
	} else {
		parts = append(parts, fmt.Sprintf("%d file(s), %s", len(st.Inputs), mergeCounts(st.Total)))
		if st.Output != "" {
			parts = append(parts, "into "+filepath.Base(st.Output))
		}
	}
	if st.Waiting > 0 {
		parts = append(parts, fmt.Sprintf("%d file(s) wait for the retry delay", st.Waiting))
	}
	return strings.Join(parts, "; ")
}

// mergeCounts formats the line counts of a merge or requeue.
func mergeCounts(t batch.InputStats) string {
	s := fmt.Sprintf("%d lines: %d written", t.Lines, t.Written)
	for _, c := range []struct {
		n    int64
		what string
	}{{t.Duplicates, "duplicates"}, {t.Queued, "already queued"}, {t.Blank, "blank"}, {t.Resumed, "already done"}, {t.Malformed, "malformed"}} {
		if c.n > 0 {
			s += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	return s
}
