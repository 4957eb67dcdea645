package bench

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Sample is one measured run of one program in one scenario.
type Sample struct {
	Scenario string
	Program  string
	Round    int

	Articles int64         // articles the peer accepted
	Bytes    int64         // wire bytes of those (accsize)
	Elapsed  time.Duration // the program's own "elapsed": connect to end of transfer
	Wall     time.Duration // process wall time, less innxmit's fixed 1 s exit sleep
	CPU      time.Duration // user + system
	RSSKiB   int64         // peak RSS
	Window   int64         // nxmit: the largest window of a connection (detail line)
	// PeerCPU is the receiving innd's user + system time during the run (real-innd
	// scenarios; 0 elsewhere): whether the receiver, not the sender, set the pace.
	PeerCPU time.Duration
}

// PeerBusy is the share of the run's wall time the receiving innd spent on a CPU.
func (s Sample) PeerBusy() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return s.PeerCPU.Seconds() / s.Wall.Seconds()
}

// ArticlesPerSec is articles over the program's own elapsed time.
func (s Sample) ArticlesPerSec() float64 { return per(float64(s.Articles), s.Elapsed) }

// WallArticlesPerSec is articles over the (adjusted) wall time of the process.
func (s Sample) WallArticlesPerSec() float64 { return per(float64(s.Articles), s.Wall) }

// MBPerSec is megabytes (10^6) over the program's own elapsed time.
func (s Sample) MBPerSec() float64 { return per(float64(s.Bytes)/1e6, s.Elapsed) }

// CPUPer1000 is CPU seconds per 1,000 articles.
func (s Sample) CPUPer1000() float64 {
	if s.Articles == 0 {
		return math.NaN()
	}
	return s.CPU.Seconds() * 1000 / float64(s.Articles)
}

// RSSMB is the peak RSS in megabytes (10^6 bytes), the unit of the targets.
func (s Sample) RSSMB() float64 { return float64(s.RSSKiB) * 1024 / 1e6 }

func per(x float64, d time.Duration) float64 {
	if d <= 0 {
		return math.NaN()
	}
	return x / d.Seconds()
}

// Median returns the median of xs (the mean of the middle two for an even count), NaN for
// none. NaN entries are ignored.
func Median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// Row is the medians of one program in one scenario, with ratios to the baseline program
// of that scenario (NaN when there is none, or for the baseline itself).
type Row struct {
	Scenario, Program string
	Runs              int

	ArticlesPerSec, WallArticlesPerSec, MBPerSec, CPUPer1000, RSSMB float64
	Elapsed                                                         float64 // seconds
	// PeerCPUPer1000 and PeerBusy are the receiving innd's (medians; 0 without one).
	PeerCPUPer1000, PeerBusy float64

	// Ratios program/baseline of the medians.
	RatioRate, RatioWallRate, RatioMB, RatioCPU, RatioRSS float64
}

// Summarize reduces samples to one Row per scenario and program, in the order each pair
// first appears, with ratios against baseline (e.g. "innxmit") within each scenario.
func Summarize(samples []Sample, baseline string) []Row {
	type key struct{ sc, prog string }
	var order []key
	groups := map[key][]Sample{}
	for _, s := range samples {
		k := key{s.Scenario, s.Program}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	med := func(ss []Sample, f func(Sample) float64) float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return Median(xs)
	}
	rows := make([]Row, 0, len(order))
	index := map[key]int{}
	for _, k := range order {
		ss := groups[k]
		index[k] = len(rows)
		rows = append(rows, Row{
			Scenario: k.sc, Program: k.prog, Runs: len(ss),
			ArticlesPerSec:     med(ss, Sample.ArticlesPerSec),
			WallArticlesPerSec: med(ss, Sample.WallArticlesPerSec),
			MBPerSec:           med(ss, Sample.MBPerSec),
			CPUPer1000:         med(ss, Sample.CPUPer1000),
			RSSMB:              med(ss, Sample.RSSMB),
			Elapsed:            med(ss, func(s Sample) float64 { return s.Elapsed.Seconds() }),
			PeerCPUPer1000: med(ss, func(s Sample) float64 {
				if s.Articles == 0 {
					return 0
				}
				return s.PeerCPU.Seconds() * 1000 / float64(s.Articles)
			}),
			PeerBusy: med(ss, Sample.PeerBusy),
		})
	}
	for i := range rows {
		r := &rows[i]
		nan := math.NaN()
		r.RatioRate, r.RatioWallRate, r.RatioMB, r.RatioCPU, r.RatioRSS = nan, nan, nan, nan, nan
		j, ok := index[key{r.Scenario, baseline}]
		if !ok || r.Program == baseline {
			continue
		}
		b := rows[j]
		r.RatioRate = r.ArticlesPerSec / b.ArticlesPerSec
		r.RatioWallRate = r.WallArticlesPerSec / b.WallArticlesPerSec
		r.RatioMB = r.MBPerSec / b.MBPerSec
		r.RatioCPU = r.CPUPer1000 / b.CPUPer1000
		r.RatioRSS = r.RSSMB / b.RSSMB
	}
	return rows
}

// Markdown renders rows as a GitHub-flavoured Markdown table. A ratio follows each median
// in parentheses as "×R" where there is a baseline.
func Markdown(rows []Row) string {
	var b strings.Builder
	b.WriteString("| scenario | program | runs | articles/s | articles/s (wall) | MB/s | CPU s / 1,000 articles | peak RSS MB |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s |\n",
			r.Scenario, r.Program, r.Runs,
			withRatio(r.ArticlesPerSec, r.RatioRate, 0),
			withRatio(r.WallArticlesPerSec, r.RatioWallRate, 0),
			withRatio(r.MBPerSec, r.RatioMB, 1),
			withRatio(r.CPUPer1000, r.RatioCPU, 3),
			withRatio(r.RSSMB, r.RatioRSS, 1))
	}
	return b.String()
}

func withRatio(v, ratio float64, prec int) string {
	if math.IsNaN(v) {
		return "–"
	}
	s := Thousands(v, prec)
	if !math.IsNaN(ratio) && !math.IsInf(ratio, 0) {
		s += fmt.Sprintf(" (×%.2f)", ratio)
	}
	return s
}

// Thousands formats v with prec decimals and commas between groups of three digits.
func Thousands(v float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
