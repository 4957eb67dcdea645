package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"nxmit/audit"
	"nxmit/batch"
	"nxmit/config"
	"nxmit/spoolfmt"
)

// StatusCmd shows the queues of sites.
type StatusCmd struct {
	Sites []string `arg:"" optional:"" name:"site" help:"Sites to show (default: the configured sites and every site with queue files)."`
	JSON  bool     `help:"Print JSON for scripts (field names are stable; see the guide)."`
	Files bool     `short:"l" help:"List every backlog and deferral file."`
	// Prometheus prints what metrics-file holds, for a scraper or a look by hand.
	Prometheus bool `help:"Print the metrics in Prometheus's text format (as nxmit.conf's metrics-file gets them)."`
}

// Help is shown under the subcommand's usage.
func (c *StatusCmd) Help() string {
	return `For each site: the size of the feed file innd writes, an S.rotating left by a
rotation in progress or interrupted, the backlogs (S.B.*) with an estimate of the
articles they still hold and the age of the oldest, the deferral files (S.D.*, S.defer),
who holds the site's locks (pid, command, since when), the last pass (S.lastrun: when,
result, error), and anything unusual: a stale lock, a crashed pass's leftovers,
deferrals past their retry delay, an old backlog, a site on hold. The feed file's
articles are counted too, with its age and when it will be rotated.

Article counts are estimates (marked ~) from the file sizes and a sample of lines; for
zstd-compressed backlogs the sample is decompressed. Nothing is locked or changed.`
}

