package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"nxmit/audit"
	"nxmit/audit/audittest"
	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/internal/promtext"
	"nxmit/nntp/nntptest"
	"nxmit/spoolfmt"
)

// TestAuditTrailINN sends real articles from a real innd to a real innd that already
// has some (it refuses them) and to a scripted peer that rejects and defers others, with
// the article log on; then checks the log against the statistics, traces articles in
// every place an article can be, and compares status --prometheus with status --json.
func TestAuditTrailINN(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	l := newOpLab(t)
	arts := innlab.Generate(innlab.GenOptions{Count: 40, Seed: l.seed})
	if err := l.sender.Inject(arts); err != nil {
		t.Fatal(err)
	}
	// The receiver has the first 8 already: a real innd refuses them as duplicates.
	if err := l.receiver.Inject(arts[:8]); err != nil {
		t.Fatal(err)
	}
	// The scripted site "fake" gets the same lines: it rejects every 5th and defers
	// every 7th article.
	lines, err := l.sender.FeedLines("peer")
	if err != nil || len(lines) != len(arts) {
		t.Fatalf("feed: %d lines, %v", len(lines), err)
	}
	reject, deferred := map[string]bool{}, map[string]bool{}
	for i, a := range arts {
		switch {
		case i%5 == 1:
			reject[a.MessageID] = true
		case i%7 == 3:
			deferred[a.MessageID] = true
		}
	}
	fake := nntptest.NewServer(t, nntptest.Script{Decide: func(stage nntptest.Stage, mid string) int {
		switch {
		case reject[mid] && stage == nntptest.Takethis:
			return 439
		case deferred[mid] && stage == nntptest.Check:
			return 431
		}
		return 0
	}})
	fq := batch.Queue{Dir: l.sender.Outgoing, Site: "fake"}
	fakeBacklog, err := fq.Create(batch.KindBacklog, false, func(w io.Writer) error {
		// and one line whose token is garbage: malformed, quarantined in fake.bad.
		_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n@NOTATOKEN@ <quarantined.trace@lab.test>\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	giveToNews(t, fakeBacklog) // as if news wrote it: nxmit run as root works as news
	_, fakePort, _ := strings.Cut(fake.Addr, ":")
	logPattern := filepath.Join(l.sender.PathLog, "articles.%Y%m%d")
	metrics := filepath.Join(l.sender.PathLog, "nxmit.prom")
	l.writeConfig(fmt.Sprintf(`metrics-file: %s
defaults {
    connections: 2
    rotate-min-size: 0
    rotate-max-age: 0
    retry-delay: 1h
    check: always
    article-log: %s
}
site peer {
    host: 127.0.0.1
    port: %d
}
site fake {
    host: 127.0.0.1
    port: %s
}
`, metrics, logPattern, l.receiver.Port, fakePort))

	if _, stderr, status := l.nxmit("run"); status != 0 {
		t.Fatalf("run: status %d: %s", status, stderr)
	}

	// One entry per article and site, counts as the statistics say.
	logFiles := audit.LogFiles(logPattern)
	if len(logFiles) != 1 {
		t.Fatalf("article log files %v", logFiles)
	}
	entries := audittest.ReadLog(t, logFiles[0])
	perSite := map[string]map[string]int64{"peer": {}, "fake": {}}
	seen := map[string]int{}
	for _, e := range entries {
		perSite[e.Site][e.Outcome]++
		seen[e.Site+" "+e.MessageID]++
	}
	for _, a := range arts {
		for _, s := range []string{"peer", "fake"} {
			if n := seen[s+" "+a.MessageID]; n != 1 {
				t.Errorf("%s %s: %d entries in the article log, want 1", s, a.MessageID, n)
			}
		}
	}
	wantPeer := map[string]int64{audit.Accepted: 32, audit.Refused: 8}
	wantFake := map[string]int64{audit.Accepted: int64(len(arts) - len(reject) - len(deferred)),
		audit.Rejected: int64(len(reject)), audit.Deferred: int64(len(deferred))}
	for site, want := range map[string]map[string]int64{"peer": wantPeer, "fake": wantFake} {
		for k, v := range want {
			if perSite[site][k] != v {
				t.Errorf("%s: %d %s entries, want %d (all: %v)", site, perSite[site][k], k, v, perSite[site])
			}
		}
	}
	// The innxmit stats lines (both peers are 127.0.0.1, so summed) agree with the log.
	var sum [4]int64
	stats := l.statsLines()
	re := regexp.MustCompile(`accepted (\d+) refused (\d+) rejected (\d+) missing (\d+)`)
	for _, m := range stats {
		f := re.FindStringSubmatch(m.Text)
		for i := range sum {
			n, _ := strconv.ParseInt(f[i+1], 10, 64)
			sum[i] += n
		}
	}
	logSum := [4]int64{}
	for _, s := range perSite {
		logSum[0] += s[audit.Accepted]
		logSum[1] += s[audit.Refused]
		logSum[2] += s[audit.Rejected]
		logSum[3] += s[audit.Missing]
	}
	if len(stats) != 2 || sum != logSum {
		t.Errorf("stats lines %d, accepted/refused/rejected/missing %v, article log %v", len(stats), sum, logSum)
	}

	// Articles in every place. A backlog: rotate without sending. The live feed: one
	// more article after that.
	more := innlab.Generate(innlab.GenOptions{Count: 2, Seed: l.seed + 1000})
	if err := l.sender.Inject(more[:1]); err != nil {
		t.Fatal(err)
	}
	if _, stderr, status := l.nxmit("rotate", "peer"); status != 0 {
		t.Fatalf("rotate: %d %s", status, stderr)
	}
	if err := l.sender.Inject(more[1:]); err != nil {
		t.Fatal(err)
	}
	if _, err := l.sender.FeedLines("peer"); err != nil {
		t.Fatal(err)
	}
	// Expired from the spool: an accepted article whose file is removed.
	conf, err := spoolfmt.LoadInnConf(l.sender.InnConf)
	if err != nil {
		t.Fatal(err)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	gone := arts[20].MessageID
	var goneTok string
	for _, e := range entries {
		if e.MessageID == gone {
			goneTok = e.Article
		}
	}
	tok, err := spoolfmt.ParseToken(goneTok)
	if err != nil {
		t.Fatal(err)
	}
	path, err := store.Path(tok)
	if err != nil || os.Remove(path) != nil {
		t.Fatalf("remove %s: %v", path, err)
	}
	var deferredMid, rejectedMid string
	for i, a := range arts {
		if i%7 == 3 && i%5 != 1 && deferredMid == "" {
			deferredMid = a.MessageID
		}
		if i%5 == 1 && rejectedMid == "" {
			rejectedMid = a.MessageID
		}
	}

	tests := []struct {
		name, key string
		sites     []string
		want      []string // regexps the output must match
	}{
		{"delivered", arts[30].MessageID, nil, []string{
			`(?m)^peer: accepted \S+ \S+ by 127\.0\.0\.1 connection \d, reply 239 `,
			`(?m)^spool: stored \(timehash, \d+ bytes, arrived `,
			`(?m)^history: line \d+: arrived `}},
		{"refused", arts[2].MessageID, []string{"peer"}, []string{`(?m)^peer: refused .* reply 438 `}},
		{"rejected", rejectedMid, []string{"fake"}, []string{`(?m)^fake: rejected .* reply 439 `}},
		{"deferred", deferredMid, []string{"fake"}, []string{
			`(?m)^fake: queued in deferral file \S+/fake\.D\.[0-9a-f]{8}:\d+ \(deferred 1 times per the article log\)`,
			`(?m)^fake: deferred .* reply 431 `}},
		{"backlog", more[0].MessageID, []string{"peer", "fake"}, []string{
			`(?m)^peer: queued in backlog \S+/peer\.B\.[0-9a-f]{8}:1$`,
			`(?m)^fake: not queued for this site$`}},
		{"feed", more[1].MessageID, []string{"peer"}, []string{`(?m)^peer: queued in feed file \S+/peer:1$`}},
		{"quarantine", "<quarantined.trace@lab.test>", []string{"fake"}, []string{
			`(?m)^fake: queued in quarantine \S+/fake\.bad:1$`}},
		{"expired", gone, []string{"peer"}, []string{`(?m)^spool: gone \(timehash token`, `(?m)^peer: accepted `}},
		{"by token", goneTok, []string{"fake"}, []string{`(?m)^fake: accepted `}},
		{"never queued", "<never.queued@lab.test>", nil, []string{
			`(?m)^history: no such message-id$`, `(?m)^peer: not queued for this site$`, `(?m)^fake: not queued for this site$`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			out, stderr, status := l.nxmit(append([]string{"trace", tt.key}, tt.sites...)...)
			if status != 0 {
				t.Fatalf("trace: status %d: %s", status, stderr)
			}
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("trace %s: output lacks %s:\n%s", tt.key, w, out)
				}
			}
			t.Logf("trace %s (%v):\n%s", tt.key, time.Since(start), out)
		})
	}

	// trace --json carries the same, for scripts.
	out, stderr, status := l.nxmit("trace", "--json", deferredMid, "fake")
	var tr audit.Trace
	if err := json.Unmarshal([]byte(out), &tr); status != 0 || err != nil {
		t.Fatalf("trace --json: status %d, %v: %s %s", status, err, out, stderr)
	}
	if len(tr.Sites) != 1 || len(tr.Sites[0].Places) != 1 || tr.Sites[0].Places[0].Kind != audit.PlaceDeferral ||
		tr.Sites[0].Deferrals != 1 || !tr.Spool.InSpool || tr.Spool.History == nil || !strings.HasPrefix(tr.Spool.Token, "@02") {
		t.Errorf("trace --json: %s", out)
	}

	// INN hashes the domain of a message-id case-insensitively: the history line of an
	// article injected as <Mixed.Case@Lab.TEST> is found under either spelling of the
	// domain, and not with the local part's case changed.
	odd := innlab.Generate(innlab.GenOptions{Count: 1, Seed: l.seed + 2000})[0]
	oddID := "<Mixed.Case." + strconv.FormatInt(l.seed, 10) + "@Lab.TEST>"
	odd.Body = []byte(strings.Replace(string(odd.Body), "Message-ID: "+odd.MessageID, "Message-ID: "+oddID, 1))
	odd.MessageID = oddID
	if err := l.sender.Inject([]innlab.Article{odd}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{oddID: true, strings.Replace(oddID, "Lab.TEST", "lab.test", 1): true,
		strings.Replace(oddID, "Mixed.Case", "mixed.case", 1): false} {
		out, _, _ := l.nxmit("trace", key, "fake")
		if got := strings.Contains(out, "\nhistory: line "); got != want {
			t.Errorf("trace %s: history found %v, want %v:\n%s", key, got, want, out)
		}
	}

	// Prometheus, from status and from the metrics file, says what --json says.
	js, stderr, status := l.nxmit("status", "--json")
	if status != 0 {
		t.Fatalf("status --json: %d %s", status, stderr)
	}
	var rep struct {
		Sites []struct {
			Site             string       `json:"site"`
			QueuedArticles   int64        `json:"queued_articles"`
			QueuedBytes      int64        `json:"queued_bytes"`
			OldestAge        float64      `json:"oldest_article_age_seconds"`
			DeferredArticles int64        `json:"deferred_articles"`
			Totals           audit.Totals `json:"totals"`
		} `json:"sites"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	prom, stderr, status := l.nxmit("status", "--prometheus")
	if status != 0 {
		t.Fatalf("status --prometheus: %d %s", status, stderr)
	}
	samples, _, err := promtext.Parse(strings.NewReader(prom))
	if err != nil {
		t.Fatalf("status --prometheus: %v\n%s", err, prom)
	}
	fileText, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatalf("metrics file: %v", err)
	}
	if _, _, err := promtext.Parse(strings.NewReader(string(fileText))); err != nil {
		t.Errorf("metrics file: %v", err)
	}
	if len(rep.Sites) != 2 {
		t.Fatalf("status --json: %d sites", len(rep.Sites))
	}
	for _, s := range rep.Sites {
		val := func(name string, labels ...string) float64 {
			k := name + `{`
			if len(labels) > 0 {
				k += `outcome="` + labels[0] + `",`
			}
			k += `site="` + s.Site + `"}`
			v, ok := samples[k]
			if !ok {
				t.Errorf("no %s", k)
			}
			return v.Value
		}
		checks := []struct {
			name  string
			prom  float64
			json_ float64
		}{
			{"queued articles", val("nxmit_queued_articles"), float64(s.QueuedArticles)},
			{"queued bytes", val("nxmit_queued_bytes"), float64(s.QueuedBytes)},
			{"deferred articles", val("nxmit_deferred_articles"), float64(s.DeferredArticles)},
			{"accepted", val("nxmit_articles_total", "accepted"), float64(s.Totals.Accepted)},
			{"refused", val("nxmit_articles_total", "refused"), float64(s.Totals.Refused)},
			{"rejected", val("nxmit_articles_total", "rejected"), float64(s.Totals.Rejected)},
			{"deferred", val("nxmit_articles_total", "deferred"), float64(s.Totals.Deferred)},
			{"passes", val("nxmit_passes_total"), float64(s.Totals.Passes)},
			{"last duration", val("nxmit_last_pass_duration_seconds"), s.Totals.LastDuration},
		}
		for _, c := range checks {
			if c.prom != c.json_ {
				t.Errorf("%s %s: prometheus %v, json %v", s.Site, c.name, c.prom, c.json_)
			}
		}
		if age := val("nxmit_oldest_queued_article_age_seconds"); age < s.OldestAge || age > s.OldestAge+60 {
			t.Errorf("%s: oldest age prometheus %v, json %v (a moment earlier)", s.Site, age, s.OldestAge)
		}
		want := perSite[s.Site]
		if s.Totals.Accepted != want[audit.Accepted] || s.Totals.Refused != want[audit.Refused] ||
			s.Totals.Rejected != want[audit.Rejected] || s.Totals.Deferred != want[audit.Deferred] {
			t.Errorf("%s: totals %+v, article log %v", s.Site, s.Totals.Counts, want)
		}
		switch s.Site {
		case "peer":
			if s.QueuedArticles != 3 || s.QueuedBytes <= 0 || s.OldestAge <= 0 {
				t.Errorf("peer: queued %d articles, %d bytes, oldest %vs; want 3 (backlog, feed, mixed-case), some, some", s.QueuedArticles, s.QueuedBytes, s.OldestAge)
			}
		case "fake":
			if s.QueuedArticles != int64(len(deferred)) || s.DeferredArticles != int64(len(deferred)) {
				t.Errorf("fake: queued %d, deferred %d; want %d", s.QueuedArticles, s.DeferredArticles, len(deferred))
			}
		}
	}
	t.Logf("status --prometheus:\n%s", prom)
	table, stderr, status := l.nxmit("status", "-l")
	if status != 0 || !regexp.MustCompile(`(?m)^fake .* 5 \(10K\) +\d+s `).MatchString(table) {
		t.Errorf("status -l: %d %s\n%s", status, stderr, table)
	}
	t.Logf("status -l:\n%s", table)
}
