package xmit

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/audit"
	"nxmit/audit/audittest"
	"nxmit/batch"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
	"nxmit/spoolfmt"
)

// checkLog asserts the article log's promise: one entry per line that reached an
// answer, whose counts per outcome equal the statistics, and no message-id with two
// final entries.
func checkLog(t *testing.T, es []audit.Entry, st Stats, site, host string) {
	t.Helper()
	counts := map[string]int64{}
	final := map[string]int{}
	for _, e := range es {
		counts[e.Outcome]++
		if e.Site != site || e.Host != host {
			t.Errorf("entry names site %q host %q, want %q %q", e.Site, e.Host, site, host)
		}
		switch e.Outcome {
		case audit.Accepted, audit.Refused, audit.Rejected, audit.Missing:
			if e.MessageID != "" {
				final[e.MessageID]++
			}
		}
		switch e.Outcome {
		case audit.Accepted, audit.Refused, audit.Rejected, audit.Deferred:
			if e.Conn < 1 || e.Code == 0 {
				t.Errorf("%s entry without connection or reply code: %+v", e.Outcome, e)
			}
		}
		if (e.Outcome == audit.Accepted || e.Outcome == audit.Rejected) && e.Bytes == 0 {
			t.Errorf("%s entry without bytes: %+v", e.Outcome, e)
		}
	}
	want := map[string]int64{audit.Accepted: st.Accepted, audit.Refused: st.Refused, audit.Rejected: st.Rejected,
		audit.Missing: st.Missing, audit.Deferred: st.Deferred, audit.Requeued: st.Requeued, audit.Malformed: st.Malformed}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("article log has %d %s entries, stats say %d", counts[k], k, v)
		}
	}
	for mid, n := range final {
		if n != 1 {
			t.Errorf("%s has %d final entries", mid, n)
		}
	}
}

func TestArticleLog(t *testing.T) {
	decide := func(stage nntptest.Stage, mid string) int {
		var n int
		fmt.Sscanf(mid, "<%d.", &n)
		switch {
		case n%10 == 1 && stage == nntptest.Check:
			return 438
		case n%10 == 2 && stage == nntptest.Check:
			return 431
		case n%10 == 3 && stage == nntptest.Takethis:
			return 439
		}
		return 0
	}
	s := newSite(t, 300, "nosuchfile <gone@test>", "a1 no-angle-brackets",
		"@020000000000000000000000000000000000@ <expired@test>")
	srv := nntptest.NewServer(t, nntptest.Script{Decide: decide})
	logPath := filepath.Join(t.TempDir(), "articles.log")
	l, err := audit.OpenLog(logPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	opt := s.options(srv.Addr)
	opt.Stream.Mode = nntp.AlwaysCheck
	opt.ArticleLog = l
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatalf("Send: %v (%q)", err, s.warns.all())
	}
	s.checkBalance(st, 302)
	es := audittest.ReadLog(t, logPath)
	checkLog(t, es, st, "peer", "127.0.0.1")
	if int64(len(es)) != st.Done()+st.Malformed {
		t.Errorf("%d entries for %d answered and %d malformed lines", len(es), st.Done(), st.Malformed)
	}
	for _, e := range es {
		if e.MessageID == "<13.xmit@test>" && (e.Outcome != audit.Rejected || e.Code != 439 || !strings.Contains(e.Text, "<13.xmit@test>")) {
			t.Errorf("rejected article logged as %+v", e)
		}
		if e.Outcome == audit.Malformed && !strings.Contains(e.Text, ":") {
			t.Errorf("malformed entry does not say FILE:LINE: %+v", e)
		}
	}
	if st.Rejected == 0 || st.Deferred == 0 || st.Refused == 0 || st.Missing == 0 || st.Malformed == 0 {
		t.Errorf("not every outcome occurred: %+v", st)
	}
}

