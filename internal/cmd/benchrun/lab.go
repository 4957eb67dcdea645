package main

import (
	"bufio"
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"nxmit/internal/bench"
	"nxmit/internal/innlab"
)

// Scenario names, for -only. "queue" is the queue-tool measurements.
var allScenarios = []string{"sink-small", "sink-large", "sink-mixed", "tls-small", "delay-small", "delay-mixed", "delay2-small", "delay2-mixed",
	"innd-small", "innd-mixed", "window", "queue"}

// batchSet is one batch of the sender's feed-file lines, and what is in it.
type batchSet struct {
	name     string   // "mixed" or "small"
	label    string   // for the table
	path     string   // the lines, "@TOKEN@ <mid>\n"
	lines    int      // number of lines
	mids     []string // their message-ids, to check a receiver
	rawBytes int64    // native article bytes injected
	// wireBytes is what a sender reports sending (accsize), once one did: innfeed's
	// figures, which it logs only to syslog, are taken from it.
	wireBytes int64
}

type peerKind int

const (
	peerSink peerKind = iota
	peerDelay
	peerDelay2
	peerInnd
	peerTLS // the sink behind implicit TLS: nxmit only (innxmit has no TLS)
)

type scenario struct {
	name  string
	batch *batchSet
	peer  peerKind
	title string
}

// lab is the sending innd with its two batches and the sink peers.
type lab struct {
	c      *config
	work   string
	sender *innlab.Instance
	mixed  *batchSet
	small  *batchSet
	large  *batchSet // many small articles: the sender's rate and memory at scale
	sink   *sinkProc // answers at once
	delay  *sinkProc // answers each command c.delay after it arrived
	delay2 *sinkProc // ... c.delay2 after
	tls    *sinkProc // the sink over implicit TLS
	tlsCA  string    // the PEM file of the CA that signed its certificate
	// recvRoot holds the receiving innds: on tmpfs when there is one, so that the
	// real-innd scenarios measure the senders, not the receiver's disk.
	recvRoot string
	recvN    int // receivers started, for directory names
	news     owner
	// profiled is set by profiles(): the CPU profiles' top lines, for the report.
	profiled  []profileResult
	window    []windowRow // the "how the window adapts" runs
	loadStart string      // load average when the lab was set up
}

func newLab(ctx context.Context, c *config, work string) (*lab, error) {
	l := &lab{c: c, work: work, loadStart: loadAvg()}
	var err error
	if l.news, err = lookupNews(); err != nil {
		return nil, err
	}
	needMixed := c.articles > 0 && (c.want("sink-mixed") || c.want("delay-mixed") || c.want("innd-mixed"))
	needSmall := c.small > 0 && (c.want("sink-small") || c.want("tls-small") || c.want("delay-small") || c.want("innd-small"))
	needLarge := c.large > 0 && c.want("sink-large")
	needSpool := needMixed || needSmall || needLarge || (c.lines > 0 && c.want("queue"))

	if needSpool {
		logf("starting the sending innd")
		l.sender, err = innlab.Start(filepath.Join(work, "sender"), innlab.Options{Feeds: []string{innlab.PeerFeed}})
		if err != nil {
			return nil, err
		}
		if needMixed {
			l.mixed, err = l.makeBatch("mixed", fmt.Sprintf("%s mixed", thousands(c.articles)), c.articles, mixedArticles(c.seed, c.articles))
			if err != nil {
				l.close()
				return nil, err
			}
		}
		if needSmall {
			l.small, err = l.makeBatch("small", fmt.Sprintf("%s × 1–4 KB", thousands(c.small)), c.small, smallArticles(c.seed+1, c.small))
			if err != nil {
				l.close()
				return nil, err
			}
		}
		if needLarge {
			l.large, err = l.makeBatch("large", fmt.Sprintf("%s × 1–4 KB", thousands(c.large)), c.large, smallArticles(c.seed+2, c.large))
			if err != nil {
				l.close()
				return nil, err
			}
		}
		// Both programs read the spool directly; an idle innd would only add noise.
		if err := l.sender.Stop(); err != nil {
			l.close()
			return nil, err
		}
	}

	if c.want("sink-small") || c.want("sink-large") || c.want("sink-mixed") || (c.lines > 0 && c.want("queue")) || c.profile != "" {
		if l.sink, err = startSink(0); err != nil {
			l.close()
			return nil, err
		}
	}
	if c.want("tls-small") {
		if l.tls, l.tlsCA, err = startTLSSink(work); err != nil {
			l.close()
			return nil, err
		}
	}
	if c.want("delay-small") || c.want("delay-mixed") {
		if l.delay, err = startSink(c.delay); err != nil {
			l.close()
			return nil, err
		}
	}
	if c.want("delay2-small") || c.want("delay2-mixed") {
		if l.delay2, err = startSink(c.delay2); err != nil {
			l.close()
			return nil, err
		}
	}
	l.recvRoot = work
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "nxmit-bench-recv-"); err == nil && os.Chmod(dir, 0o755) == nil {
			l.recvRoot = dir
		}
	}
	return l, nil
}

