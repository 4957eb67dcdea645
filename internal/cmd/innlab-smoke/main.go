// Command innlab-smoke starts a sandboxed innd with the peer feed, injects
// generated articles into it and reports how long each step took. It is a
// manual check of package innlab and a way to measure injection speed.
//
//	go run ./internal/cmd/innlab-smoke -n 20000 -mixed
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"nxmit/internal/innlab"
)

func main() {
	var (
		n        = flag.Int("n", 1000, "articles to inject")
		seed     = flag.Int64("seed", 1, "generator seed")
		mixed    = flag.Bool("mixed", false, "mixed sizes (70% 1-4KB, 25% 10-100KB, 5% 0.5-2MB)")
		size     = flag.Int("size", 0, "article size when not -mixed (default 2KB)")
		specials = flag.Bool("specials", false, "add special articles")
		method   = flag.String("method", "timehash", "storage method: timehash, tradspool, cnfs, timecaf")
		overview = flag.Bool("overview", false, "write overview")
		keep     = flag.Bool("keep", false, "keep innd running until interrupted")
		detach   = flag.Bool("detach", false, "exit leaving innd running and its directory in place (stop it with ctlinnd shutdown)")
		dir      = flag.String("dir", "", "instance directory (default: a new one under /tmp)")
	)
	flag.Parse()
	if err := run(*n, *seed, *mixed, *size, *specials, innlab.Method(*method), *overview, *keep, *detach, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "innlab-smoke:", err)
		os.Exit(1)
	}
}

func run(n int, seed int64, mixed bool, size int, specials bool, method innlab.Method, overview, keep, detach bool, dir string) error {
	if err := innlab.Ensure(); err != nil {
		return err
	}
	if dir == "" {
		d, err := innlab.TempDir()
		if err != nil {
			return err
		}
		dir = d
	}
	t0 := time.Now()
	inst, err := innlab.Start(dir, innlab.Options{Method: method, Overview: overview, Feeds: []string{innlab.PeerFeed}, Detach: detach})
	if err != nil {
		return err
	}
	fmt.Printf("started %s (%s, %s) in %v\n", inst.Addr, method, dir, time.Since(t0).Round(time.Millisecond))
	defer func() {
		if detach {
			fmt.Printf("left running: INNCONF=%s /usr/lib/news/bin/ctlinnd shutdown x; rm -r %s\n", inst.InnConf, dir)
			return
		}
		if keep {
			fmt.Printf("running: INNCONF=%s; interrupt to stop\n", inst.InnConf)
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			<-sig
		}
		t := time.Now()
		if err := inst.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		fmt.Printf("stopped in %v\n", time.Since(t).Round(time.Millisecond))
		os.RemoveAll(dir)
	}()

	opt := innlab.GenOptions{Count: n, Seed: seed, Mixed: mixed, Size: size, Specials: specials}
	var bytes int64
	counted := func(yield func(innlab.Article) bool) {
		for a := range innlab.GenerateSeq(opt) {
			bytes += int64(len(a.Body))
			if !yield(a) {
				return
			}
		}
	}
	t1 := time.Now()
	if err := inst.InjectSeq(counted); err != nil {
		return err
	}
	el := time.Since(t1)
	fmt.Printf("injected %d articles (%.1f MB) in %v: %.0f articles/s, %.1f MB/s\n",
		n, float64(bytes)/1e6, el.Round(time.Millisecond), float64(n)/el.Seconds(), float64(bytes)/1e6/el.Seconds())
	if cpu, err := inndCPU(inst); err == nil {
		fmt.Printf("innd CPU so far: %v\n", cpu)
	}
	t2 := time.Now()
	lines, err := inst.FeedLines("peer")
	if err != nil {
		return err
	}
	fmt.Printf("feed file: %d lines (flush+read %v)\n", len(lines), time.Since(t2).Round(time.Millisecond))
	if len(lines) != n {
		return fmt.Errorf("feed file %s has %d lines, want %d", filepath.Join(inst.Outgoing, "peer"), len(lines), n)
	}
	return nil
}

// inndCPU returns the CPU time innd has used (user + system).
func inndCPU(inst *innlab.Instance) (time.Duration, error) {
	pid, err := os.ReadFile(filepath.Join(inst.PathRun, "innd.pid"))
	if err != nil {
		return 0, err
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesized command name; utime and stime are the
	// 14th and 15th fields of the whole line, in clock ticks (100 Hz).
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	return time.Duration(u+k) * 10 * time.Millisecond, nil
}
