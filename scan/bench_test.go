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
	"time"

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
	history := filepath.Join(inst.PathDB, "history")

	// measure runs a shell command runs times and returns the median wall time, the
	// peak RSS GNU time reports (when the script writes it to rssFile) and the output's
	// line count of the last run. (The rusage of a child forked from this process would
	// include this process's memory.)
	rssFile := filepath.Join(t.TempDir(), "rss")
	measure := func(script string, runs int) (time.Duration, int64, int) {
		var times []time.Duration
		var rss int64
		var lines int
		for range runs {
			os.Remove(rssFile)
			cmd := exec.Command("sh", "-c", script)
			cmd.Env = inst.Env()
			var out bytes.Buffer
			cmd.Stdout = &out
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v: %s", script, err, stderr.Bytes())
			}
			times = append(times, time.Since(start))
			if b, err := os.ReadFile(rssFile); err == nil {
				var kib int64
				fmt.Sscan(string(b), &kib)
				rss = max(rss, kib)
			}
			lines = bytes.Count(out.Bytes(), []byte{'\n'})
		}
		slices.Sort(times)
		return times[len(times)/2], rss, lines
	}
	sm := filepath.Join(innlab.Binaries(), "sm")
	faq := fmt.Sprintf(`awk -F'\t' '$3 != "" {print $3}' %s | %s -H | grep -i '^message-id:'`, history, sm)
	nx := fmt.Sprintf("/usr/bin/time -f %%M -o %s %s --innconf %s scan", rssFile, bin, inst.InnConf)
	tf, _, nf := measure(faq, 5)
	tn, rn, nn := measure(nx, 5)
	t.Logf("%d-article history: FAQ pipeline %v (%d ids), nxmit scan %v (%d lines, peak RSS %d KiB): x%.1f",
		articles, tf.Round(time.Millisecond), nf, tn.Round(time.Millisecond), nn, rn, tf.Seconds()/tn.Seconds())

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
	info, _ := os.Stat(big)
	tb, rb, nb := measure(nx+" --history "+big, 3)
	t.Logf("%d-entry history (%d MB), every entry stored: %v, %.0f lines/s, %d written, peak RSS %d KiB",
		n, info.Size()>>20, tb.Round(time.Millisecond), float64(n)/tb.Seconds(), nb, rb)
	tp, rp, _ := measure(nx+" --history "+big+" --until 2000-01-01", 3)
	t.Logf("%d-entry history, all outside the time range (no spool reads): %v, %.0f lines/s, peak RSS %d KiB",
		n, tp.Round(time.Millisecond), float64(n)/tp.Seconds(), rp)
	tq, _, _ := measure(fmt.Sprintf(`awk -F'\t' '$3 != "" {print $3}' %s | %s -H | grep -i '^message-id:'`, big, sm), 3)
	t.Logf("%d-entry history, FAQ pipeline: %v: nxmit x%.1f", n, tq.Round(time.Millisecond), tq.Seconds()/tb.Seconds())
}