func (l *lab) close() {
	if l.sink != nil {
		l.sink.stop()
	}
	if l.delay != nil {
		l.delay.stop()
	}
	if l.tls != nil {
		l.tls.stop()
	}
	if l.delay2 != nil {
		l.delay2.stop()
	}
	if l.recvRoot != "" && l.recvRoot != l.work {
		os.RemoveAll(l.recvRoot)
	}
	if l.sender != nil {
		l.sender.Stop()
	}
}

// mixedArticles is the mix: 70% 1-4 KB, 25% 10-100 KB, 5% 0.5-2 MB.
func mixedArticles(seed int64, n int) iter.Seq[innlab.Article] {
	return innlab.GenerateSeq(innlab.GenOptions{Count: n, Seed: seed, Mixed: true})
}

// smallArticles are the 1-4 KB articles of the same mix: the small-article comparison
// keeps the realistic spread of sizes rather than one fixed size.
func smallArticles(seed int64, n int) iter.Seq[innlab.Article] {
	// About 70% of the mix is small; draw enough and keep the first n.
	all := innlab.GenerateSeq(innlab.GenOptions{Count: n*2 + 100, Seed: seed, Mixed: true})
	return func(yield func(innlab.Article) bool) {
		got := 0
		for a := range all {
			if got == n {
				return
			}
			if len(a.Body) > 4500 {
				continue
			}
			got++
			if !yield(a) {
				return
			}
		}
	}
}

