package audit

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"nxmit/batch"
)

// SiteMetrics are one site's figures for monitoring.
type SiteMetrics struct {
	Site             string
	QueuedArticles   int64   // feed file, backlogs and deferral files
	QueuedBytes      int64   // article bytes of those (estimated when large)
	OldestAge        float64 // seconds since the oldest queued article arrived; 0 when none
	DeferredArticles int64   // of QueuedArticles, those in deferral files
	Totals           Totals
}

// A metric family: name, type, help, and how to get the value(s) of a site.
type family struct {
	name, typ, help string
	value           func(m *SiteMetrics) float64
	byOutcome       func(m *SiteMetrics) [][2]any // outcome label, value
}

func outcomes(m *SiteMetrics) [][2]any {
	c := m.Totals.Counts
	return [][2]any{{Accepted, c.Accepted}, {Refused, c.Refused}, {Rejected, c.Rejected},
		{Missing, c.Missing}, {Deferred, c.Deferred}, {Requeued, c.Requeued}, {Malformed, c.Malformed},
		{Filtered, c.Filtered}}
}

var families = []family{
	{name: "nxmit_queued_articles", typ: "gauge", help: "Articles queued for the site: feed file, backlogs and deferral files (estimated for large files).",
		value: func(m *SiteMetrics) float64 { return float64(m.QueuedArticles) }},
	{name: "nxmit_queued_bytes", typ: "gauge", help: "Article bytes queued for the site (estimated from a sample of the queued articles).",
		value: func(m *SiteMetrics) float64 { return float64(m.QueuedBytes) }},
	{name: "nxmit_oldest_queued_article_age_seconds", typ: "gauge", help: "Age of the oldest queued article (from its arrival in the spool); 0 when nothing is queued.",
		value: func(m *SiteMetrics) float64 { return m.OldestAge }},
	{name: "nxmit_deferred_articles", typ: "gauge", help: "Articles in deferral files, waiting for their retry delay.",
		value: func(m *SiteMetrics) float64 { return float64(m.DeferredArticles) }},
	{name: "nxmit_last_pass_timestamp_seconds", typ: "gauge", help: "When the last send pass ended (Unix time; 0: never).",
		value: func(m *SiteMetrics) float64 {
			if m.Totals.LastPass.IsZero() {
				return 0
			}
			return float64(m.Totals.LastPass.UnixNano()) / 1e9
		}},
	{name: "nxmit_last_pass_duration_seconds", typ: "gauge", help: "How long the last send pass took.",
		value: func(m *SiteMetrics) float64 { return m.Totals.LastDuration }},
	{name: "nxmit_last_pass_success", typ: "gauge", help: "1 if the last send pass ended without an error, else 0.",
		value: func(m *SiteMetrics) float64 {
			if m.Totals.LastOK {
				return 1
			}
			return 0
		}},
	{name: "nxmit_passes_total", typ: "counter", help: "Send passes run.",
		value: func(m *SiteMetrics) float64 { return float64(m.Totals.Passes) }},
	{name: "nxmit_pass_failures_total", typ: "counter", help: "Send passes that ended in an error (peer unreachable, connection failures, a file error).",
		value: func(m *SiteMetrics) float64 { return float64(m.Totals.Failures) }},
	{name: "nxmit_articles_total", typ: "counter", help: "Queue lines finished by send, by outcome (deferred and requeued ones come back later).",
		byOutcome: outcomes},
	{name: "nxmit_article_bytes_total", typ: "counter", help: "Article bytes sent, by outcome.",
		byOutcome: func(m *SiteMetrics) [][2]any {
			return [][2]any{{Accepted, m.Totals.AcceptedBytes}, {Rejected, m.Totals.RejectedBytes}}
		}},
}

// labelValue escapes a label value as the text format wants: \\, \" and \n.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WritePrometheus writes the sites' metrics in Prometheus's text exposition format
// (version 0.0.4), one family after the other, each with its HELP and TYPE.
func WritePrometheus(w io.Writer, sites []SiteMetrics) error {
	var b bytes.Buffer
	for _, f := range families {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for i := range sites {
			m := &sites[i]
			site := labelValue(m.Site)
			if f.byOutcome == nil {
				fmt.Fprintf(&b, "%s{site=\"%s\"} %s\n", f.name, site, formatValue(f.value(m)))
				continue
			}
			for _, ov := range f.byOutcome(m) {
				fmt.Fprintf(&b, "%s{site=\"%s\",outcome=\"%s\"} %d\n", f.name, site, ov[0], ov[1])
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteMetricsFile writes the metrics to path atomically, for node_exporter's textfile
// collector (which must never read half a file): path.tmp, fsync, rename.
func WriteMetricsFile(path string, sites []SiteMetrics) error {
	var b bytes.Buffer
	if err := WritePrometheus(&b, sites); err != nil {
		return err
	}
	if err := batch.WriteFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}
