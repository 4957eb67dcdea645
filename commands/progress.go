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

// siteLines shows a run's progress on a terminal, one line per site, redrawn in place
// every interval: what the site is doing, and while it sends a percentage, the count
// and the rate. Messages go above the lines. On anything but a terminal it is nil,
// and its methods do nothing.
type siteLines struct {
	mu     sync.Mutex
	out    io.Writer
	order  []string
	lines  map[string]*siteLine
	drawn  int // lines on the screen from the last draw
	width  int // of the site names
	stop   chan struct{}
	closed chan struct{}
}

type siteLine struct {
	step        string // "waiting", "rotating", "sending", "done: ...", ...
	done, total int64
	start       time.Time
}

const siteLinesInterval = 200 * time.Millisecond

// newSiteLines returns the display of sites, or nil when stderr is not a terminal.
func newSiteLines(sites []string) *siteLines {
	if !terminalCheck() {
		return nil
	}
	s := &siteLines{out: progressOut, order: sites, lines: map[string]*siteLine{}, stop: make(chan struct{}), closed: make(chan struct{})}
	for _, site := range sites {
		s.lines[site] = &siteLine{step: "waiting"}
		s.width = max(s.width, len(site))
	}
	s.mu.Lock()
	s.draw()
	s.mu.Unlock()
	go func() {
		defer close(s.closed)
		t := time.NewTicker(siteLinesInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.draw()
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// step says what site is doing now.
func (s *siteLines) step(site, step string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines[site].step = step
}

// sending starts site's count towards an estimated total of articles.
func (s *siteLines) sending(site string, total int64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lines[site]
	l.step, l.total, l.done, l.start = "sending", total, 0, time.Now()
}

// add counts n articles of site done; xmit calls it from its connections.
func (s *siteLines) add(site string, n int64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines[site].done += n
}

// println prints msg above the lines.
func (s *siteLines) println(msg string) {
	if s == nil {
		fmt.Fprintln(os.Stderr, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erase()
	fmt.Fprintln(s.out, msg)
	s.draw()
}

// close draws the lines a last time and leaves them on the screen.
func (s *siteLines) close() {
	if s == nil {
		return
	}
	close(s.stop)
	<-s.closed
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draw()
}

// erase moves the cursor back to the first line drawn and clears to the end of the
// screen.
func (s *siteLines) erase() {
	if s.drawn > 0 {
		fmt.Fprintf(s.out, "\x1b[%dA\r\x1b[J", s.drawn)
		s.drawn = 0
	}
}

func (s *siteLines) draw() {
	s.erase()
	var b []byte
	for _, site := range s.order {
		b = fmt.Appendf(b, "%-*s  %s\x1b[K\n", s.width, site, s.lines[site].text())
	}
	s.out.Write(b)
	s.drawn = len(s.order)
}

// text is the line's state: "sending  45% (135/300, 98 art/s)".
func (l *siteLine) text() string {
	if l.step != "sending" {
		return l.step
	}
	total := max(l.total, l.done) // the total is an estimate
	pct := int64(0)
	if total > 0 {
		pct = min(99, l.done*100/total)
	}
	rate := 0.0
	if d := time.Since(l.start).Seconds(); d > 0 {
		rate = float64(l.done) / d
	}
	return fmt.Sprintf("sending %3d%% (%d/%d, %.0f art/s)", pct, l.done, total, rate)
}
