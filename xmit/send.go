// Package xmit is nxmit's send pass: it feeds the lines of a site's backlogs to a peer
// over several NNTP connections and records every answer in the queue files, so that a
// crash at any moment leaves each article either delivered or still queued.
package xmit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"nxmit/audit"
	"nxmit/batch"
	"nxmit/linefilter"
	"nxmit/nntp"
	"nxmit/spoolfmt"
)

// Options configure one send pass.
type Options struct {
	Queue batch.Queue     // the site's queue files
	Store *spoolfmt.Store // where tokens and article paths are read
	Addr  string          // the peer, host:port
	// Addrs, when set, are several hosts of the peer (host:port), tried in order when
	// one refuses connections or greets with 400; Addr is then not used.
	Addrs []string

	Dial     nntp.Config
	User     string // AUTHINFO USER; empty: no authentication
	Password string
	// HostCredentials, when set, are the AUTHINFO credentials of each address of
	// Addrs that has its own (passwd.nntp has a line per host); an address not in it
	// uses User and Password.
	HostCredentials map[string]Credentials

	Connections int // parallel connections (default 4)
	// MaxConnections is the most connections the pass grows to while the backlog is
	// deep and the peer keeps up (see conns.go); at or below Connections, the default,
	// the pass keeps Connections throughout.
	MaxConnections int
	// Slots, when set, are shared with other sites' passes (nxmit run's
	// max-connections): a connection beyond Connections needs one, taken without
	// waiting and given back when it closes. The caller holds Connections already.
	Slots    *ConnSlots
	Stream   nntp.StreamConfig // window, CHECK mode, grace after a stop
	NoStream bool              // never try MODE STREAM: IHAVE only

	MaxTime     time.Duration // stop offering after this long (0: no limit)
	MaxArticles int64         // stop after taking this many lines (0: no limit)

	// MaxDeferRun stops the pass once this many answers in a row were deferrals
	// (default 1000; negative: never), as from a paused innd; the rest stays queued.
	MaxDeferRun int

	// Reconnects bounds the reconnections of each connection after a failure
	// (default 3); the delay before each starts at Backoff (default 1 s) and doubles.
	Reconnects int
	Backoff    time.Duration

	// Warn receives problems worth an administrator's attention (malformed lines with
	// file:line, read errors, connection failures). It may be called concurrently.
	Warn func(msg string)
	// Progress, when set, is told how many lines reached a final answer, in batches.
	Progress func(done int64)
	// LogRejected, when set, is told of every rejected article (innxmit -l).
	LogRejected func(l batch.Line, r nntp.Reply)
	// Shape, when set, is the site's feed shaping (hashfeed, delay, max-crosspost,
	// max-hops, max-size), decided for each line before it is offered: an excluded
	// article is finished as Filtered; one younger than the delay stops the reading of
	// its backlog, whose rest stays queued for a later pass (counted in Held).
	Shape *linefilter.Filter
	// Command names the holder in the send lock ("nxmit send SITE").
	Command string

	// ArticleLog, when set, gets one entry per final answer and per deferral, written a
	// batch of answers at a time, before the lines are blanked (a crash may log a line
	// twice, never not at all). Its failures are warned about and do not stop the pass.
	ArticleLog *audit.Log
	// Finished, when set, is called with the pass's statistics and error while the send
	// lock is still held (to record the site's running totals without a race).
	Finished func(Stats, error)

	// files, when set, are sent instead of the queue's backlogs, and defers, when set,
	// receives the deferrals instead of S.defer; with both set and noLock, Send touches no
	// other file of the queue (InnxmitBatch works on one given batch file).
	files  []batch.File
	defers DeferSink
	noLock bool
}

// DeferSink receives the lines of articles to retry later. Append must put the line where
// it survives the process (at least into the kernel) before it returns: the line is
// blanked in its backlog right after.
type DeferSink interface {
	Append(l batch.Line) error
	Sync() error
}