// Run prints the status.
func (c *StatusCmd) Run(g *Globals) error {
	if c.JSON && c.Prometheus {
		return usagef("--json and --prometheus: choose one")
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	rep, err := buildStatus(g, c.Sites)
	if err != nil {
		return err
	}
	if conf, err := g.SiteConfig(); err == nil {
		g.warnExposedSecrets(conf) // status only: run, which cron mails, stays quiet
	}
	switch {
	case c.JSON:
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case c.Prometheus:
		return audit.WritePrometheus(os.Stdout, rep.metrics())
	}
	return rep.print(os.Stdout, c.Files)
}

// buildStatus gathers the status of sites (default: the configured ones and every site
// with queue files).
func buildStatus(g *Globals, sites []string) (statusReport, error) {
	dir, err := g.OutgoingDir()
	if err != nil {
		return statusReport{}, err
	}
	conf, err := g.SiteConfig()
	if err != nil {
		return statusReport{}, err
	}
	if len(sites) == 0 {
		if sites, err = discoverSites(dir, conf.SiteNames()); err != nil {
			return statusReport{}, err
		}
	}
	for _, s := range sites {
		if err := batch.SiteNameError(s); err != nil {
			return statusReport{}, usagef("%v", err)
		}
	}
	now := time.Now()
	rep := statusReport{Outgoing: dir, Config: conf.Path, Time: now, Sites: []siteStatus{}}
	rep.Log, rep.LogFallback = g.logDestination()
	var pathRun string
	var store *spoolfmt.Store
	if ic, err := g.InnConf(); err == nil {
		pathRun = ic.PathRun
		// The spool gives the queue's bytes and its oldest article; without it they are
		// estimated from the files alone.
		if store, err = spoolfmt.OpenStore(ic); err == nil {
			defer store.Close()
		}
	}
	for _, s := range sites {
		_, configured := conf.Site(s)
		q := batch.Queue{Dir: dir, Site: s, OtherSites: otherSites(sites, s)}
		st, err := siteState(q, conf.Resolve(s), configured, pathRun, now)
		if err != nil {
			return rep, err
		}
		measureSite(&st, q, store, now)
		if !configured && len(conf.Sites) > 0 {
			st.Notes = append(st.Notes, "not in "+conf.Path+": 'nxmit run' does not send it")
		}
		rep.Sites = append(rep.Sites, st)
	}
	return rep, nil
}

// statusReport is status --json's document. Field names are part of nxmit's interface.
type statusReport struct {
	Outgoing string    `json:"outgoing"`
	Config   string    `json:"config"`
	Time     time.Time `json:"time"`
	// Log is where statistics go: a file, or "" for syslog; LogFallback is set when
	// that file is pathlog's nxmit.log because there is no syslog socket.
	Log         string       `json:"log"`
	LogFallback bool         `json:"log_fallback"`
	Sites       []siteStatus `json:"sites"`
}

type siteStatus struct {
	Site       string `json:"site"`
	Configured bool   `json:"configured"`
	Host       string `json:"host"`
	Port       int    `json:"port"`
	TLS        string `json:"tls"`      // "tls", "starttls", "starttls optional" or ""
	MaxRate    int64  `json:"max_rate"` // bytes per second, 0: no cap

	Feed *fileStatus `json:"feed"` // S, or null
	// FeedAge is the feed file's age (since innd created it), null when unknown;
	// FeedRotation says when it rotates ("due", or why not yet), FeedRotatesIn in how
	// many seconds by the age rule (null: not by age).
	FeedAge       *float64    `json:"feed_age_seconds"`
	FeedRotation  string      `json:"feed_rotation,omitempty"`
	FeedRotatesIn *float64    `json:"feed_rotates_in_seconds"`
	Rotating      *fileStatus `json:"rotating"` // S.rotating, or null
	Defer         *fileStatus `json:"defer"`    // S.defer, or null
	// Quarantine is S.bad, the malformed lines kept with their FILE:LINE, or null.
	Quarantine *fileStatus `json:"quarantine"`
	// Redeferred is what S.deferrals says of articles deferred more than once, or null.
	Redeferred *redeferStatus `json:"redeferred"`

	Backlogs        []fileStatus `json:"backlogs"`
	BacklogBytes    int64        `json:"backlog_bytes"`
	BacklogArticles int64        `json:"backlog_articles"` // estimate of lines still to send
	Oldest          *time.Time   `json:"oldest"`           // creation of the oldest backlog
	OldestAge       float64      `json:"oldest_age_seconds"`

	Deferrals        []fileStatus `json:"deferrals"`
	DeferredBytes    int64        `json:"deferred_bytes"`
	DeferredArticles int64        `json:"deferred_articles"`
	OldestDeferral   *time.Time   `json:"oldest_deferral"`

	// The whole queue (feed file, backlogs, deferral files) in articles, bytes and age.
	audit.Measure
	Totals audit.Totals `json:"totals"` // from S.totals: counters and the last send pass

	NextRequeue *time.Time `json:"next_requeue"` // when the first deferral file is due

	// LastRun is the record of the site's last send or run pass, null when none.
	LastRun *batch.LastRun `json:"last_run"`
	// Held says why the site is not sent to ("" when it is).
	Held string `json:"held,omitempty"`
	// TempFiles are the site's leftover *.tmp files (a crash while writing one).
	TempFiles []string `json:"temp_files"`

	Locks []lockStatus `json:"locks"`
	Notes []string     `json:"notes"`
}

type fileStatus struct {
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	Modified   time.Time `json:"modified"`
	Created    time.Time `json:"created,omitzero"`
	Compressed bool      `json:"compressed,omitempty"`
	Foreign    bool      `json:"foreign,omitempty"`
	Lines      int64     `json:"lines,omitempty"`    // all lines, blanked ones included
	Articles   int64     `json:"articles,omitempty"` // lines still to send
	Exact      bool      `json:"exact,omitempty"`    // counted, not estimated
	Due        time.Time `json:"due,omitzero"`       // deferrals: when requeue takes it
}

// redeferStatus sums up S.deferrals: the articles still queued that requeue folded back
// more than once, the highest count, and the most deferred of them.
type redeferStatus struct {
	Path     string          `json:"path"`
	Articles int             `json:"articles"` // deferred more than once
	Highest  int             `json:"highest"`  // the most times one article was deferred
	Top      []redeferredArt `json:"top"`      // the most deferred, at most redeferTop
}

type redeferredArt struct {
	MessageID string `json:"message_id"` // or its token or path when its line had none
	Count     int    `json:"count"`
}

// redeferTop is how many of the most deferred articles status names.
const redeferTop = 5

type lockStatus struct {
	Kind    string    `json:"kind"` // "send", "queue", or "nntpsend" (INN's LOCK.SITE)
	Path    string    `json:"path"`
	Held    bool      `json:"held"`
	Stale   bool      `json:"stale"` // the recorded holder is gone
	PID     int       `json:"pid"`
	Command string    `json:"command,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Host    string    `json:"host,omitempty"`
}

// nxmitName matches the queue file names nxmit makes, to find sites in the directory.
var nxmitName = regexp.MustCompile(`^(.+)\.(?:[BD]\.[0-9a-f]{8}(?:\.zst)?|defer|rotating|send\.lock|queue\.lock)$`)

// discoverSites returns the configured sites, then the others that have queue files.
func discoverSites(dir string, configured []string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outgoing directory: %w", err)
	}
	seen := map[string]bool{}
	sites := append([]string(nil), configured...)
	for _, s := range sites {
		seen[s] = true
	}
	var found []string
	for _, e := range entries {
		m := nxmitName.FindStringSubmatch(e.Name())
		if m == nil || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		found = append(found, m[1])
	}
	slices.Sort(found)
	return append(sites, found...), nil
}

// siteState gathers one site's status; it never locks or changes anything.
func siteState(q batch.Queue, s config.Settings, configured bool, pathRun string, now time.Time) (siteStatus, error) {
	st := siteStatus{Site: q.Site, Configured: configured, Host: s.Host, Port: s.Port, MaxRate: s.MaxRate, TLS: tlsMode(s),
		Backlogs: []fileStatus{}, Deferrals: []fileStatus{}, Locks: []lockStatus{}, Notes: []string{}}
	note := func(format string, args ...any) { st.Notes = append(st.Notes, fmt.Sprintf(format, args...)) }

	st.Feed = statFile(q.FeedPath())
	if st.Feed != nil {
		e := batch.EstimateFile(batch.File{Path: st.Feed.Path, Size: st.Feed.Size})
		st.Feed.Lines, st.Feed.Articles, st.Feed.Exact = e.Lines, e.Pending, e.Exact
		size, age := q.FeedStat(now)
		rot := batch.RotateOptions{MinSize: s.RotateMinSize, MaxAge: s.RotateMaxAge}
		if age >= 0 {
			a := age.Seconds()
			st.FeedAge = &a
		}
		st.FeedRotation = rot.Waiting(size, age)
		if rot.Due(size, age) {
			st.FeedRotation = "due: the next rotate or run rotates it"
		}
		if in := rot.DueIn(size, age); in >= 0 {
			d := in.Seconds()
			st.FeedRotatesIn = &d
		}
		if size > 0 {
			note("%s", st.FeedRotation)
		}
	}
	st.Rotating = statFile(q.RotatingPath())
	st.Defer = statFile(q.DeferPath())
	if st.Quarantine = statFile(q.BadPath()); st.Quarantine != nil {
		if n, err := batch.CountBad(q.BadPath()); err == nil {
			st.Quarantine.Lines, st.Quarantine.Exact = n, true
		}
		note("%s: %d malformed lines quarantined, each with its FILE:LINE; fix and merge them, or remove the file",
			filepath.Base(q.BadPath()), st.Quarantine.Lines)
	}

	if d, err := q.ReadDeferrals(); err == nil {
		if n, highest := d.Repeated(); n > 0 {
			r := &redeferStatus{Path: q.DeferralsPath(), Articles: n, Highest: highest, Top: []redeferredArt{}}
			for _, c := range d[:min(len(d), redeferTop)] {
				if c.Count > 1 {
					r.Top = append(r.Top, redeferredArt{MessageID: c.Key, Count: c.Count})
				}
			}
			st.Redeferred = r
			note("deferred by more than one pass: %d articles, one of them %d times (%s; -l names them); they stay queued and are offered again each pass",
				n, highest, filepath.Base(q.DeferralsPath()))
		}
	}

	backlogs, err := q.Backlogs()
	if err != nil {
		return st, err
	}
	st.Backlogs, st.BacklogBytes, st.BacklogArticles, st.Oldest = describeFiles(backlogs)
	if st.Oldest != nil {
		st.OldestAge = now.Sub(*st.Oldest).Seconds()
	}
	for _, f := range backlogs {
		if f.Foreign {
			note("%s: not named by nxmit; it is sent too (after the others)", filepath.Base(f.Path))
		}
	}
	deferrals, err := q.Deferrals()
	if err != nil {
		return st, err
	}
	st.Deferrals, st.DeferredBytes, st.DeferredArticles, st.OldestDeferral = describeFiles(deferrals)
	for i := range st.Deferrals {
		if c := st.Deferrals[i].Created; !c.IsZero() {
			due := c.Add(s.RetryDelay)
			st.Deferrals[i].Due = due
			if st.NextRequeue == nil || due.Before(*st.NextRequeue) {
				st.NextRequeue = &due
			}
		}
	}
	if st.NextRequeue != nil {
		if d := st.NextRequeue.Sub(now); d > 0 {
			note("deferred articles are requeued in %s (retry delay %s)", ago(d), shortDuration(s.RetryDelay))
		}
	}
	if r, ok := q.ReadLastRun(); ok {
		st.LastRun = &r
		switch {
		case r.Result != batch.ResultOK && !r.FailingSince.IsZero() && r.FailingSince.Before(r.Time):
			note("last run %s ago failed (failing since %s ago): %s", ago(now.Sub(r.Time)), ago(now.Sub(r.FailingSince)), r.Error)
		case r.Result != batch.ResultOK:
			note("last run %s ago failed: %s", ago(now.Sub(r.Time)), r.Error)
		case r.LastError != "":
			note("last error %s ago: %s", ago(now.Sub(r.LastErrorTime)), r.LastError)
		}
	}
	where := ""
	if s.Line("hold") > 0 {
		where = fmt.Sprintf("nxmit.conf:%d", s.Line("hold"))
	}
	if st.Held = heldBy(q, s, where); st.Held != "" {
		note("%s", st.Held)
	}
	st.TempFiles = []string{}

	locks := map[string]lockStatus{}
	for _, k := range []batch.LockKind{batch.SendLock, batch.QueueLock} {
		if ls, ok := readLock(q.LockPath(k), strings.TrimSuffix(k.String(), " lock")); ok {
			st.Locks = append(st.Locks, ls)
			locks[ls.Kind] = ls
		}
	}
	if pathRun != "" {
		if ls, ok := describeShlock(filepath.Join(pathRun, "LOCK."+q.Site)); ok {
			st.Locks = append(st.Locks, ls)
		}
	}

	// What an administrator should know about.
	for _, l := range st.Locks {
		if l.Stale {
			note("%s lock %s names pid %d, which is gone: a crashed %s (the next run takes the lock)", l.Kind, filepath.Base(l.Path), l.PID, orWord(l.Command, "process"))
		}
	}
	if st.Rotating != nil && !locks["queue"].Held {
		note("%s exists: a rotation was interrupted; the next 'nxmit rotate %s' finishes it", filepath.Base(q.RotatingPath()), q.Site)
	}
	if st.Defer != nil && !locks["send"].Held {
		note("%s exists with no send running: left by a crashed send; the next send or requeue closes it", filepath.Base(q.DeferPath()))
	}
	if st.OldestDeferral != nil && s.RetryDelay > 0 && now.Sub(*st.OldestDeferral) > 2*s.RetryDelay+10*time.Minute {
		note("deferrals waiting for %s (retry delay %s): is requeue running ('nxmit run' does it)?", ago(now.Sub(*st.OldestDeferral)), s.RetryDelay)
	}
	if st.Oldest != nil && now.Sub(*st.Oldest) > 24*time.Hour {
		note("the oldest backlog is %s old: is the peer %s reachable?", ago(now.Sub(*st.Oldest)), s.Host)
	}
	leftovers, _ := filepath.Glob(filepath.Join(q.Dir, globEscape(q.Site)+".*"+batch.TempSuffix))
	for _, p := range leftovers {
		fi, err := os.Stat(p)
		if err != nil || now.Sub(fi.ModTime()) <= time.Hour {
			continue // being written now, most likely
		}
		st.TempFiles = append(st.TempFiles, p)
		if strings.Contains(filepath.Base(p), ".B.") || strings.Contains(filepath.Base(p), ".D.") {
			note("%s: a temporary file from %s ago, left by a crash; it is never sent (remove it, or 'nxmit merge' it)", filepath.Base(p), ago(now.Sub(fi.ModTime())))
		} else {
			note("%s: a temporary file from %s ago, left by a crash (remove it)", filepath.Base(p), ago(now.Sub(fi.ModTime())))
		}
	}
	dones, _ := filepath.Glob(filepath.Join(q.Dir, globEscape(q.Site)+".B.*"+batch.ProgressSuffix))
	for _, p := range dones {
		if _, err := os.Stat(strings.TrimSuffix(p, batch.ProgressSuffix)); errors.Is(err, os.ErrNotExist) {
			note("%s: progress file of a backlog that is gone (harmless; remove it)", filepath.Base(p))
		}
	}
	return st, nil
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func statFile(path string) *fileStatus {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return &fileStatus{Path: path, Size: fi.Size(), Modified: fi.ModTime()}
}

// describeFiles describes queue files and sums them up: bytes, articles, and the
// creation time of the oldest (nil when none is known).
func describeFiles(files []batch.File) (list []fileStatus, bytes, articles int64, oldest *time.Time) {
	list = []fileStatus{}
	for _, f := range files {
		fs := describeFile(f)
		list = append(list, fs)
		bytes += f.Size
		articles += fs.Articles
		if !f.Created.IsZero() && (oldest == nil || f.Created.Before(*oldest)) {
			t := f.Created
			oldest = &t
		}
	}
	return list, bytes, articles, oldest
}

func describeFile(f batch.File) fileStatus {
	fs := fileStatus{Path: f.Path, Size: f.Size, Created: f.Created, Compressed: f.Compressed, Foreign: f.Foreign}
	if fi, err := os.Stat(f.Path); err == nil {
		fs.Modified = fi.ModTime()
	}
	e := batch.EstimateFile(f)
	fs.Lines, fs.Articles, fs.Exact = e.Lines, e.Pending, e.Exact
	return fs
}

// readLock describes an nxmit lock file. The holder empties the file when it unlocks,
// so a file with a holder whose process is gone was left by a crash.
func readLock(path, kind string) (lockStatus, bool) {
	h, err := batch.ReadHolder(path)
	if err != nil || h.PID == 0 {
		return lockStatus{}, false
	}
	ls := lockStatus{Kind: kind, Path: path, PID: h.PID, Command: h.Command, Since: h.Since, Host: h.Host}
	host, _ := os.Hostname()
	if h.Host != "" && h.Host != host {
		ls.Held = true // another machine's process: cannot tell
		return ls, true
	}
	ls.Held = h.Alive()
	ls.Stale = !ls.Held
	return ls, true
}

// describeShlock describes INN's shlock file LOCK.SITE (nntpsend's per-site lock).
func describeShlock(path string) (lockStatus, bool) {
	pid, ok := batch.ReadShlock(path)
	if !ok {
		return lockStatus{}, false
	}
	if pid <= 0 {
		return lockStatus{Kind: "nntpsend", Path: path, Stale: true}, true
	}
	ls := lockStatus{Kind: "nntpsend", Path: path, PID: pid, Command: batch.ProcessCommand(pid)}
	ls.Held = batch.ProcessAlive(pid, time.Time{})
	ls.Stale = !ls.Held
	if fi, err := os.Stat(path); err == nil {
		ls.Since = fi.ModTime()
	}
	return ls, true
}

// print writes the human form: a table, then the notes and lock holders.
func (r statusReport) print(w io.Writer, files bool) error {
	if len(r.Sites) == 0 {
		fmt.Fprintf(w, "No sites: none configured in %s and no queue files in %s.\n", orWord(r.Config, "nxmit.conf"), r.Outgoing)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tFEED\tBACKLOGS\tARTICLES\tOLDEST\tQUEUED\tOLDEST ARTICLE\tDEFERRED\tLOCKED\tLAST RUN")
	for _, s := range r.Sites {
		feed := "-"
		if s.Feed != nil {
			feed = humanBytes(s.Feed.Size)
			if s.Feed.Size > 0 {
				feed += " (" + count(s.Feed.Articles, s.Feed.Exact) + ")"
			}
		}
		if s.Rotating != nil {
			feed += " +rotating"
		}
		backlogs := "0"
		if len(s.Backlogs) > 0 {
			backlogs = fmt.Sprintf("%d (%s)", len(s.Backlogs), humanBytes(s.BacklogBytes))
		}
		oldest := "-"
		if s.Oldest != nil {
			oldest = ago(time.Duration(s.OldestAge * float64(time.Second)))
		}
		deferred := "0"
		if n := len(s.Deferrals); n > 0 || s.Defer != nil {
			deferred = fmt.Sprintf("%d (~%s)", n, humanCount(s.DeferredArticles))
			if s.Defer != nil {
				deferred += " +open"
			}
		}
		var locked []string
		for _, l := range s.Locks {
			if l.Held {
				locked = append(locked, l.Kind)
			}
		}
		last := "-"
		if s.LastRun != nil {
			last = s.LastRun.Result + " " + ago(r.Time.Sub(s.LastRun.Time)) + " ago"
		}
		if s.Held != "" {
			last = "held; " + last
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Site, feed, backlogs, articles(s), oldest,
			queuedColumn(s.Measure), oldestArticleColumn(s.Measure), deferred, orWord(strings.Join(locked, ","), "-"), last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.LogFallback {
		fmt.Fprintf(w, "Statistics go to %s: there is no syslog socket (give log-file in nxmit.conf to choose another file).\n", r.Log)
	}
	for _, s := range r.Sites {
		for _, l := range s.Locks {
			if l.Held {
				since := ""
				if !l.Since.IsZero() {
					since = fmt.Sprintf(" since %s (%s ago)", l.Since.Local().Format("Jan _2 15:04:05"), ago(r.Time.Sub(l.Since)))
				}
				fmt.Fprintf(w, "%s: %s lock held by pid %d (%s)%s\n", s.Site, l.Kind, l.PID, orWord(l.Command, "unknown command"), since)
			}
		}
		if s.MaxRate > 0 {
			fmt.Fprintf(w, "%s: sending at most %s/s (max-rate)\n", s.Site, humanBytes(s.MaxRate))
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "%s: %s\n", s.Site, n)
		}
		if files {
			fmt.Fprintf(w, "%s: queued bytes: %s\n%s: oldest article: %s\n", s.Site, s.BytesMethod, s.Site, s.OldestMethod)
			for _, f := range append(append([]fileStatus(nil), s.Backlogs...), s.Deferrals...) {
				kind := ""
				if f.Compressed {
					kind = ", compressed"
				}
				count := "~" + humanCount(f.Articles)
				if f.Exact {
					count = strconv.FormatInt(f.Articles, 10)
				}
				fmt.Fprintf(w, "%s: %s: %s, %s articles%s, created %s\n", s.Site, filepath.Base(f.Path), humanBytes(f.Size), count, kind, f.Created.Local().Format("Jan _2 15:04:05"))
			}
			if s.Redeferred != nil {
				for _, a := range s.Redeferred.Top {
					fmt.Fprintf(w, "%s: deferred %d times: %s\n", s.Site, a.Count, a.MessageID)
				}
			}
		}
	}
	return nil
}

// articles is the ARTICLES column: every article queued, in the feed file and the
// backlogs (a feed file holding hundreds must not read 0).
func articles(s siteStatus) string {
	exact, n := true, s.BacklogArticles
	for _, f := range s.Backlogs {
		exact = exact && f.Exact
	}
	if s.Feed != nil {
		exact, n = exact && s.Feed.Exact, n+s.Feed.Articles
	}
	return count(n, exact)
}

// count writes an exact count as it is, an estimate with ~.
func count(n int64, exact bool) string {
	if exact {
		return strconv.FormatInt(n, 10)
	}
	return "~" + humanCount(n)
}

// humanBytes writes a size with powers of 1024, as ls -h does.
func humanBytes(n int64) string { return batch.HumanBytes(n) }

// humanCount writes an estimated count with two or three significant digits.
func humanCount(n int64) string {
	switch {
	case n < 10000:
		return strconv.FormatInt(n, 10)
	case n < 1000000:
		return fmt.Sprintf("%dk", (n+500)/1000)
	default:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
}

// ago writes a duration briefly: 45s, 12m, 3h05m, 2d4h.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// tlsMode says how the site's peer is reached, for status.
func tlsMode(s config.Settings) string {
	switch {
	case s.TLS:
		return "tls"
	case s.StartTLS == "yes":
		return "starttls"
	case s.StartTLS == "optional":
		return "starttls optional"
	}
	return ""
}
