package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"nxmit/batch"
	"nxmit/scan"
	"nxmit/spoolfmt"
	"nxmit/wildmat"
)

// ScanCmd builds batch lines from INN's history file and spool.
type ScanCmd struct {
	Site    string    `help:"Write the lines into a new backlog S.B.<hex> of this site (resumable) instead of stdout." placeholder:"SITE"`
	Since   timeBound `help:"Keep articles that arrived (or with --posted, were posted) at or after this time: an age (36h, 7d, 2w ago) or a date (2006-01-02, 2006-01-02T15:04, RFC 3339; UTC unless it has a zone)." placeholder:"WHEN"`
	Until   timeBound `help:"Keep articles that arrived (or were posted) before this time; same forms as --since." placeholder:"WHEN"`
	Posted  bool      `help:"Compare --since and --until with the posting time (the Date header innd recorded) instead of the arrival time."`
	Groups  string    `short:"g" help:"Keep only articles whose Newsgroups match this INN wildmat, as a newsfeeds pattern (as filter --groups)." placeholder:"WILDMAT"`
	MinSize byteCount `help:"Keep only articles of at least this size in wire format (suffixes k, M, G)." placeholder:"SIZE"`
	MaxSize byteCount `help:"Keep only articles of at most this size in wire format (suffixes k, M, G)." placeholder:"SIZE"`
	History string    `help:"INN's history file (default: inn.conf's pathdb/history)." type:"path" placeholder:"FILE"`
	Stats   bool      `help:"Print the counts on stderr at the end."`
	Workers int       `help:"Articles read at once (default: 2 per CPU, at most 16)." placeholder:"N" hidden:""`
	// CheckpointEvery is for tests that kill a scan after a fraction of a second.
	CheckpointEvery time.Duration `help:"Interval between checkpoints of --site (default 2s)." placeholder:"DURATION" hidden:""`
}

// Help is shown under the subcommand's usage.
func (c *ScanCmd) Help() string {
	return `Reads INN's history file and writes a "token message-id" line for every article still
in the spool that matches: arrived (or posted, --posted) in [--since, --until), in
--groups, within the size bounds. Lines of expired articles (no token) and lines out of
the time range are skipped without reading the spool; the others are read in the spool
(any storage method) for their Message-ID, which is checked against the history line's
hash, and their Newsgroups. Cancelled or overwritten articles are left out (--exists is
implied). The history is streamed in its order (arrival order); memory stays flat.

With --site the lines go into a new backlog of SITE, installed atomically under the
site's queue lock once the scan is complete, as merge does. Until then they are in
SITE.scan, with a checkpoint SITE.scan.ckpt written every 2 s: a scan that is killed
(or loses its machine) resumes from its checkpoint when run again with the same options,
and a half-written backlog is never installed. Options given as ages ("7d") keep the
first run's meaning on resume. Without --site the lines go to stdout (not resumable),
for pipelines such as

  nxmit scan --since 7d --groups 'comp.*' | nxmit filter --hash 1/2 | nxmit merge peer -

A progress bar (history bytes read, articles matched, rate, ETA) is shown when stderr is
a terminal. Malformed history lines and articles that cannot be read are reported on
stderr as FILE:LINE: reason and skipped.

Exit status: 0 done, 1 error (or articles that could not be read), 2 usage, 75 queue
lock held.`
}