func (o *Options) warnf(format string, args ...any) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf(format, args...))
	}
}

// UnreachableError means no connection to the peer could be made; the queue is untouched.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: connect failed: %v", e.Addr, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Temporary reports true unless the peer refused us for good (502).
func (e *UnreachableError) Temporary() bool {
	var te *nntp.TLSError
	if errors.As(e.Err, &te) {
		return te.Temporary() // a certificate that does not verify needs an administrator
	}
	var ne *nntp.Error
	if errors.As(e.Err, &ne) {
		return ne.Reply.Code != 502
	}
	return true
}

// IncompleteError means the pass ended with lines still queued because connections failed
// and could not be re-established; the next run goes on from there.
type IncompleteError struct {
	Addr       string
	Unanswered int64 // offers in flight when the last connection gave up
	Err        error // the last connection failure
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("%s: gave up after repeated connection failures, %d offers unanswered; the rest stays queued: %v",
		e.Addr, e.Unanswered, e.Err)
}
func (e *IncompleteError) Unwrap() error { return e.Err }

// DeferringError means the peer deferred every article for a long run of answers (innd
// paused, or short of space) and the pass stopped offering; the rest stays queued.
type DeferringError struct {
	Addr string
	Run  int // consecutive deferrals seen
}

func (e *DeferringError) Error() string {
	return fmt.Sprintf("%s: peer deferred %d articles in a row (paused?); stopping, the rest stays queued", e.Addr, e.Run)
}

// RefusingError means the peer answered nothing but 5xx to the first offers of a
// connection (read-only, or not configured to take our articles): the pass stopped and
// every article stays queued. It is not temporary: a person must act.
type RefusingError struct {
	Addr string
	Err  *nntp.RefusingError
}

func (e *RefusingError) Error() string {
	return fmt.Sprintf("%s: peer answers %q to %s and nothing else, as to its first %d offers: not configured to take our articles? stopping, everything stays queued",
		e.Addr, e.Err.Reply.String(), e.Err.Verb, nntp.RefuseRun)
}
func (e *RefusingError) Unwrap() error { return e.Err }

// Temporary reports false: the peer needs its configuration fixed.
func (e *RefusingError) Temporary() bool { return false }

// AuthError means the peer wants credentials that were not given (480) or refuses the
// ones given (481, 482 or 502 to AUTHINFO). Only an administrator can fix that, so the
// pass stops at once, without reconnecting, and the error is not temporary: cron must not
// retry it quietly every few minutes.
type AuthError struct {
	Addr string
	User string // the AUTHINFO user tried; "" when none was configured
	Err  error  // the peer's reply, an *nntp.Error
}