// makeBatch injects the articles into the sender and takes the feed file's lines as the
// batch. The feed file is then emptied so that the next batch's lines are its own.
func (l *lab) makeBatch(name, label string, n int, arts iter.Seq[innlab.Article]) (*batchSet, error) {
	b := &batchSet{name: name, label: label, path: filepath.Join(l.work, "batch-"+name)}
	var raw int64
	want := map[string]bool{}
	counted := func(yield func(innlab.Article) bool) {
		for a := range arts {
			raw += int64(len(a.Body))
			want[a.MessageID] = true
			if !yield(a) {
				return
			}
		}
	}
	logf("injecting %d articles (%s) into the sender", n, name)
	t0 := time.Now()
	if err := l.sender.InjectSeq(counted); err != nil {
		return nil, err
	}
	logf("  %d articles, %.1f MB in %.1fs", len(want), float64(raw)/1e6, time.Since(t0).Seconds())
	if len(want) != n {
		return nil, fmt.Errorf("%w: generated %d %s articles, want %d", errCheck, len(want), name, n)
	}
	lines, err := l.sender.FeedLines("peer")
	if err != nil {
		return nil, err
	}
	f, err := os.Create(b.path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	for _, line := range lines {
		fs := strings.Fields(line)
		if len(fs) != 2 || !want[fs[1]] {
			f.Close()
			return nil, fmt.Errorf("%w: unexpected feed line %q", errCheck, line)
		}
		delete(want, fs[1])
		b.mids = append(b.mids, fs[1])
		w.WriteString(line)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if len(want) > 0 {
		return nil, fmt.Errorf("%w: %d injected %s articles are not in the feed file", errCheck, len(want), name)
	}
	b.lines, b.rawBytes = len(b.mids), raw
	// Empty the feed file (innd reopens it on flush) so the next batch starts afresh.
	if err := os.Remove(filepath.Join(l.sender.Outgoing, "peer")); err != nil {
		return nil, err
	}
	if _, err := l.sender.Ctlinnd("flush", "peer"); err != nil {
		return nil, err
	}
	return b, nil
}

func (l *lab) scenarios() []scenario {
	var out []scenario
	add := func(name string, b *batchSet, p peerKind, title string) {
		if b != nil {
			out = append(out, scenario{name: name, batch: b, peer: p, title: title})
		}
	}
	d := l.c.delay.String()
	add("sink-small", l.small, peerSink, "null sink, 1–4 KB")
	if l.large != nil {
		add("sink-large", l.large, peerSink, "null sink, "+thousands(l.large.lines)+" × 1–4 KB")
	}
	add("sink-mixed", l.mixed, peerSink, "null sink, mixed")
	add("tls-small", l.small, peerTLS, "TLS sink, 1–4 KB")
	add("delay-small", l.small, peerDelay, "sink +"+d+", 1–4 KB")
	add("delay-mixed", l.mixed, peerDelay, "sink +"+d+", mixed")
	d2 := l.c.delay2.String()
	add("delay2-small", l.small, peerDelay2, "sink +"+d2+", 1–4 KB")
	add("delay2-mixed", l.mixed, peerDelay2, "sink +"+d2+", mixed")
	add("innd-small", l.small, peerInnd, "real innd, 1–4 KB")
	add("innd-mixed", l.mixed, peerInnd, "real innd, mixed")
	return out
}

// measure runs every program c.rounds times on the scenario, rotating their order.
func (l *lab) measure(ctx context.Context, sc scenario) ([]bench.Sample, error) {
	var samples []bench.Sample
	progs := l.c.programs
	for round := 1; round <= l.c.rounds; round++ {
		for k := range progs {
			prog := progs[(k+round-1)%len(progs)]
			if sc.peer == peerTLS && (prog == "innxmit" || prog == "innfeed") {
				continue // innxmit has no TLS: compare with the plain sink
			}
			if err := ctx.Err(); err != nil {
				return samples, err
			}
			if sc.batch == l.large && prog != "nxmit" {
				// The large batch checks nxmit at scale against its own 20,000-article
				// rate; the others would add minutes per round for no target.
				continue
			}
			if sc.peer == peerDelay2 && prog == "innxmit" {
				// innxmit's fixed window makes it about 4 times slower again than at
				// -delay: minutes per run, for a ratio the -delay rows already show.
				continue
			}
			s, err := l.runOnce(ctx, sc, prog, round)
			if err != nil {
				return samples, fmt.Errorf("round %d, %s: %w", round, prog, err)
			}
			logf("%-12s round %d %-9s %6d articles %8.1f MB in %6.2fs (wall %6.2fs): %8.0f art/s %6.1f MB/s, cpu %5.2fs, rss %5.1f MB",
				sc.name, round, prog, s.Articles, float64(s.Bytes)/1e6, s.Elapsed.Seconds(), s.Wall.Seconds(),
				s.ArticlesPerSec(), s.MBPerSec(), s.CPU.Seconds(), s.RSSMB())
			samples = append(samples, s)
		}
	}
	return samples, nil
}

// runOnce gives prog its own copy of the batch and sends it to the scenario's peer: a
// fresh innd for a real receiver, so that nothing is refused as a duplicate.
func (l *lab) runOnce(ctx context.Context, sc scenario, prog string, round int) (bench.Sample, error) {
	dir := filepath.Join(l.work, fmt.Sprintf("run-%s-%d-%s", sc.name, round, prog))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return bench.Sample{}, err
	}
	defer os.RemoveAll(dir)

	var port int
	var recv *innlab.Instance
	var sink *sinkProc
	switch sc.peer {
	case peerSink:
		sink = l.sink
	case peerDelay:
		sink = l.delay
	case peerTLS:
		sink = l.tls
	case peerDelay2:
		sink = l.delay2
	case peerInnd:
		l.recvN++
		var err error
		recv, err = innlab.Start(filepath.Join(l.recvRoot, fmt.Sprintf("recv%d", l.recvN)), innlab.Options{})
		if err != nil {
			return bench.Sample{}, err
		}
		defer func() {
			recv.Stop()
			os.RemoveAll(recv.Dir)
		}()
		port = recv.Port
	}
	sinkBefore := 0
	if sink != nil {
		port = sink.port
		sinkBefore = sink.accepted()
	}

	rctx, cancel := context.WithTimeout(ctx, l.c.runLimit)
	defer cancel()
	var s bench.Sample
	var err error
	var peer0 time.Duration
	if recv != nil {
		peer0 = procCPU(recv.Pid())
	}
	switch prog {
	case "innxmit":
		s, err = l.runInnxmit(rctx, sc.batch, port, dir)
	case "innfeed":
		s, err = l.runInnfeed(rctx, sc.batch, port, dir)
	default:
		var extra []string
		if sc.peer == peerTLS {
			extra = []string{"--tls", "--tls-ca", l.tlsCA}
		}
		s, err = l.runNxmit(rctx, prog, sc.batch, port, dir, extra...)
	}
	if err != nil {
		return s, err
	}
	s.Scenario, s.Program, s.Round = sc.title, prog, round
	if recv != nil {
		s.PeerCPU = procCPU(recv.Pid()) - peer0
	}
	if prog != "innfeed" && sc.batch.wireBytes == 0 {
		sc.batch.wireBytes = s.Bytes
	}
	if sink != nil {
		if got := sink.accepted() - sinkBefore; got != sc.batch.lines {
			return s, fmt.Errorf("%w: the sink accepted %d articles, want %d", errCheck, got, sc.batch.lines)
		}
	}
	if recv != nil {
		missing, err := recv.Missing(sc.batch.mids)
		if err != nil {
			return s, err
		}
		if len(missing) > 0 {
			return s, fmt.Errorf("%w: the receiver lacks %d of %d articles, e.g. %s", errCheck, len(missing), len(sc.batch.mids), missing[0])
		}
	}
	return s, nil
}

// procCPU returns the user + system time of process pid so far (/proc/PID/stat, in
// the kernel's fixed 100 ticks a second), 0 if it cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// After the name: state is field 3 of stat(5), utime 14 and stime 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}