func TestArticleLogRotation(t *testing.T) {
	dir := t.TempDir()
	e := audit.Entry{Site: "peer", Host: "h", Outcome: audit.Accepted, MessageID: "<a@b>", Article: "x", Conn: 1, Bytes: 10, Code: 239, Text: "<a@b>"}
	t.Run("size", func(t *testing.T) {
		p := filepath.Join(dir, "size.log")
		l, err := audit.OpenLog(p, 200)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			e.Time = time.Now()
			if err := l.Write([]audit.Entry{e, e}); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		files := audit.LogFiles(p)
		if len(files) != 2 || files[0] != p+".1" {
			t.Fatalf("files %v, want %s.1 and %s", files, p, p)
		}
		if fi, _ := os.Stat(p + ".1"); fi.Size() < 200 {
			t.Errorf("rotated file has %d bytes", fi.Size())
		}
	})
	t.Run("date pattern", func(t *testing.T) {
		p := filepath.Join(dir, "art.%Y%m%d.log")
		l, err := audit.OpenLog(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.Time = time.Now()
		if err := l.Write([]audit.Entry{e}); err != nil {
			t.Fatal(err)
		}
		l.Close()
		want := filepath.Join(dir, "art."+time.Now().Format("20060102")+".log")
		if files := audit.LogFiles(p); len(files) != 1 || files[0] != want {
			t.Errorf("files %v, want [%s]", files, want)
		}
		found, err := audit.Find(audit.LogFiles(p), "<a@b>", "peer")
		if err != nil || len(found) != 1 || found[0].Line != 1 || found[0].Code != 239 {
			t.Errorf("Find: %+v, %v", found, err)
		}
	})
}

// BenchmarkSendArticleLog measures what the article log costs a pass: articles per
// second to a local sink without and with it. The two alternate within each iteration,
// so that the load of a shared machine falls on both alike.
func BenchmarkSendArticleLog(b *testing.B) {
	const n = 20000
	dir := b.TempDir()
	srv, err := nntptest.Start("127.0.0.1:0", nntptest.Script{CountOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	s := benchSite(b, dir, n)
	var spent [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, withLog := range []int{0, 1} {
			b.StopTimer()
			writeBacklog(b, s.q, s.lines)
			opt := Options{Queue: s.q, Store: s.store, Addr: srv.Addr,
				Dial: nntp.Config{DialTimeout: 5 * time.Second, ReplyTimeout: 5 * time.Second}, Connections: 2}
			var l *audit.Log
			if withLog == 1 {
				if l, err = audit.OpenLog(filepath.Join(dir, "art.log"), 0); err != nil {
					b.Fatal(err)
				}
				opt.ArticleLog = l
			}
			b.StartTimer()
			start := time.Now()
			st, err := Send(context.Background(), opt)
			spent[withLog] += time.Since(start)
			if err != nil || st.Accepted != n {
				b.Fatalf("Send: %v, %+v", err, st)
			}
			if l != nil {
				l.Close()
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/spent[0].Seconds(), "art/s-without-log")
	b.ReportMetric(float64(n*b.N)/spent[1].Seconds(), "art/s-with-log")
}

type benchQueue struct {
	q     batch.Queue
	store *spoolfmt.Store
	lines string
}

// benchSite writes n article files of about 2 KB and returns the backlog text naming them.
func benchSite(b *testing.B, dir string, n int) benchQueue {
	arts := filepath.Join(dir, "articles")
	out := filepath.Join(dir, "outgoing")
	for _, d := range []string{arts, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	conf, err := spoolfmt.ParseInnConf(strings.NewReader(
		"pathnews: "+dir+"\npatharticles: "+arts+"\npathoutgoing: "+out+"\n"), "bench inn.conf")
	if err != nil {
		b.Fatal(err)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	var lines strings.Builder
	body := strings.Repeat("filler text for a benchmark article\n", 55)
	for i := 0; i < n; i++ {
		mid := fmt.Sprintf("<%d.bench@test>", i)
		art := fmt.Sprintf("Path: x!not-for-mail\nFrom: t@test\nNewsgroups: lab.test\nSubject: %d\nMessage-ID: %s\n\n%s", i, mid, body)
		name := fmt.Sprintf("a%d", i)
		if err := os.WriteFile(filepath.Join(arts, name), []byte(art), 0o644); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&lines, "%s %s\n", name, mid)
	}
	return benchQueue{q: batch.Queue{Dir: out, Site: "peer"}, store: store, lines: lines.String()}
}

func writeBacklog(b *testing.B, q batch.Queue, lines string) {
	if _, err := q.Create(batch.KindBacklog, false, func(w io.Writer) error {
		_, err := io.WriteString(w, lines)
		return err
	}); err != nil {
		b.Fatal(err)
	}
}
