package audit

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"nxmit/internal/promtext"
)

func TestWritePrometheus(t *testing.T) {
	sites := []SiteMetrics{
		{Site: "peer", QueuedArticles: 12, QueuedBytes: 24000, OldestAge: 3600.5, DeferredArticles: 2,
			Totals: Totals{Counts: Counts{Accepted: 10, Refused: 3, Rejected: 1, Missing: 2, Deferred: 4, AcceptedBytes: 20480, RejectedBytes: 99},
				Passes: 3, Failures: 1, LastPass: time.Unix(1700000000, 500000000), LastDuration: 1.25, LastOK: true}},
		{Site: `odd"site\name`},
	}
	var b bytes.Buffer
	if err := WritePrometheus(&b, sites); err != nil {
		t.Fatal(err)
	}
	samples, types, err := promtext.Parse(&b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	want := map[string]float64{
		`nxmit_queued_articles{site="peer"}`:                              12,
		`nxmit_queued_bytes{site="peer"}`:                                 24000,
		`nxmit_oldest_queued_article_age_seconds{site="peer"}`:            3600.5,
		`nxmit_deferred_articles{site="peer"}`:                            2,
		`nxmit_last_pass_timestamp_seconds{site="peer"}`:                  1700000000.5,
		`nxmit_last_pass_duration_seconds{site="peer"}`:                   1.25,
		`nxmit_last_pass_success{site="peer"}`:                            1,
		`nxmit_passes_total{site="peer"}`:                                 3,
		`nxmit_pass_failures_total{site="peer"}`:                          1,
		`nxmit_articles_total{outcome="accepted",site="peer"}`:            10,
		`nxmit_articles_total{outcome="refused",site="peer"}`:             3,
		`nxmit_articles_total{outcome="missing",site="peer"}`:             2,
		`nxmit_articles_total{outcome="deferred",site="peer"}`:            4,
		`nxmit_article_bytes_total{outcome="accepted",site="peer"}`:       20480,
		`nxmit_article_bytes_total{outcome="rejected",site="peer"}`:       99,
		`nxmit_last_pass_timestamp_seconds{site="odd\"site\\name"}`:       0,
		`nxmit_articles_total{outcome="accepted",site="odd\"site\\name"}`: 0,
	}
	for k, v := range want {
		s, ok := samples[k]
		if !ok || s.Value != v {
			t.Errorf("%s = %v (present %v), want %v", k, s.Value, ok, v)
		}
	}
	if types["nxmit_articles_total"] != "counter" || types["nxmit_queued_bytes"] != "gauge" {
		t.Errorf("types %v", types)
	}
}

// TestPromtextRejects makes sure the checker used above does reject what the format
// forbids; a checker that accepts everything would prove nothing.
func TestPromtextRejects(t *testing.T) {
	bad := []string{
		"nxmit_x{site=\"a\"} 1\n", // no TYPE
		"# TYPE nxmit_x gauge\nnxmit_x{site=a} 1\n",
		"# TYPE nxmit_x gauge\nnxmit_x{site=\"a\"} one\n",
		"# TYPE nxmit_x gauge\nnxmit_x{site=\"a\"} 1\nnxmit_x{site=\"a\"} 2\n",
		"# TYPE nxmit_x counter\nnxmit_x{site=\"a\"} 1\n",
		"# TYPE nxmit_x gauge\n# TYPE nxmit_y gauge\nnxmit_x 1\nnxmit_y 1\nnxmit_x{a=\"b\"} 1\n",
		"# TYPE 1x gauge\n",
		"# TYPE nxmit_x gauge\nnxmit_x{site=\"a\\q\"} 1\n",
	}
	for _, s := range bad {
		if _, _, err := promtext.Parse(strings.NewReader(s)); err == nil {
			t.Errorf("accepted %q", s)
		}
	}
}
