package scan

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"nxmit/internal/innlab"
)

// TestScanBenchmark measures nxmit scan against the INN FAQ's pipeline (history → sm -H →
// grep) on the same real spool, and scan's rate and peak memory over a 1,000,000-entry
// history. It runs only with NXMIT_SCAN_BENCH=1 (about three minutes); docs/BENCHMARKS.md has
// its results.
func TestScanBenchmark(t *testing.T) {
	if os.Getenv("NXMIT_SCAN_BENCH") != "1" {
		t.Skip("set NXMIT_SCAN_BENCH=1 to run the scan benchmark")
	}
	const articles = 20000
	inst := innlab.StartT(t, innlab.Options{})
	if err := inst.InjectSeq(innlab.GenerateSeq(innlab.GenOptions{Count: articles, Seed: 1717, Size: 1500})); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Ctlinnd("flush", ""); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "nxmit")
	if out, err := exec.Command("go", "build", "-o", bin, "nxmit").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}

	// run runs a command under GNU time and returns its wall and CPU (user + system)
	// seconds, its peak RSS in KiB (of the largest process) and its output's lines.
	// (The rusage of a child forked from this test would include the test's memory.)
	timeFile := filepath.Join(t.TempDir(), "time")
	run := func(args ...string) (wall, cpu float64, rss int64, lines int) {
		cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%e %U %S %M", "-o", timeFile}, args...)...)
		cmd.Env = inst.Env()
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, stderr.Bytes())
		}
		b, err := os.ReadFile(timeFile)
		if err != nil {
			t.Fatal(err)
		}
		var user, sys float64
		fmt.Sscan(string(b), &wall, &user, &sys, &rss)
		return wall, user + sys, rss, bytes.Count(out.Bytes(), []byte{'\n'})
	}
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	// compare runs the FAQ pipeline and nxmit scan alternately (the machine's load
	// drifts) and logs the medians of wall and CPU time and their ratios.
	sm := filepath.Join(innlab.Binaries(), "sm")
	compare := func(what, hist string, runs int) {
		faq := fmt.Sprintf(`awk -F'\t' '$3 != "" {print $3}' %s | %s -H | grep -i '^message-id:'`, hist, sm)
		var fw, fc, nw, nc, wr, cr []float64
		var rss int64
		var fl, nl int
		for range runs {
			w1, c1, _, l1 := run("sh", "-c", faq)
			w2, c2, r2, l2 := run(bin, "--innconf", inst.InnConf, "scan", "--history", hist)
			fw, fc, nw, nc = append(fw, w1), append(fc, c1), append(nw, w2), append(nc, c2)
			wr, cr = append(wr, w1/w2), append(cr, c1/c2)
			rss, fl, nl = max(rss, r2), l1, l2
		}
		t.Logf("%s: FAQ pipeline wall %.2fs CPU %.2fs (%d ids); nxmit scan wall %.2fs CPU %.2fs (%d lines, %.0f lines/s, peak RSS %d KiB); ratio FAQ/nxmit wall x%.2f, CPU x%.2f",
			what, median(fw), median(fc), fl, median(nw), median(nc), nl, float64(nl)/median(nw), rss, median(wr), median(cr))
	}
	history := filepath.Join(inst.PathDB, "history")
	compare(fmt.Sprintf("%d-entry history", articles), history, 7)

	// A history of 1,000,000 entries: the real lines, each 50 times.
	big := filepath.Join(t.TempDir(), "history")
	data, err := os.ReadFile(history)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for n < 1_000_000 {
		w.Write(data)
		n += bytes.Count(data, []byte{'\n'})
	}
	w.Flush()
	f.Close()
	compare(fmt.Sprintf("%d-entry history", n), big, 3)
	var pw []float64
	var prss int64
	for range 3 {
		w, _, r, _ := run(bin, "--innconf", inst.InnConf, "scan", "--history", big, "--until", "2000-01-01")
		pw, prss = append(pw, w), max(prss, r)
	}
	t.Logf("%d-entry history, none in the time range (no spool reads): wall %.2fs, %.0f lines/s, peak RSS %d KiB", n, median(pw), float64(n)/median(pw), prss)
}
