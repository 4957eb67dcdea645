package commands

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"nxmit/batch"
)

// progress shows long interactive work as a progress bar with rate and ETA on stderr,
// only when stderr is a terminal: cron and scripts see nothing.
type progress struct {
	bar *progressbar.ProgressBar // nil: not shown

	mu      sync.Mutex
	done    int64
	start   time.Time
	predict bool // the ETA is shown (see etaAfter)
}

// etaAfter is how long a bar runs before it shows an ETA: the first replies of a
// pipelined connection come in a burst, and a rate taken over less than a few seconds
// promised minutes one moment and seconds the next. After that, progressbar's rate is
// a rolling average over the last five seconds.
const etaAfter = 3 * time.Second

// progressOut is where bars are drawn; terminalCheck decides whether to draw them.
// Tests replace both.
var (
	progressOut   io.Writer = os.Stderr
	terminalCheck           = func() bool { return term.IsTerminal(int(os.Stderr.Fd())) }
)

// newProgress returns the progress of sending q's backlogs, counted in articles; the
// total is estimated from the backlogs' sizes and a sample of their lines.
func newProgress(g *Globals, what string, q batch.Queue) *progress {
	if !terminalCheck() {
		return &progress{}
	}
	files, err := q.Backlogs()
	if err != nil || len(files) == 0 {
		return &progress{}
	}
	var total int64
	for _, f := range files {
		total += batch.EstimateFile(f).Pending
	}
	return newCountProgress(what, total, "art")
}

// newCountProgress returns a bar counting to total items named unit (total <= 0:
// unknown, a spinner), or a silent one when stderr is not a terminal.
func newCountProgress(what string, total int64, unit string) *progress {
	if !terminalCheck() {
		return &progress{}
	}
	if total <= 0 {
		total = -1
	}
	return &progress{start: time.Now(), bar: progressbar.NewOptions64(total, barOptions(what,
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
	)...)}
}

// newByteProgress returns a bar counting bytes (merge, filter over files).
func newByteProgress(what string, total int64) *progress {
	if !terminalCheck() {
		return &progress{}
	}
	if total <= 0 {
		total = -1
	}
	return &progress{start: time.Now(), bar: progressbar.NewOptions64(total, barOptions(what, progressbar.OptionShowBytes(true))...)}
}

func barOptions(what string, extra ...progressbar.Option) []progressbar.Option {
	return append([]progressbar.Option{
		progressbar.OptionSetWriter(progressOut),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionSetPredictTime(false), // until etaAfter
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(progressOut) }),
	}, extra...)
}

// add counts n more items done. It is safe to call from several goroutines.
func (p *progress) add(n int64) {
	if p == nil || p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if !p.predict && p.bar.GetMax64() > 0 && time.Since(p.start) >= etaAfter {
		// Options are functions of the bar; a bar with a known total has no goroutine
		// of its own, and every call on it is under p.mu.
		progressbar.OptionSetPredictTime(true)(p.bar)
		p.predict = true
	}
	// The total is an estimate: never let the bar finish early.
	if m := p.bar.GetMax64(); m > 0 && p.done >= m {
		p.bar.ChangeMax64(p.done + p.done/20 + 1)
	}
	p.bar.Add64(n)
}

// warn prints a warning line above the bar (or plainly when there is none).
func (p *progress) warn(msg string) {
	if p == nil || p.bar == nil {
		fmt.Fprintln(os.Stderr, msg)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	progressbar.Bprintln(p.bar, msg)
}

// finish completes the bar at what was actually done, or clears it when nothing was.
// When the work stopped before the end (Ctrl-C, --max-time, an error), stopped is
// set: the bar stays as it is, showing where it stopped, instead of jumping to 100%.
func (p *progress) finish(stopped bool) {
	if p == nil || p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == 0 {
		p.bar.Clear()
		p.bar = nil
		return
	}
	if stopped {
		p.bar.RenderBlank() // the count as of now, not as of the last throttled render
		p.bar.Exit()        // and a newline: the shell's prompt goes below it
		p.bar = nil
		return
	}
	if p.bar.GetMax64() > 0 {
		p.bar.ChangeMax64(p.done)
		p.bar.Set64(p.done)
	}
	p.bar.Finish()
	p.bar = nil
}
