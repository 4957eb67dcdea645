package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"nxmit/internal/bench"
	"nxmit/spoolfmt"
)

// queueResult is one measurement of a queue tool over the big backlog.
type queueResult struct {
	What     string // e.g. "send, 1,000,000 missing articles"
	Program  string
	Lines    int
	Bytes    int64 // input bytes
	Wall     time.Duration
	CPU      time.Duration
	RSSKiB   int64
	Baseline bool // the row the ratios of the same What are taken against
}

func (q queueResult) linesPerSec() float64 { return float64(q.Lines) / q.Wall.Seconds() }
func (q queueResult) mbPerSec() float64    { return float64(q.Bytes) / 1e6 / q.Wall.Seconds() }
func (q queueResult) rssMB() float64       { return float64(q.RSSKiB) * 1024 / 1e6 }

// missingToken returns a syntactically valid timehash token for an article that does not
// exist: class 0x7f has no directory in the sender's spool.
func missingToken(i int) string {
	var t spoolfmt.Token
	t[0] = byte(spoolfmt.TimeHash)
	t[1] = 0x7f
	t[2], t[3], t[4], t[5] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	t[6], t[7] = byte(i>>40), byte(i>>32)
	return t.String()
}

// writeLines writes n "token <mid>" lines to path; every dupEvery-th line (0: none)
// repeats the line dupBack lines before it, so de-duplication has work to do.
func writeLines(path string, first, n, dupEvery int) (int64, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var size int64
	unique := 0
	for k := 0; k < n; k++ {
		i := first + k
		if dupEvery > 0 && k >= 100 && k%dupEvery == 0 {
			i -= 97
		} else {
			unique++
		}
		m, _ := fmt.Fprintf(w, "%s <bench%d.%x@lab.test>\n", missingToken(i), i, i*2654435761&0xffffff)
		size += int64(m)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, err
	}
	return size, unique, f.Close()
}

