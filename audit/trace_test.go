package audit

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nxmit/batch"
)

func tokenText(i int) string { return fmt.Sprintf("@0201%08X000000000000000000000000@", i) }

// writeQueue creates a backlog of n "token <i.trace@test>" lines.
func writeQueue(t testing.TB, q batch.Queue, n int, compress bool) string {
	t.Helper()
	path, err := q.Create(batch.KindBacklog, compress, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		for i := range n {
			fmt.Fprintf(bw, "%s <%d.trace@test>\n", tokenText(i), i)
		}
		return bw.Flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTraceQueueFiles(t *testing.T) {
	dir := t.TempDir()
	q := batch.Queue{Dir: dir, Site: "peer"}
	backlog := writeQueue(t, q, 100, false)
	if err := os.WriteFile(q.FeedPath(), []byte(tokenText(500)+" <500.trace@test>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(q.BadPath(), []byte(backlog+":7: bad line: <7x.trace@test> junk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sites := []TraceSite{{Queue: q}}
	tests := []struct {
		key, kind string
		line      int64
	}{
		{"<42.trace@test>", PlaceBacklog, 43},
		{tokenText(42), PlaceBacklog, 43},
		{"<500.trace@test>", PlaceFeed, 1},
		{"<7x.trace@test>", PlaceQuarantine, 1},
	}
	for _, tt := range tests {
		tr, err := TraceArticle(tt.key, TraceOptions{Sites: sites})
		if err != nil {
			t.Fatal(err)
		}
		p := tr.Sites[0].Places
		if len(p) != 1 || p[0].Kind != tt.kind || p[0].Line != tt.line {
			t.Errorf("%s: places %+v, want %s line %d", tt.key, p, tt.kind, tt.line)
		}
	}
	tr, _ := TraceArticle("<none@test>", TraceOptions{Sites: sites})
	if len(tr.Sites[0].Places) != 0 || len(tr.Sites[0].Log) != 0 {
		t.Errorf("an article never queued was found: %+v", tr.Sites[0])
	}
}

// BenchmarkTrace1M traces the last article of a 1,000,000-line backlog, plain and
// compressed: what 'nxmit trace' costs on a large queue.
func BenchmarkTrace1M(b *testing.B) {
	const n = 1000000
	for _, compress := range []bool{false, true} {
		b.Run(fmt.Sprintf("compressed=%v", compress), func(b *testing.B) {
			dir := b.TempDir()
			q := batch.Queue{Dir: dir, Site: "peer"}
			path := writeQueue(b, q, n, compress)
			fi, _ := os.Stat(path)
			key := fmt.Sprintf("<%d.trace@test>", n-1)
			b.SetBytes(fi.Size())
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				tr, err := TraceArticle(key, TraceOptions{Sites: []TraceSite{{Queue: q}}})
				if err != nil || len(tr.Sites[0].Places) != 1 || tr.Sites[0].Places[0].Line != n {
					b.Fatalf("%+v %v", tr, err)
				}
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/trace")
			b.ReportMetric(float64(n), "lines")
			_ = filepath.Base(path)
		})
	}
}
