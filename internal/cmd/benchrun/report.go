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
	for _, bs := range []*batchSet{l.mixed, l.small, l.large} {
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
	if len(samples) > 0 {
		b.WriteString(peerMarkdown(bench.Summarize(samples, "innxmit")))
	}
	if len(l.window) > 0 {
		b.WriteString("\n")
		b.WriteString(windowMarkdown(l.window, l.small.lines))
	}
	if len(qt) > 0 {
		b.WriteString("\n#### Queue tools\n\n")
		b.WriteString(queueMarkdown(qt))
	}
	if len(samples) > 0 {
		b.WriteString("\n<details><summary>Every run</summary>\n\n")
		b.WriteString("| scenario | round | program | articles | MB | elapsed s | wall s | CPU s | peak RSS MB | receiving innd CPU s |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range samples {
			peer := ""
			if s.PeerCPU > 0 {
				peer = fmt.Sprintf("%.2f", s.PeerCPU.Seconds())
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %.1f | %.3f | %.3f | %.3f | %.1f | %s |\n", s.Scenario, s.Round, s.Program,
				s.Articles, float64(s.Bytes)/1e6, s.Elapsed.Seconds(), s.Wall.Seconds(), s.CPU.Seconds(), s.RSSMB(), peer)
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
	b.WriteString("#### Targets (issue 14; medians, nxmit with its defaults)\n\n| target | measured | met |\n|---|---|---|\n")
	row := func(target, measured string, met bool) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", target, measured, yesNo(met))
	}
	// against gives nxmit's figure over another program's in a scenario.
	against := func(scenario, prog string, get func(bench.Row) float64) (float64, bool) {
		n, ok1 := find(scenario, "nxmit")
		o, ok2 := find(scenario, prog)
		if !ok1 || !ok2 || get(o) == 0 {
			return math.NaN(), false
		}
		return get(n) / get(o), true
	}
	rate := func(r bench.Row) float64 { return r.ArticlesPerSec }
	mb := func(r bench.Row) float64 { return r.MBPerSec }
	cpu := func(r bench.Row) float64 { return r.CPUPer1000 }
	ratio := func(target, scenario, prog string, get func(bench.Row) float64, want float64, atLeast bool) {
		v, ok := against(scenario, prog, get)
		if !ok {
			return
		}
		row(target, fmt.Sprintf("×%.2f (%s)", v, scenario), atLeast && v >= want || !atLeast && v <= want)
	}
	absolute := func(target, scenario string, want float64) {
		if r, ok := find(scenario, "nxmit"); ok {
			row(target, bench.Thousands(r.ArticlesPerSec, 0)+" art/s", r.ArticlesPerSec >= want)
		}
	}
	d, d2 := l.c.delay.String(), l.c.delay2.String()
	absolute("≥ 30,000 art/s at "+d+", 1–4 KB", "sink +"+d+", 1–4 KB", 30000)
	ratio("… ≥ 60× innxmit", "sink +"+d+", 1–4 KB", "innxmit", rate, 60, true)
	ratio("… ≥ 3× innfeed", "sink +"+d+", 1–4 KB", "innfeed", rate, 3, true)
	absolute("≥ 15,000 art/s at "+d2+", 1–4 KB", "sink +"+d2+", 1–4 KB", 15000)
	ratio("null sink, 1–4 KB: ≥ 2.5× innxmit's art/s", "null sink, 1–4 KB", "innxmit", rate, 2.5, true)
	ratio("… CPU per article ≤ 0.4× innxmit's", "null sink, 1–4 KB", "innxmit", cpu, 0.4, false)
	if l.large != nil {
		large := "null sink, " + thousands(l.large.lines) + " × 1–4 KB"
		n, ok1 := find(large, "nxmit")
		s, ok2 := find("null sink, 1–4 KB", "nxmit")
		if ok1 && ok2 && s.ArticlesPerSec > 0 {
			v := n.ArticlesPerSec / s.ArticlesPerSec
			row(thousands(l.large.lines)+" small articles to the null sink: rate within 10 % of the "+thousands(l.small.lines)+" case",
				fmt.Sprintf("%s art/s, ×%.2f", bench.Thousands(n.ArticlesPerSec, 0), v), v >= 0.9)
		}
		if ok1 {
			row("… peak RSS ≤ 40 MB", fmt.Sprintf("%.1f MB", n.RSSMB), n.RSSMB <= 40)
		}
	}
	ratio("null sink, mixed: ≥ 1.5× innxmit's MB/s", "null sink, mixed", "innxmit", mb, 1.5, true)
	ratio("… CPU per article ≤ 0.5× innxmit's", "null sink, mixed", "innxmit", cpu, 0.5, false)
	for _, sc := range []string{"real innd, 1–4 KB", "real innd, mixed"} {
		ratio(sc+": ≥ 1.2× innxmit", sc, "innxmit", rate, 1.2, true)
		ratio(sc+": ≥ 1.5× innfeed", sc, "innfeed", rate, 1.5, true)
	}
	if tr, ok := find("TLS sink, 1–4 KB", "nxmit"); ok {
		if pr, ok := find("null sink, 1–4 KB", "nxmit"); ok && pr.ArticlesPerSec > 0 {
			row("for reference: nxmit's articles/s over TLS / over plain TCP, sink, 1–4 KB", fmt.Sprintf("×%.2f", tr.ArticlesPerSec/pr.ArticlesPerSec), true)
		}
	}
	base := map[string]queueResult{}
	for _, q := range qt {
		if q.Baseline {
			base[q.What] = q
		}
	}
	for _, q := range qt {
		if q.Program != "nxmit send" {
			continue
		}
		if bq, ok := base[q.What]; ok {
			v := q.linesPerSec() / bq.linesPerSec()
			row(q.What+": ≥ 1.0× innxmit", fmt.Sprintf("×%.2f", v), v >= 1)
		}
		row(fmt.Sprintf("peak RSS of send ≤ 40 MB at %s lines", thousands(q.Lines)), fmt.Sprintf("%.1f MB", q.rssMB()), q.rssMB() <= 40 && q.Lines >= 1_000_000)
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

// peerMarkdown tells how busy the receiving innd was in the real-innd scenarios: near
// 100 % of the run, it, not the sender, sets the pace, and the senders' rates can only
// differ by how close they keep it to that.
func peerMarkdown(rows []bench.Row) string {
	var b strings.Builder
	for _, r := range rows {
		if r.PeerBusy == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n#### The receiving innd\n\nIts CPU time during each run (/proc), medians: at 100 % busy the receiver, not the sender, sets the rate.\n\n")
			b.WriteString("| scenario | sender | articles/s | innd CPU s / 1,000 articles | innd busy (CPU / wall) |\n|---|---|---:|---:|---:|\n")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.0f %% |\n", r.Scenario, r.Program, bench.Thousands(r.ArticlesPerSec, 0), r.PeerCPUPer1000, 100*r.PeerBusy)
	}
	return b.String()
}
