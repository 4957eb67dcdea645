package commands

import (
	"fmt"
	"os"
	"path/filepath"

	"nxmit/batch"
)

// MergeCmd merges batch files of any kind into one new backlog of a site.
type MergeCmd struct {
	Site         string   `arg:"" help:"Site (its newsfeeds name) that receives the new backlog S.B.<hex>."`
	Files        []string `arg:"" name:"file" help:"Files to merge; - reads stdin."`
	Remove       bool     `help:"Remove the input files once the new backlog is installed (never stdin)."`
	DedupeQueued bool     `help:"Also drop lines whose article is already queued for the site (feed file, backlogs, deferrals)."`
	Compress     *bool    `help:"Write the new backlog zstd-compressed, S.B.<hex>.zst (default: nxmit.conf's compress)." negatable:"" setting:"compress"`
}

// Help is shown under the subcommand's usage.
func (c *MergeCmd) Help() string {
	return fmt.Sprintf(`Reads every FILE in order and writes the lines into one new backlog S.B.<hex> of SITE,
each article once (the first line that names it wins; articles are told apart by
Message-ID, else by token or path). Inputs may be old feed files, innxmit batches (a
token, a token and a Message-ID, or a path to an article file per line), nntpsend's
SITE=n and SITE.work, innduct backlogs (blanked lines are skipped), innfeed tape files
(the checkpoint on their first line is honoured), and backlogs of any site, including
compressed ones (zstd or gzip, recognized by content; the progress of a half-sent .zst
backlog is honoured). Blank lines are dropped; malformed ones are reported on stderr as
FILE:LINE: reason and dropped.

The backlog is written under the lock S.queue.lock and installed atomically. With
--remove the inputs are removed only after that, and a crash at any point leaves
either all the inputs or the complete backlog, which the next merge, requeue or run
finishes (removing the inputs) without queueing a line twice. Nothing is written or
removed if an input cannot be read. Inputs in use are not removed: a backlog whose
site is sending, a batch an innxmit has locked, nntpsend's files while it holds
LOCK.<site> (nxmit takes that lock while it merges them, so nntpsend skips the site).

Memory: the de-duplication set takes at most %d bytes per distinct line (and
--dedupe-queued as much per line already queued); everything else is streamed.

Prints nothing on success; -v prints the counts of each input.

Example, resending an old feed file after a peer's outage, without what is still queued:

  nxmit filter --exists --max-age 3d < peer.old | nxmit merge --dedupe-queued peer -

Exit status: 0 done, 1 error, 2 usage, 75 lock held or input in use.`, batch.IDSetBytesPerLine)
}

// Run merges the files.
func (c *MergeCmd) Run(g *Globals) error {
	layer, err := flagSettings(c)
	if err != nil {
		return err
	}
	opened, err := g.openNamed(c.Files)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	if opened != nil && c.Remove {
		if err := checkRemovable(c.Files); err != nil {
			return err
		}
	}
	q, s, err := siteQueue(g, c.Site)
	if err != nil {
		return err
	}
	s = s.Merge(layer)
	opt := batch.MergeOptions{
		Inputs:       c.Files,
		Opened:       opened,
		Stdin:        os.Stdin,
		Compress:     s.Compress,
		DedupeQueued: c.DedupeQueued,
		Remove:       c.Remove,
		Command:      "nxmit merge " + c.Site,
		Warn:         stderrWarn("merge " + c.Site),
	}
	if conf, err := g.InnConf(); err == nil {
		opt.ShlockDir = conf.PathRun
	}
	st, err := q.Merge(opt)
	if err != nil {
		return err
	}
	if g.Verbose {
		for _, in := range st.Inputs {
			fmt.Fprintf(os.Stderr, "merge %s: %s: %s\n", c.Site, in.Name, mergeCounts(in))
		}
		out := "no backlog (nothing left to send)"
		if st.Output != "" {
			out = "into " + filepath.Base(st.Output)
		}
		fmt.Fprintf(os.Stderr, "merge %s: %s, %s", c.Site, mergeCounts(st.Total), out)
		if len(st.Removed) > 0 {
			fmt.Fprintf(os.Stderr, "; removed %d input(s)", len(st.Removed))
		}
		fmt.Fprintln(os.Stderr)
	}
	return nil
}
