// Command benchrun measures nxmit against INN's innxmit, side by side, on one machine.
//
// It starts one sandboxed sending innd (internal/innlab), injects a batch of mixed-size
// articles and a batch of 1–4 KB articles once, takes the sender's feed file lines as the
// batches, and then, round after round, gives each program its own copy of the same batch
// and sends it to a fresh receiving innd, to a null sink peer, and to the same sink answering
// every command 50 ms after it arrived. The order of the programs rotates from round to
// round. Every run is checked: all articles accepted, the batch consumed, and for a real
// receiver, every message-id in its history. Then it measures the queue tools over a
// 1,000,000-line backlog (send's peak RSS, filter against sort -u, requeue).
//
// The sink peers are nntptest servers in this process, counting only.
//
// Run it through scripts/bench, which builds nxmit first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"nxmit/internal/bench"
	"nxmit/internal/innlab"
)

type config struct {
	nxmit    string
	articles int
	small    int
	large    int
	rounds   int
	delay    time.Duration
	delay2   time.Duration
	lines    int
	seed     int64
	only     map[string]bool
	programs []string
	work     string
	keep     bool
	doc      string
	profile  string
	runLimit time.Duration
	quick    bool
	command  string
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == profileSendCmd || os.Args[1] == profileFilterCmd) {
		f := profileSendMain
		if os.Args[1] == profileFilterCmd {
			f = profileFilterMain
		}
		if err := f(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "benchrun %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		return
	}
	var c config
	var only, progs string
	flag.StringVar(&c.nxmit, "nxmit", "", "nxmit binary to measure (scripts/bench builds it)")
	flag.IntVar(&c.articles, "articles", 20000, "articles in the mixed batch (70% 1-4 KB, 25% 10-100 KB, 5% 0.5-2 MB)")
	flag.IntVar(&c.small, "small", 20000, "articles in the batch of 1-4 KB articles (0: none)")
	flag.IntVar(&c.large, "large", 1_000_000, "articles in the large batch of 1-4 KB articles, sent by nxmit to the null sink (sink-large: rate and memory at scale; 0: none)")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds; each program runs once per round and scenario (runs vary by up to 2x on a shared VM: take 5 or more)")
	flag.DurationVar(&c.delay, "delay", 50*time.Millisecond, "reply delay of the simulated long-distance peer")
	flag.DurationVar(&c.delay2, "delay2", 200*time.Millisecond, "reply delay of the simulated intercontinental peer")
	flag.IntVar(&c.lines, "lines", 1_000_000, "lines of the backlog for the queue-tool measurements (0: skip them)")
	flag.Int64Var(&c.seed, "seed", 20260101, "seed of the generated articles")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (default all): "+strings.Join(allScenarios, ","))
	flag.StringVar(&progs, "programs", "nxmit,nxmit-c1,innxmit,innfeed", "programs to compare: nxmit (defaults: 4 connections, adaptive window up to nntp.DefaultWindow), nxmit-c1 (1 connection), innxmit, innfeed (batch mode -x, 4 connections, max-queue-size = that window), or nxmit:FLAGS (send flags, e.g. 'nxmit:-c 1 -w 512')")
	flag.StringVar(&c.work, "work", "", "scratch directory (default: a new one under /tmp, removed at the end)")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch directory")
	flag.StringVar(&c.doc, "doc", "", "Markdown file whose generated block gets the results (e.g. docs/BENCHMARKS.md)")
	flag.StringVar(&c.profile, "profile", "", "directory for CPU and heap profiles of an in-process send per sink scenario (empty: none)")
	flag.DurationVar(&c.runLimit, "run-timeout", 15*time.Minute, "limit for any one measured run")
	flag.BoolVar(&c.quick, "quick", false, "smoke test: 2,000 articles per batch, 1 round, 100,000 backlog lines")
	flag.StringVar(&c.command, "command", "", "the command line to print as the way to reproduce (default: this one)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchrun: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if c.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["articles"] {
			c.articles = 2000
		}
		if !set["small"] {
			c.small = 2000
		}
		if !set["large"] {
			c.large = 20000
		}
		if !set["rounds"] {
			c.rounds = 1
		}
		if !set["lines"] {
			c.lines = 100_000
		}
	}
	if only != "" {
		c.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			s = strings.TrimSpace(s)
			if !contains(allScenarios, s) {
				fmt.Fprintf(os.Stderr, "benchrun: unknown scenario %q (have %s)\n", s, strings.Join(allScenarios, ","))
				os.Exit(2)
			}
			c.only[s] = true
		}
	}
	for _, p := range strings.Split(progs, ",") {
		p = strings.TrimSpace(p)
		if !validProgram(p) {
			fmt.Fprintf(os.Stderr, "benchrun: unknown program %q (have %s)\n", p, strings.Join(allPrograms, ","))
			os.Exit(2)
		}
		c.programs = append(c.programs, p)
	}
	if c.command == "" {
		c.command = strings.Join(os.Args, " ")
	}
	if c.nxmit == "" {
		fmt.Fprintln(os.Stderr, "benchrun: -nxmit is required (scripts/bench builds it)")
		os.Exit(2)
	}
	if c.rounds < 1 || c.articles < 0 || c.small < 0 || c.large < 0 || c.lines < 0 {
		fmt.Fprintln(os.Stderr, "benchrun: -rounds must be at least 1 and counts not negative")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &c); err != nil {
		fmt.Fprintf(os.Stderr, "benchrun: %v\n", err)
		os.Exit(1)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *config) want(scenario string) bool { return c.only == nil || c.only[scenario] }

func run(ctx context.Context, c *config) error {
	abs, err := filepath.Abs(c.nxmit)
	if err != nil {
		return err
	}
	c.nxmit = abs
	if err := innlab.Ensure(); err != nil {
		return err
	}
	work := c.work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("/tmp", "nxmit-bench-"); err != nil {
			return err
		}
		if !c.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	// innd and innxmit run as news: every directory on the way must be traversable.
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	logf("scratch directory %s", work)
	if c.profile != "" {
		if err := os.MkdirAll(c.profile, 0o755); err != nil {
			return err
		}
	}

	lab, err := newLab(ctx, c, work)
	if err != nil {
		return err
	}
	defer lab.close()

	var samples []bench.Sample
	for _, sc := range lab.scenarios() {
		if !c.want(sc.name) {
			continue
		}
		ss, err := lab.measure(ctx, sc)
		samples = append(samples, ss...)
		if err != nil {
			lab.report(samples, nil)
			return fmt.Errorf("scenario %s: %w", sc.name, err)
		}
	}

	if c.want("window") && ctx.Err() == nil {
		rows, err := lab.windowTable(ctx)
		lab.window = rows
		if err != nil {
			lab.report(samples, nil)
			return err
		}
	}

	var qt []queueResult
	var qerr error
	if c.lines > 0 && c.want("queue") {
		if qt, qerr = lab.queueTools(ctx); qerr != nil {
			qerr = fmt.Errorf("queue tools: %w", qerr)
		}
	}
	if c.profile != "" && ctx.Err() == nil {
		if err := lab.profiles(ctx); err != nil {
			logf("profiles: %v", err)
		}
	}
	if err := lab.report(samples, qt); err != nil {
		return err
	}
	return qerr
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s benchrun: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// errCheck marks a run whose result was wrong (articles lost, batch not consumed): the
// benchmark fails rather than report a number for it.
var errCheck = errors.New("check failed")
