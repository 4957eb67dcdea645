package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"nxmit/internal/bench"
)

// report prints the results as Markdown, keeps them in the scratch directory, and, with
// -doc, writes them into the document's generated block.
func (l *lab) report(samples []bench.Sample, qt []queueResult) error {
	md := l.markdown(samples, qt)
	fmt.Println(md)
	if err := os.WriteFile(filepath.Join(l.work, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if l.c.doc == "" {
		return nil
	}
	old, err := os.ReadFile(l.c.doc)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc, err := bench.ReplaceBlock(string(old), md)
	if err != nil {
		return fmt.Errorf("%s: %w", l.c.doc, err)
	}
	if err := os.WriteFile(l.c.doc, []byte(doc), 0o644); err != nil {
		return err
	}
	logf("results written into %s", l.c.doc)
	return nil
}

func (l *lab) markdown(samples []bench.Sample, qt []queueResult) string {
	var b strings.Builder
	c := l.c
	fmt.Fprintf(&b, "### Results of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Command: `%s`\n", c.command)
	fmt.Fprintf(&b, "- Machine: `%s`; %d CPUs (%s); %s of memory\n", cmdOut("uname", "-a"), runtime.NumCPU(), cpuModel(), memTotal())
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) at the start: %s; at the end: %s (other work on the machine shows here)\n", l.loadStart, loadAvg())
	fmt.Fprintf(&b, "- Software: INN %s (Debian inn2, innd and innxmit), Go %s\n", cmdOut("dpkg-query", "-W", "-f", "${Version}", "inn2"), runtime.Version())
	fmt.Fprintf(&b, "- Rounds: %d; in each round every program sends its own copy of the same batch, the order rotating from round to round; figures are medians, ×N is the ratio to innxmit's median.\n", c.rounds)
	for _, bs := range []*batchSet{l.mixed, l.small} {
		if bs != nil {
			fmt.Fprintf(&b, "- Batch %q: %s articles, %.1f MB as stored (native)\n", bs.name, thousands(bs.lines), float64(bs.rawBytes)/1e6)
		}
	}
	b.WriteString("\n")
	if len(samples) > 0 {
		rows := bench.Summarize(samples, "innxmit")
		b.WriteString(bench.Markdown(rows))
		b.WriteString("\n")
		b.WriteString(l.targets(rows, qt))
	}
	if len(qt) > 0 {
		b.WriteString("\n#### Queue tools\n\n")
		b.WriteString(queueMarkdown(qt))
	}
	if len(samples) > 0 {
		b.WriteString("\n<details><summary>Every run</summary>\n\n")
		b.WriteString("| scenario | round | program | articles | MB | elapsed s | wall s | CPU s | peak RSS MB |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range samples {
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %.1f | %.3f | %.3f | %.3f | %.1f |\n", s.Scenario, s.Round, s.Program,
				s.Articles, float64(s.Bytes)/1e6, s.Elapsed.Seconds(), s.Wall.Seconds(), s.CPU.Seconds(), s.RSSMB())
		}
		b.WriteString("\n</details>\n")
	}
	for _, p := range l.profiled {
		fmt.Fprintf(&b, "\n<details><summary>CPU profile: %s</summary>\n\n```\n%s\n\n%s\n```\n\n</details>\n", p.Scenario, p.Stats, p.Top)
	}
	return b.String()
}

// targets checks the targets against the medians.
func (l *lab) targets(rows []bench.Row, qt []queueResult) string {
	find := func(scenario, prog string) (bench.Row, bool) {
		for _, r := range rows {
			if r.Scenario == scenario && r.Program == prog {
				return r, true
			}
		}
		return bench.Row{}, false
	}
	var b strings.Builder
	b.WriteString("#### Targets\n\n| target | measured (nxmit, defaults) | met |\n|---|---|---|\n")
	ratio := func(target, scenario string, want float64, get func(bench.Row) float64, atLeast bool) {
		r, ok := find(scenario, "nxmit")
		if !ok {
			return
		}
		v := get(r)
		met := !math.IsNaN(v) && (atLeast && v >= want || !atLeast && v <= want)
		fmt.Fprintf(&b, "| %s | ×%.2f (%s) | %s |\n", target, v, scenario, yesNo(met))
	}
	d := l.c.delay.String()
	rate := func(r bench.Row) float64 { return r.RatioRate }
	ratio("≥ 1.5× innxmit's articles/s, loopback sink, 1–4 KB", "null sink, 1–4 KB", 1.5, rate, true)
	ratio("≥ 10× innxmit's articles/s at "+d+" round trip, 1–4 KB", "sink +"+d+", 1–4 KB", 10, rate, true)
	ratio("for reference: the same with mixed sizes", "sink +"+d+", mixed", 10, rate, true)
	ratio("≥ 1.2× innxmit's articles/s to a real innd, mixed", "real innd, mixed", 1.2, rate, true)
	ratio("for reference: the same with 1–4 KB articles", "real innd, 1–4 KB", 1.2, rate, true)
	if tr, ok := find("TLS sink, 1–4 KB", "nxmit"); ok {
		if pr, ok := find("null sink, 1–4 KB", "nxmit"); ok && pr.ArticlesPerSec > 0 {
			fmt.Fprintf(&b, "| for reference: nxmit's articles/s over TLS / over plain TCP, sink, 1–4 KB | ×%.2f | - |\n", tr.ArticlesPerSec/pr.ArticlesPerSec)
		}
	}
	cpu := func(r bench.Row) float64 { return r.RatioCPU }
	for _, r := range rows {
		if r.Program == "nxmit" && r.Scenario != "TLS sink, 1–4 KB" { // no innxmit there
			ratio("CPU per article ≤ ½ innxmit's", r.Scenario, 0.5, cpu, false)
		}
	}
	for _, q := range qt {
		if q.Program == "nxmit send" {
			fmt.Fprintf(&b, "| peak RSS of send ≤ 40 MB at %s lines | %.1f MB | %s |\n", thousands(q.Lines), q.rssMB(), yesNo(q.rssMB() <= 40 && q.Lines >= 1_000_000))
		}
	}
	return b.String()
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func queueMarkdown(qt []queueResult) string {
	var b strings.Builder
	b.WriteString("| measurement | program | lines/s | MB/s | wall s | CPU s | peak RSS MB |\n|---|---|---:|---:|---:|---:|---:|\n")
	base := map[string]queueResult{}
	for _, q := range qt {
		if q.Baseline {
			base[q.What] = q
		}
	}
	for _, q := range qt {
		lr, mr := bench.Thousands(q.linesPerSec(), 0), fmt.Sprintf("%.1f", q.mbPerSec())
		if bq, ok := base[q.What]; ok && !q.Baseline {
			lr += fmt.Sprintf(" (×%.2f)", q.linesPerSec()/bq.linesPerSec())
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f | %.2f | %.1f |\n", q.What, q.Program, lr, mr, q.Wall.Seconds(), q.CPU.Seconds(), q.rssMB())
	}
	return b.String()
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	var kb int64
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		}
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