// queueTools measures, over a backlog of c.lines lines: send's peak RSS (the articles are
// missing, so it is the cost of the lines alone), filter's de-duplication against
// sort -u, and requeue collecting deferral files into a backlog.
// Each tool is measured even when another failed; the errors are joined.
func (l *lab) queueTools(ctx context.Context) ([]queueResult, error) {
	dir := filepath.Join(l.work, "queue")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []queueResult
	var errs []error
	for _, f := range []func(context.Context, string) ([]queueResult, error){l.queueSend, l.queueFilter, l.queueRequeue} {
		r, err := f(ctx, dir)
		out = append(out, r...)
		if err != nil {
			logf("queue: %v", err)
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out, errors.Join(errs...)
}

// queueSend measures nxmit send, then innxmit, over lines whose articles are missing.
func (l *lab) queueSend(ctx context.Context, dir string) ([]queueResult, error) {
	n := l.c.lines
	var out []queueResult
	what := fmt.Sprintf("send %s lines (articles missing) to the sink", thousands(n))

	// send: nxmit, then innxmit on the same lines.
	src := filepath.Join(dir, "lines")
	size, _, err := writeLines(src, 1, n, 0)
	if err != nil {
		return nil, err
	}
	outgoing := filepath.Join(dir, "outgoing")
	if err := os.MkdirAll(outgoing, 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(src, filepath.Join(outgoing, fmt.Sprintf("peer.B.%08x", time.Now().Unix())), nil); err != nil {
		return nil, err
	}
	if err := giveTree(outgoing, l.news); err != nil {
		return nil, err
	}
	logf("queue: nxmit send over %d lines", n)
	args := []string{"-v", "--outgoing", outgoing, "send", "peer", "--host", "127.0.0.1", "--port", strconv.Itoa(l.sink.port)}
	cmd := exec.Command(l.c.nxmit, args...)
	cmd.Env = l.senderEnv()
	o, err := l.measureTool(ctx, cmd)
	if err != nil {
		return out, err
	}
	st, err := bench.ParseXmitStats(o.Stderr)
	if err != nil || o.ExitCode != 0 || st.Missing != int64(n) {
		return out, fmt.Errorf("%w: nxmit send over missing articles: exit %d, stats %+v, %v:\n%s", errCheck, o.ExitCode, st, err, clip(o.Combined()))
	}
	out = append(out, queueResult{What: what, Program: "nxmit send", Lines: n, Bytes: size, Wall: o.Wall, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB})
	if l.c.profile != "" {
		pout := filepath.Join(dir, "profile-outgoing")
		if err := os.MkdirAll(pout, 0o755); err != nil {
			return out, err
		}
		if err := copyFile(src, filepath.Join(pout, fmt.Sprintf("peer.B.%08x", time.Now().Unix())), nil); err != nil {
			return out, err
		}
		self, err := os.Executable()
		if err != nil {
			return out, err
		}
		cpu := filepath.Join(l.c.profile, "queue-send.cpu.pprof")
		cmd := exec.Command(self, profileSendCmd, "-innconf", l.sender.InnConf, "-outgoing", pout,
			"-addr", "127.0.0.1:"+strconv.Itoa(l.sink.port), "-cpuprofile", cpu,
			"-heapprofile", filepath.Join(l.c.profile, "queue-send.heap.pprof"))
		if err := l.profileCommand(ctx, "nxmit's send pass over "+thousands(n)+" lines of missing articles", cmd, cpu); err != nil {
			logf("profile: %v", err)
		}
	}

	if contains(l.c.programs, "innxmit") {
		idir := filepath.Join(dir, "innxmit")
		if err := os.MkdirAll(idir, 0o755); err != nil {
			return out, err
		}
		if err := os.Chown(idir, l.news.uid, l.news.gid); err != nil {
			return out, err
		}
		batch := filepath.Join(idir, "batch")
		if err := copyFile(src, batch, &l.news); err != nil {
			return out, err
		}
		logf("queue: innxmit over %d lines", n)
		o, err := l.measureTool(ctx, l.sender.Command("innxmit", "-v", "-P", strconv.Itoa(l.sink.port), "127.0.0.1", batch))
		if err != nil {
			return out, err
		}
		st, err := bench.ParseXmitStats(o.Stdout)
		if err != nil || st.Missing != int64(n) {
			return out, fmt.Errorf("%w: innxmit over missing articles: exit %d, stats %+v, %v:\n%s", errCheck, o.ExitCode, st, err, clip(o.Combined()))
		}
		out = append(out, queueResult{What: what, Program: "innxmit", Lines: n, Bytes: size, Wall: o.Wall - innxmitExitSleep, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB, Baseline: true})
	}
	return out, nil
}

// queueFilter measures nxmit filter's de-duplication against sort -u, over lines of
// which 5% repeat an earlier one.
func (l *lab) queueFilter(ctx context.Context, dir string) ([]queueResult, error) {
	n := l.c.lines
	var out []queueResult
	dups := filepath.Join(dir, "dups")
	size, unique, err := writeLines(dups, 1, n, 20)
	if err != nil {
		return out, err
	}
	what := fmt.Sprintf("de-duplicate %s lines (5%% repeated)", thousands(n))
	logf("queue: nxmit filter over %d lines", n)
	o, got, err := l.measureFiltered(ctx, exec.Command(l.c.nxmit, filterArgs()...), dups)
	if err != nil {
		return out, err
	}
	if o.ExitCode != 0 || got != unique {
		return out, fmt.Errorf("%w: nxmit filter: exit %d, %d lines out, want %d:\n%s", errCheck, o.ExitCode, got, unique, clip(o.Stderr))
	}
	out = append(out, queueResult{What: what, Program: "nxmit " + strings.Join(filterArgs(), " "), Lines: n, Bytes: size, Wall: o.Wall, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB})
	if l.c.profile != "" {
		self, err := os.Executable()
		if err != nil {
			return out, err
		}
		cpu := filepath.Join(l.c.profile, "filter.cpu.pprof")
		cmd := exec.Command(self, profileFilterCmd, "-cpuprofile", cpu, "-heapprofile", filepath.Join(l.c.profile, "filter.heap.pprof"))
		in, err := os.Open(dups)
		if err != nil {
			return out, err
		}
		cmd.Stdin = in
		err = l.profileCommand(ctx, "nxmit filter --dedupe over "+thousands(n)+" lines", cmd, cpu)
		in.Close()
		if err != nil {
			logf("profile: %v", err)
		}
	}
	logf("queue: sort -u over %d lines", n)
	sortCmd := exec.Command("sort", "-u")
	sortCmd.Env = append(os.Environ(), "LC_ALL=C")
	o, got, err = l.measureFiltered(ctx, sortCmd, dups)
	if err != nil {
		return out, err
	}
	if o.ExitCode != 0 || got != unique {
		return out, fmt.Errorf("%w: sort -u: exit %d, %d lines, want %d", errCheck, o.ExitCode, got, unique)
	}
	out = append(out, queueResult{What: what, Program: "LC_ALL=C sort -u", Lines: n, Bytes: size, Wall: o.Wall, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB, Baseline: true})
	return out, nil
}

// queueRequeue measures nxmit requeue collecting the lines, spread over 10 deferral files
// of a day ago (5% repeated within each), into one backlog.
func (l *lab) queueRequeue(ctx context.Context, dir string) ([]queueResult, error) {
	n := l.c.lines
	var out []queueResult
	qdir := filepath.Join(dir, "requeue")
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return out, err
	}
	var total int64
	files := 10
	start := time.Now().Add(-24 * time.Hour).Unix()
	uniq := 0
	for k := 0; k < files; k++ {
		per := n / files
		if k == files-1 {
			per = n - per*(files-1)
		}
		s, u, err := writeLines(filepath.Join(qdir, fmt.Sprintf("peer.D.%08x", start+int64(k))), 1+k*(n/files), per, 20)
		if err != nil {
			return out, err
		}
		total += s
		uniq += u
	}
	if err := giveTree(qdir, l.news); err != nil {
		return out, err
	}
	logf("queue: nxmit requeue over %d lines in %d files", n, files)
	rq := exec.Command(l.c.nxmit, append([]string{"--outgoing", qdir}, requeueArgs()...)...)
	rq.Env = l.senderEnv()
	o, err := l.measureTool(ctx, rq)
	if err != nil {
		return out, err
	}
	if o.ExitCode != 0 {
		return out, fmt.Errorf("%w: nxmit requeue: exit %d:\n%s", errCheck, o.ExitCode, clip(o.Combined()))
	}
	got, err := countBacklogLines(qdir)
	if err != nil {
		return out, err
	}
	if got != uniq {
		return out, fmt.Errorf("%w: nxmit requeue wrote %d lines, want %d", errCheck, got, uniq)
	}
	out = append(out, queueResult{What: fmt.Sprintf("requeue %s lines in %d S.D files", thousands(n), files), Program: "nxmit " + strings.Join(requeueArgs(), " "),
		Lines: n, Bytes: total, Wall: o.Wall, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB})
	return out, nil
}

// filterArgs de-duplicate standard input to standard output.
func filterArgs() []string { return []string{"filter", "--dedupe"} }

// requeueArgs collect every deferral file, whatever its age.
func requeueArgs() []string { return []string{"requeue", "peer", "--retry-delay", "0s"} }

// countBacklogLines counts the non-blank lines of the site's S.B.* files in dir.
func countBacklogLines(dir string) (int, error) {
	names, err := filepath.Glob(filepath.Join(dir, "peer.B.*"))
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("%w: no backlog in %s", errCheck, dir)
	}
	n := 0
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) != "" {
				n++
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (l *lab) measureTool(ctx context.Context, cmd *exec.Cmd) (bench.Output, error) {
	rctx, cancel := context.WithTimeout(ctx, l.c.runLimit)
	defer cancel()
	return bench.Measure(rctx, cmd)
}

// measureFiltered runs cmd with the file on its standard input and its standard output
// to /dev/null, as "cmd < input > /dev/null" in a shell, then runs it again, unmeasured,
// to count the lines it writes.
func (l *lab) measureFiltered(ctx context.Context, cmd *exec.Cmd, input string) (bench.Output, int, error) {
	in, err := os.Open(input)
	if err != nil {
		return bench.Output{}, 0, err
	}
	defer in.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return bench.Output{}, 0, err
	}
	defer null.Close()
	again := exec.Command(cmd.Path, cmd.Args[1:]...)
	again.Env = cmd.Env
	cmd.Stdin, cmd.Stdout = in, null
	o, err := l.measureTool(ctx, cmd)
	if err != nil {
		return o, 0, err
	}
	in2, err := os.Open(input)
	if err != nil {
		return o, 0, err
	}
	defer in2.Close()
	var lc lineCounter
	again.Stdin, again.Stdout = in2, &lc
	if err := again.Run(); err != nil {
		return o, 0, fmt.Errorf("%s again: %w", cmd.Path, err)
	}
	return o, int(lc), nil
}

// lineCounter counts the newlines written to it.
type lineCounter int

func (c *lineCounter) Write(p []byte) (int, error) {
	*c += lineCounter(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}