func (e *AuthError) Error() string {
	if e.User == "" {
		return fmt.Sprintf("%s: the peer requires authentication and no credentials are configured: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("%s: the peer refused the credentials of user %s: %v", e.Addr, e.User, e.Err)
}
func (e *AuthError) Unwrap() error { return e.Err }

// Temporary reports false: the same credentials fail the same way next time.
func (e *AuthError) Temporary() bool { return false }

// isAuthFailure reports whether err is the peer asking for credentials (480 to any
// command) or refusing them (481, 482, 502 to AUTHINFO).
func isAuthFailure(err error) bool {
	var ne *nntp.Error
	if !errors.As(err, &ne) {
		return false
	}
	switch c := ne.Reply.Code; {
	case c == 480:
		return true
	case strings.HasPrefix(ne.Op, "AUTHINFO"):
		return c == 481 || c == 482 || c == 502
	}
	return false
}

// Temporary reports true: a later pass will find the peer working again.
func (e *DeferringError) Temporary() bool  { return true }
func (e *IncompleteError) Temporary() bool { return true }

// DefaultConnections is the number of parallel connections to a peer when none is
// configured (config.Builtin quotes it).
const DefaultConnections = 4

// Send runs one pass over the site's backlogs. It holds the site's send lock throughout;
// when another process holds it, it returns the *batch.LockedError at once. Statistics are
// returned also when err is not nil.
func Send(ctx context.Context, opt Options) (st Stats, err error) {
	if opt.Connections <= 0 {
		opt.Connections = DefaultConnections
	}
	if opt.MaxDeferRun == 0 {
		opt.MaxDeferRun = 1000
	}
	if opt.Reconnects == 0 {
		opt.Reconnects = 3
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.Command == "" {
		opt.Command = "nxmit send " + opt.Queue.Site
	}
	if !opt.noLock {
		lock, err := opt.Queue.Lock(batch.SendLock, opt.Command)
		if err != nil {
			return Stats{}, err
		}
		defer lock.Unlock()
	}
	if opt.Finished != nil {
		defer func() { opt.Finished(st, err) }() // before Unlock: deferred calls run last first
	}

	files := opt.files
	if files == nil {
		var err error
		if files, err = opt.Queue.Backlogs(); err != nil {
			return Stats{}, err
		}
	}
	defers := opt.defers
	closeDefers := func() error { return nil }
	if defers == nil {
		// Opening the deferral log also closes a stale S.defer left by a crashed pass, so
		// it happens even when there is nothing to send.
		dl, err := opt.Queue.OpenDeferLog()
		if err != nil {
			return Stats{}, err
		}
		defers, closeDefers = dl, dl.Close
	}
	if len(files) == 0 {
		return Stats{}, closeDefers()
	}

	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	stopCtx := ctx // SIGINT, SIGTERM: the pass did not finish
	if opt.MaxTime > 0 {
		// A bounded pass is a normal pass: its end is told apart by its cause.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opt.MaxTime, ErrTimeLimit)
		defer cancel()
	}

	f := newFeeder(&opt, files, defers)
	s := &sender{opt: &opt, feeder: f}
	stopSync := f.syncEvery(time.Second)
	err = s.run(ctx)
	stopSync()

	if cerr := f.close(); cerr != nil && err == nil {
		err = cerr
	}
	if derr := closeDefers(); derr != nil && err == nil {
		err = derr
	}
	st = f.stats
	st.Offered = s.offered
	st.Connections = s.connections
	st.NoCheck = s.nocheck
	st.Host = s.host
	st.MaxWindow = s.maxWindow
	st.PeakConnections = s.peak
	st.Elapsed = time.Since(start)
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	st.User = time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano())
	st.System = time.Duration(ru1.Stime.Nano() - ru0.Stime.Nano())
	if err == nil && f.fatal != nil {
		err = f.fatal
	}
	if err == nil && f.halted != nil {
		err = f.halted
	}
	if err == nil && stopCtx.Err() != nil && !errors.Is(context.Cause(stopCtx), ErrTimeLimit) && st.Queued > 0 {
		err = &InterruptedError{Addr: opt.Addr, Queued: st.Queued, Cause: context.Cause(stopCtx)}
	}
	return st, err
}

// ErrTimeLimit is the cause of a context ended by a time bound (Options.MaxTime, or a
// caller's own bound such as run's --run-time, set with context.WithTimeoutCause): the
// pass then ends as a bounded pass, without an InterruptedError.
var ErrTimeLimit = errors.New("time limit reached")

// InterruptedError means the pass was stopped (SIGINT, SIGTERM: the caller's context)
// before it finished: offering stopped, the answers in flight were awaited briefly, and
// Queued lines stay queued. It is temporary: the next pass goes on from there.
type InterruptedError struct {
	Addr   string
	Queued int64
	Cause  error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%s: interrupted (%v); %d lines still queued", e.Addr, e.Cause, e.Queued)
}
func (e *InterruptedError) Unwrap() error { return e.Cause }

// Temporary reports true: the pass did not finish, and the next one goes on.
func (e *InterruptedError) Temporary() bool { return true }

// sender runs the connections of one pass.
type sender struct {
	opt    *Options
	feeder *feeder

	mu          sync.Mutex
	offered     int64
	connections int
	nocheck     int
	maxWindow   int
	lastErr     error
	host        string // the host connected to last
	hostIndex   int    // ... its index in opt.addrs()
	hostWarned  map[string]bool
	authErr     error // the peer wants other credentials: no reconnecting

	// The connections at work, for the supervisor (conns.go).
	conns      []*connState
	nextID     int           // the last connection number given
	running    int           // connection goroutines not ended
	started    bool          // running was above 0 once
	idle       chan struct{} // closed when running drops to 0
	open, peak int           // connections established now, and the most at once
	failures   atomic.Int64  // connection failures so far
	throttled  atomic.Bool   // a 400 came since the supervisor last looked
}

// authError wraps the peer's reply (not the steps around it) as an *AuthError.
func (s *sender) authError(err error) *AuthError {
	var ne *nntp.Error
	if errors.As(err, &ne) {
		err = ne
	}
	addr := s.peer() // the host that answered: credentials are per host
	return &AuthError{Addr: addr, User: s.opt.credentials(addr).User, Err: err}
}

// authFailed records an authentication failure and reports whether err was one.
func (s *sender) authFailed(err error) bool {
	if !isAuthFailure(err) {
		return false
	}
	s.mu.Lock()
	if s.authErr == nil {
		s.authErr = err
	}
	s.mu.Unlock()
	return true
}

func (s *sender) run(ctx context.Context) error {
	// Dial every connection at once; if none gets through the peer is unreachable and
	// nothing has been touched.
	clients := make([]*nntp.Client, s.opt.Connections)
	errs := make([]error, s.opt.Connections)
	var wg sync.WaitGroup
	s.opt.warnInsecure()
	from := 0
	if s.opt.resumable() {
		// The first handshake alone: the others resume its session (and go to the host
		// it found).
		if clients[0], errs[0] = s.dial(ctx); clients[0] == nil {
			return &UnreachableError{Addr: s.peer(), Err: errs[0]}
		}
		from = 1
	}
	for i := range clients[from:] {
		i += from
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], errs[i] = s.dial(ctx)
		}()
	}
	wg.Wait()
	up := 0
	for _, c := range clients {
		if c != nil {
			up++
		}
	}
	if up == 0 {
		for _, err := range errs {
			if isAuthFailure(err) {
				return s.authError(err)
			}
		}
		return &UnreachableError{Addr: s.peer(), Err: errs[0]}
	}
	for i, c := range clients {
		if c == nil {
			s.opt.warnf("%s: connection %d: %v (going on with %d)", s.peer(), i+1, errs[i], up)
		}
	}
	s.idle = make(chan struct{})
	s.nextID = len(clients)
	for i, c := range clients {
		if c == nil {
			continue // a failed first dial is not retried: the others carry the load
		}
		st := &connState{id: i + 1}
		s.track(st)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.untrack(st)
			s.connection(ctx, st, c, s.opt.Stream.Start)
		}()
	}
	if s.growing() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.supervise(ctx, &wg)
		}()
	}
	wg.Wait()
	if s.authErr != nil {
		return s.authError(s.authErr)
	}
	if ctx.Err() == nil && s.feeder.workLeft() {
		s.mu.Lock()
		err := s.lastErr
		s.mu.Unlock()
		f := s.feeder
		f.mu.Lock()
		queued := int64(len(f.pending))
		f.mu.Unlock()
		return &IncompleteError{Addr: s.peer(), Unanswered: queued, Err: err}
	}
	return nil
}

