package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"nxmit/internal/bench"
	"nxmit/nntp"
)

// windowDelays are the round trips of the "how the window adapts" table.
var windowDelays = []time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond}

// windowPrograms compares the default adaptive window with the fixed window of earlier
// versions.
var windowPrograms = []string{"nxmit", "nxmit:--fixed-window -w 128"}

type windowRow struct {
	delay  time.Duration
	prog   string
	sample bench.Sample
}

// windowRuns is how often each cell of the table is measured; the median is shown (one
// run alone can catch a stall of the shared machine).
const windowRuns = 3

// windowTable sends the small batch with nxmit's defaults and with a fixed window of 128
// to sinks answering 0, 10, 50 and 200 ms late, windowRuns times each, the two
// alternating: the rate against the round trip, and the window the adaptive one reached.
func (l *lab) windowTable(ctx context.Context) ([]windowRow, error) {
	if l.small == nil {
		return nil, nil
	}
	var rows []windowRow
	for _, d := range windowDelays {
		sink, err := startSink(d)
		if err != nil {
			return rows, err
		}
		runs := make([][]bench.Sample, len(windowPrograms))
		for run := 0; run < windowRuns; run++ {
			for i, prog := range windowPrograms {
				dir := filepath.Join(l.work, fmt.Sprintf("window-%v-%d-%d", d, i, run))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					sink.stop()
					return rows, err
				}
				before := sink.accepted()
				rctx, cancel := context.WithTimeout(ctx, l.c.runLimit)
				s, err := l.runNxmit(rctx, prog, l.small, sink.port, dir)
				cancel()
				os.RemoveAll(dir)
				if err == nil && sink.accepted()-before != l.small.lines {
					err = fmt.Errorf("%w: the sink accepted %d articles, want %d", errCheck, sink.accepted()-before, l.small.lines)
				}
				if err != nil {
					sink.stop()
					return rows, fmt.Errorf("window table, %v, %s: %w", d, prog, err)
				}
				logf("window %-6v %-28s %8.0f art/s, window %d, cpu %.2fs", d, prog, s.ArticlesPerSec(), s.Window, s.CPU.Seconds())
				runs[i] = append(runs[i], s)
			}
		}
		sink.stop()
		for i, prog := range windowPrograms {
			ss := runs[i]
			sort.Slice(ss, func(a, b int) bool { return ss[a].ArticlesPerSec() < ss[b].ArticlesPerSec() })
			rows = append(rows, windowRow{delay: d, prog: prog, sample: ss[len(ss)/2]})
		}
	}
	return rows, nil
}

func windowMarkdown(rows []windowRow, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### How the window adapts\n\n%s small articles to a null sink answering each command after the given delay, 4 connections, the median of %d runs each: the default adaptive window (cap %d per connection) against the fixed window of 128 of earlier versions.\n\n", thousands(n), windowRuns, nntp.DefaultWindow)
	b.WriteString("| round trip | adaptive art/s | window reached | fixed 128 art/s | ratio |\n|---:|---:|---:|---:|---:|\n")
	for i := 0; i+1 < len(rows); i += 2 {
		a, f := rows[i].sample, rows[i+1].sample
		fmt.Fprintf(&b, "| %v | %s | %d | %s | ×%.2f |\n", rows[i].delay, bench.Thousands(a.ArticlesPerSec(), 0), a.Window,
			bench.Thousands(f.ArticlesPerSec(), 0), a.ArticlesPerSec()/f.ArticlesPerSec())
	}
	return b.String()
}
