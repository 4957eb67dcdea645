package bench

import (
	"context"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{math.NaN(), 5, 1}, 3},
	}
	for _, tt := range tests {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestSummarize(t *testing.T) {
	mk := func(prog string, round int, el time.Duration, cpu time.Duration, rss int64) Sample {
		return Sample{Scenario: "sink", Program: prog, Round: round, Articles: 1000, Bytes: 2e6,
			Elapsed: el, Wall: el, CPU: cpu, RSSKiB: rss}
	}
	samples := []Sample{
		mk("nxmit", 1, time.Second, 100*time.Millisecond, 10240),
		mk("innxmit", 1, 2*time.Second, 400*time.Millisecond, 4096),
		mk("nxmit", 2, 500*time.Millisecond, 100*time.Millisecond, 10240),
		mk("innxmit", 2, 4*time.Second, 400*time.Millisecond, 4096),
		mk("nxmit", 3, 2*time.Second, 300*time.Millisecond, 20480),
		mk("innxmit", 3, 2*time.Second, 200*time.Millisecond, 4096),
	}
	rows := Summarize(samples, "innxmit")
	if len(rows) != 2 || rows[0].Program != "nxmit" || rows[1].Program != "innxmit" {
		t.Fatalf("rows = %+v", rows)
	}
	n, in := rows[0], rows[1]
	if n.ArticlesPerSec != 1000 || in.ArticlesPerSec != 500 {
		t.Errorf("rates %v %v, want 1000 500", n.ArticlesPerSec, in.ArticlesPerSec)
	}
	if n.RatioRate != 2 || n.RatioCPU != 0.25 || math.Abs(n.RatioRSS-2.5) > 1e-9 || n.MBPerSec != 2 {
		t.Errorf("nxmit row %+v", n)
	}
	if !math.IsNaN(in.RatioRate) {
		t.Errorf("baseline has a ratio: %+v", in)
	}
	md := Markdown(rows)
	for _, want := range []string{"| sink | nxmit | 3 | 1,000 (×2.00) |", "| sink | innxmit | 3 | 500 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		v    float64
		prec int
		want string
	}{
		{0, 0, "0"}, {999, 0, "999"}, {1000, 0, "1,000"}, {1234567.891, 2, "1,234,567.89"}, {-12345, 0, "-12,345"},
	}
	for _, tt := range tests {
		if got := Thousands(tt.v, tt.prec); got != tt.want {
			t.Errorf("Thousands(%v, %d) = %q, want %q", tt.v, tt.prec, got, tt.want)
		}
	}
}

func TestMeasure(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := Measure(ctx, exec.Command(sh, "-c", "echo out; echo err >&2; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	if out.ExitCode != 3 || string(out.Stdout) != "out\n" || string(out.Stderr) != "err\n" {
		t.Errorf("got exit %d stdout %q stderr %q", out.ExitCode, out.Stdout, out.Stderr)
	}
	if out.MaxRSSKiB <= 0 || out.Wall <= 0 {
		t.Errorf("no usage: %+v", out.Usage)
	}
	if got := string(out.Combined()); got != "out\nerr\n" {
		t.Errorf("Combined = %q", got)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := Measure(ctx2, exec.Command(sh, "-c", "sleep 5")); err == nil {
		t.Error("a program killed by its context gave no error")
	}
}

// TestMeasureRSSIsTheChilds checks that a big parent does not lend its peak RSS to the
// child it measures (see TimeProgram).
func TestMeasureRSSIsTheChilds(t *testing.T) {
	if _, err := exec.LookPath(TimeProgram); err != nil {
		t.Skip("no GNU time: peak RSS of children is not exact here")
	}
	big := make([]byte, 200<<20)
	for i := range big {
		big[i] = 1
	}
	out, err := Measure(context.Background(), exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	if !out.RSSExact || out.MaxRSSKiB <= 0 || out.MaxRSSKiB > 50<<10 {
		t.Errorf("peak RSS of true: %d KiB (exact %v), want a few MiB", out.MaxRSSKiB, out.RSSExact)
	}
	if big[len(big)-1] != 1 {
		t.Fatal("unreachable")
	}
}