func (s *sender) dial(ctx context.Context) (*nntp.Client, error) {
	c, addr, err := s.dialAny(ctx)
	if err != nil {
		return nil, err
	}
	if cred := s.opt.credentials(addr); cred.User != "" {
		if err := c.Authenticate(cred.User, cred.Password); err != nil {
			c.Close()
			return nil, fmt.Errorf("authenticate as %s: %w", cred.User, err)
		}
	}
	s.mu.Lock()
	s.connections++
	s.open++
	s.peak = max(s.peak, s.open)
	s.mu.Unlock()
	return c, nil
}

// connection feeds on one connection, starting from the given window, until the work is
// done, the pass is stopped, the supervisor retired it, or it failed more often in a row
// than Reconnects allows. A connection the supervisor added is not reconnected.
func (s *sender) connection(ctx context.Context, st *connState, c *nntp.Client, start int) {
	id := st.id
	failures := 0
	delay := s.opt.Backoff
	for {
		fs, err := s.feed(ctx, st, c, start)
		if fs.Window > 0 {
			// After a failure (400, a timeout) the next connection starts from half
			// the window this one had reached.
			start = max(fs.Window/2, 1)
		}
		if fs.Answered() > 0 && !isTimeout(err) {
			// Some peers end every connection after so many articles ("400 too many
			// articles"). A connection that settled articles before it failed is
			// progress, not a broken peer: the count of failures in a row starts
			// again, and the pass goes on as long as each connection moves articles.
			// A stall is not forgiven: each one costs a whole reply timeout.
			failures, delay = 0, s.opt.Backoff
		}
		var refusing *nntp.RefusingError
		if s.authFailed(err) {
			return // reconnecting would be refused the same way
		}
		if err == nil || ctx.Err() != nil || !s.feeder.workLeft() {
			// A refusing peer is reported once, by Send's error.
			if err != nil && ctx.Err() == nil && !errors.As(err, &refusing) {
				s.opt.warnf("%s: connection %d: %v", s.peer(), id, err)
			}
			return
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		s.troubled(err)
		s.opt.warnf("%s: connection %d: %v", s.peer(), id, err)
		if st.extra || st.retire.Load() {
			st.retire.Store(true) // its offers went back Unsent: the others take them
			return
		}
		st.reset()
		for c = nil; c == nil; {
			failures++
			if failures > s.opt.Reconnects {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay *= 2
			var derr error
			if c, derr = s.dial(ctx); s.authFailed(derr) {
				return
			} else if derr != nil {
				s.mu.Lock()
				s.lastErr = derr
				s.mu.Unlock()
				s.opt.warnf("%s: connection %d: reconnect: %v", s.peer(), id, derr)
			}
		}
	}
}

// feed runs the feeding engine on c, connection st, starting from the given window, and
// closes it. It returns the connection's figures; their Window is 0 for IHAVE.
func (s *sender) feed(ctx context.Context, st *connState, c *nntp.Client, start int) (nntp.FeedStats, error) {
	defer func() {
		c.Close()
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
	}()
	streaming := false
	if !s.opt.NoStream {
		ok, err := c.ModeStream()
		if err != nil {
			return nntp.FeedStats{}, err
		}
		streaming = ok
	}
	var fs nntp.FeedStats
	var err error
	if streaming {
		cfg := s.opt.Stream
		cfg.Start = start
		if s.growing() {
			cfg.Sampled = st.sampled
		}
		fs, err = c.Stream(ctx, connFeeder{s.feeder, st}, cfg)
	} else {
		fs, err = c.IHave(ctx, connFeeder{s.feeder, st})
	}
	s.mu.Lock()
	s.offered += fs.Offered
	s.nocheck += fs.NoCheckEntered
	s.maxWindow = max(s.maxWindow, fs.MaxWindow)
	s.mu.Unlock()
	if err == nil {
		c.Quit()
	}
	return fs, err
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// isTimeout reports whether err is a deadline expiring: a peer that stopped answering.
func isTimeout(err error) bool {
	var ce *nntp.ConnError
	return errors.As(err, &ce) && ce.Timeout()
}
