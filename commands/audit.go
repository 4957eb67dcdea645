package commands

import (
	"strconv"
	"strings"
	"time"

	"nxmit/audit"
	"nxmit/batch"
	"nxmit/spoolfmt"
	"nxmit/xmit"
)

// auditPass wires a send pass to the audit trail: the site's article log when one is
// configured, and the running totals (S.totals) updated while the send lock is held.
// The returned function closes the log. A log that cannot be opened is warned about and
// the pass goes on without it: delivery matters more than its record.
func auditPass(opt *xmit.Options, p peer, q batch.Queue, warn func(string)) (closeLog func()) {
	closeLog = func() {}
	if name := p.Settings.ArticleLog; name != "" {
		l, err := audit.OpenLog(name, p.Settings.ArticleLogMaxSize)
		if err != nil {
			warn(err.Error() + " (sending without it)")
		} else {
			opt.ArticleLog = l
			closeLog = func() { l.Close() }
		}
	}
	opt.Finished = func(st xmit.Stats, err error) {
		if rerr := audit.RecordPass(q.TotalsPath(), st.Counts(), time.Now(), st.Elapsed, err); rerr != nil {
			warn(rerr.Error())
		}
	}
	return closeLog
}

// writeMetricsFile rewrites nxmit.conf's metrics-file, if any, with every site's
// figures, as status --prometheus prints them. Failures are warnings: monitoring must
// not fail a pass.
func writeMetricsFile(g *Globals, warn func(string)) {
	conf, err := g.SiteConfig()
	if err != nil || conf.MetricsFile == "" {
		return
	}
	rep, err := buildStatus(g, nil)
	if err != nil {
		warn("metrics file: " + err.Error())
		return
	}
	if err := audit.WriteMetricsFile(conf.MetricsFile, rep.metrics()); err != nil {
		warn(err.Error())
	}
}

// measureSite adds the queue's articles, bytes and oldest article, and the running
// totals, to a site's status.
func measureSite(st *siteStatus, q batch.Queue, store *spoolfmt.Store, now time.Time) {
	var paths []string
	articles, exact := int64(0), true
	var oldestFile time.Time
	add := func(fs fileStatus, created time.Time) {
		paths = append(paths, fs.Path)
		articles += fs.Articles
		exact = exact && fs.Exact
		if !created.IsZero() && (oldestFile.IsZero() || created.Before(oldestFile)) {
			oldestFile = created
		}
	}
	for _, fs := range append(append([]fileStatus(nil), st.Deferrals...), st.Backlogs...) {
		add(fs, fs.Created)
	}
	for _, f := range []*fileStatus{st.Defer, st.Feed} {
		if f == nil {
			continue
		}
		// Their times say nothing of their oldest line (the mtime is the last write).
		add(describeFile(batch.File{Path: f.Path, Size: f.Size}), time.Time{})
	}
	st.Measure = audit.MeasureQueue(paths, articles, exact, oldestFile, store, now)
	if t, err := audit.LoadTotals(q.TotalsPath()); err == nil {
		st.Totals = t
	} else {
		st.Notes = append(st.Notes, err.Error())
	}
}

// metrics turns the report into the monitoring figures.
func (r statusReport) metrics() []audit.SiteMetrics {
	out := make([]audit.SiteMetrics, 0, len(r.Sites))
	for _, s := range r.Sites {
		out = append(out, audit.SiteMetrics{Site: s.Site, QueuedArticles: s.Measure.Articles, QueuedBytes: s.Measure.Bytes,
			OldestAge: s.Measure.OldestAge, DeferredArticles: s.DeferredArticles, Totals: s.Totals})
	}
	return out
}

// queuedColumn is status's QUEUED: articles and bytes of the whole queue, "~" marking
// estimates.
func queuedColumn(m audit.Measure) string {
	if m.Articles == 0 {
		return "0"
	}
	arts := strconv.FormatInt(m.Articles, 10)
	if !m.ArticlesExact {
		arts = "~" + humanCount(m.Articles)
	}
	size := humanBytes(m.Bytes)
	switch {
	case strings.HasPrefix(m.BytesMethod, "unknown"):
		size = "?"
	case !strings.HasPrefix(m.BytesMethod, "exact"):
		size = "~" + size
	}
	return arts + " (" + size + ")"
}

// oldestArticleColumn is status's OLDEST ARTICLE: how long ago the oldest queued
// article arrived.
func oldestArticleColumn(m audit.Measure) string {
	if m.Oldest == nil {
		return "-"
	}
	a := ago(time.Duration(m.OldestAge * float64(time.Second)))
	if strings.HasPrefix(m.OldestMethod, "estimated") {
		a = ">" + a // its articles arrived before the file was made
	}
	return a
}
