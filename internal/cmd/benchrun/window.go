package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// windowTable sends the small batch with nxmit's defaults and with a fixed window of 128
// to sinks answering 0, 10, 50 and 200 ms late, once each: the rate against the round
// trip, and the window the adaptive one reached.
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
		for _, prog := range windowPrograms {
			dir := filepath.Join(l.work, fmt.Sprintf("window-%v-%d", d, len(rows)))
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
			rows = append(rows, windowRow{delay: d, prog: prog, sample: s})
		}
		sink.stop()
	}
	return rows, nil
}

func windowMarkdown(rows []windowRow, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### How the window adapts\n\n%s small articles to a null sink answering each command after the given delay, 4 connections, one run each: the default adaptive window (cap %d per connection) against the fixed window of 128 of earlier versions.\n\n", thousands(n), nntp.DefaultWindow)
	b.WriteString("| round trip | adaptive art/s | window reached | fixed 128 art/s | ratio |\n|---:|---:|---:|---:|---:|\n")
	for i := 0; i+1 < len(rows); i += 2 {
		a, f := rows[i].sample, rows[i+1].sample
		fmt.Fprintf(&b, "| %v | %s | %d | %s | ×%.2f |\n", rows[i].delay, bench.Thousands(a.ArticlesPerSec(), 0), a.Window,
			bench.Thousands(f.ArticlesPerSec(), 0), a.ArticlesPerSec()/f.ArticlesPerSec())
	}
	return b.String()
}