// Run scans.
func (c *ScanCmd) Run(g *Globals) error {
	opt := scan.Options{
		Since:    c.Since.t,
		Until:    c.Until.t,
		ByPosted: c.Posted,
		MinSize:  int64(c.MinSize),
		MaxSize:  int64(c.MaxSize),
		Workers:  c.Workers,
		Key:      c.key(),

		CheckpointEvery: c.CheckpointEvery,
	}
	if c.Groups != "" {
		e, err := wildmat.CompilePoison(c.Groups)
		if err != nil {
			return usagef("--groups: %v", err)
		}
		opt.Groups = e
	}
	if c.MaxSize > 0 && c.MinSize > c.MaxSize {
		return usagef("--min-size %d is above --max-size %d", c.MinSize, c.MaxSize)
	}
	if !c.Since.t.IsZero() && !c.Until.t.IsZero() && !c.Until.t.After(c.Since.t) {
		return usagef("--until (%s) is not after --since (%s)", c.Until.t.Format(time.RFC3339), c.Since.t.Format(time.RFC3339))
	}
	// A --history root named is opened as root; INN's own is read as news.
	var opened map[string]*os.File
	if c.History != "" {
		var err error
		if opened, err = g.openNamed([]string{c.History}); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	if f := opened[c.History]; f != nil {
		opt.OpenHistory = func(path string) (*os.File, error) {
			if path == c.History && f != nil {
				h := f
				f = nil // once: a second open is a plain one
				return h, nil
			}
			return os.Open(path)
		}
	}
	conf, err := g.InnConf()
	if err != nil {
		return fmt.Errorf("scan needs inn.conf: %w", err)
	}
	opt.History = c.History
	if opt.History == "" {
		opt.History = spoolfmt.HistoryPath(conf)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		return err
	}
	defer store.Close()
	opt.Spool = store

	var bar *progress
	if info, err := os.Stat(opt.History); err == nil {
		bar = newByteProgress("scan", info.Size())
	}
	opt.Warn = func(err error) { bar.warn("nxmit: scan: " + err.Error()) }
	var done int64
	opt.Progress = func(st scan.Stats) {
		if bar == nil || bar.bar == nil {
			return
		}
		bar.bar.Describe(fmt.Sprintf("scan: %d matched", st.Written))
		if st.Bytes > done {
			bar.add(st.Bytes - done)
			done = st.Bytes
		}
	}

	var st scan.Stats
	if c.Site == "" {
		st, err = scan.Scan(os.Stdout, opt)
		bar.finish(err != nil)
		if err != nil {
			return err
		}
	} else {
		q, _, qerr := siteQueue(g, c.Site)
		if qerr != nil {
			return qerr
		}
		var res scan.QueueResult
		res, err = scan.Queue(q, "nxmit scan --site "+c.Site, opt)
		bar.finish(err != nil)
		if res.Notice != "" {
			fmt.Fprintf(os.Stderr, "nxmit: scan: %s\n", res.Notice)
		}
		if err != nil {
			var le *batch.LockedError
			if errors.As(err, &le) {
				return err
			}
			return fmt.Errorf("%w (run the same scan again to resume)", err)
		}
		st = res.Stats
		if g.Verbose {
			out := "no backlog (nothing matched)"
			if res.Backlog != "" {
				out = "into " + filepath.Base(res.Backlog)
			}
			resumed := ""
			if res.Resumed {
				resumed = " (resumed)"
			}
			fmt.Fprintf(os.Stderr, "scan %s: %s%s\n", c.Site, out, resumed)
		}
	}
	if c.Stats || g.Verbose {
		fmt.Fprintf(os.Stderr, "scan: %s\n", st)
	}
	if st.Errors > 0 {
		fmt.Fprintf(os.Stderr, "nxmit: scan: %d article(s) could not be read; their lines were not written\n", st.Errors)
		return ExitStatus(1)
	}
	return nil
}

// key describes the selection as given, so that a resumed scan is the same scan.
func (c *ScanCmd) key() string {
	return strings.Join([]string{"site=" + c.Site, "since=" + c.Since.text, "until=" + c.Until.text,
		fmt.Sprintf("posted=%t", c.Posted), "groups=" + c.Groups,
		fmt.Sprintf("size=%d-%d", c.MinSize, c.MaxSize), "history=" + c.History}, " ")
}

// timeBound is a point in time on the command line: an age before now (as ageLimit: 90m,
// 36h, 7d, 2w) or a date.
type timeBound struct {
	t    time.Time
	text string
}

// dateLayouts are the date forms timeBound accepts; without a zone they are UTC.
var dateLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// UnmarshalText parses the time.
func (b *timeBound) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			*b = timeBound{t: t, text: s}
			return nil
		}
	}
	var a ageLimit
	if err := a.UnmarshalText(text); err != nil {
		return fmt.Errorf("bad time %q (an age such as 36h, 7d, 2w, or a date such as 2006-01-02 or 2006-01-02T15:04)", text)
	}
	*b = timeBound{t: time.Now().Add(-time.Duration(a)), text: s}
	return nil
}
