package nntp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

const (
	// pullBatch bounds the offers taken per NextOffers call: large enough that a call's
	// cost is spread over many articles, small enough that a stop leaves few taken.
	pullBatch = 32
	// doneBatch bounds the results handed to Done at once, and the replies the reader
	// answers between two looks at the shared state.
	doneBatch = 64

	// innfeed's no-CHECK hysteresis (innfeed.conf no-check-filter, no-check-high,
	// no-check-low defaults).
	noCheckFilter = 50.0
	noCheckOn     = 95.0 * noCheckFilter / 100
	noCheckOff    = 90.0 * noCheckFilter / 100
)

type cmdKind uint8

const (
	cmdCheck cmdKind = iota
	cmdTakethis
)

// A sent command whose reply is due.
type sentCmd struct {
	offer Offer
	kind  cmdKind
	size  int           // article bytes, for TAKETHIS
	at    time.Duration // when its batch was written (streamer clock), for the round trip
	// answered is how many commands had been answered then: the replies between it
	// and this one's are the rate the window of that moment gave.
	answered uint64
}

// streamer runs one Stream call. The calling goroutine writes: it pulls offers, fetches
// articles and writes commands. One reader goroutine reads the replies, matches each to
// the oldest command due, and finishes offers. They meet under mu once per batch (a
// flush of the writer, up to doneBatch replies of the reader), never once per article.
//
// Each offer taken from the Feeder is in exactly one place until Done gets it: the
// writer's current batch, the ring of commands sent ([head, wtail)), the reader's
// unpublished answers, or wanted (238 seen, TAKETHIS not yet written). inflight counts
// them all, which bounds the ring: window slots are enough.
type streamer struct {
	c      *Client
	f      Feeder
	window int // the cap: ring slots
	mode   CheckMode
	grace  time.Duration
	ring   []sentCmd // command i is at ring[i%window]
	base   time.Time // the streamer clock's zero

	sampled func(StreamSample) // StreamConfig.Sampled

	mu       sync.Mutex
	rcond    sync.Cond // the reader waits for commands to answer, or the end
	wcond    sync.Cond // the writer waits for free slots, wanted articles, or the end
	tail     uint64    // commands published to the reader
	head     uint64    // commands answered, as published by the reader
	inflight int       // offers taken and not final
	limit    int       // the window: inflight allowed, set by the reader's windowCtl
	limited  bool      // the writer waited for a free slot since the last sample
	wanted   []Offer   // answered 238, TAKETHIS not yet written
	noCheck  bool      // TAKETHIS without CHECK, as decided by the reader
	err      error     // the first failure; the connection is then closed
	stopping bool      // ctx is done: no new offers, drain
	finished bool      // the writer has nothing more: the reader may leave
	over     bool      // Stream has returned: a late stop must not touch the connection

	// Writer only.
	wtail                     uint64
	now                       time.Duration // when the batch being written began
	headSeen                  uint64        // s.head when the writer last looked
	wres                      []Result
	offered, checks, takethis int64
	ff                        FileFeeder      // f, when it hands over articles as files and raw is set
	raw                       syscall.RawConn // the socket, when articles may be sent from files
	unanswered                int64           // offers counted in offered whose article got no final answer

	// Reader only, read by Stream after the reader is gone: held 5xx answers given
	// back Unsent (their offers are counted in offered).
	heldUnsent int64

	// Reader only; Stream reads them after the reader is gone.
	filter                float64
	noCheckIn, noCheckOut int
	win                   windowCtl // sample runs under mu

	doneMu sync.Mutex
	stats  FeedStats // outcome counts, under doneMu
}

// Stream feeds articles with pipelined CHECK and TAKETHIS (RFC 4644) until NextOffers
// returns nothing and every reply is in, or ctx is done. The caller should have
// checked ModeStream first: a peer that refuses streaming answers 500 to everything, and
// the connection fails with a *RefusingError.
//
// Up to cfg.Window commands are in flight. Replies must come in command order; each
// settles the one article it answers by ReplyTable (Settle): CHECK 238 leads to TAKETHIS
// with the article, 431 is Deferred (never re-CHECKed at once), 438 Refused; TAKETHIS
// 239 is Accepted, 439 Rejected, 431 and 436 Deferred; a 5xx Refuses a CHECK and Rejects
// a TAKETHIS; a code in no row is Deferred and marked Unexpected. A reply naming another
// message-id fails the connection with a *ProtocolError. An article that is missing when
// its turn comes is reported Missing and nothing is sent for it.
//
// 5xx answers are held back until the connection has had another answer: when the
// first RefuseRun answers are all 5xx, the peer refuses everything (read-only, or not
// configured for us), and the connection fails with a *RefusingError, those offers
// Unsent. Held answers of a stream that ends before any other answer are Deferred.
//
// In Adaptive mode the connection keeps innfeed's filter f (F=50): each 239 sets
// f = f*(1-1/F) + 1, each 431, 438 and 439 sets f = f*(1-1/F). Above 95% of F the
// connection sends TAKETHIS without CHECK, and below 90% it checks again.
//
// Every offer taken from the Feeder reaches Done exactly once. When the connection
// fails (a ConnectionCodes reply such as 400 from a throttled peer, a protocol error,
// EOF, a timeout), the offers without a final answer are Unsent, the connection is closed
// and the error returned; it is temporary for 400 and connection failures. When
// ctx is done, Stream takes no new offers, waits up to cfg.Grace for the replies due,
// and returns an error wrapping ctx's cause; the client is still usable if all replies
// arrived, and closed otherwise. The statistics are returned in every case.
func (c *Client) Stream(ctx context.Context, f Feeder, cfg StreamConfig) (FeedStats, error) {
	if c.broken != nil {
		return FeedStats{}, c.broken
	}
	if err := context.Cause(ctx); err != nil {
		return FeedStats{}, fmt.Errorf("nntp: stream stopped: %w", err)
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	s := &streamer{
		c:       c,
		f:       f,
		window:  cfg.Window,
		mode:    cfg.Mode,
		grace:   cfg.Grace,
		ring:    make([]sentCmd, cfg.Window),
		base:    time.Now(),
		noCheck: cfg.Mode == NeverCheck,
		wanted:  make([]Offer, 0, pullBatch),
		win:     newWindowCtl(&cfg, c.rtt),
		sampled: cfg.Sampled,
	}
	if ff, ok := f.(FileFeeder); ok {
		if s.raw = c.rawTCP(); s.raw != nil {
			s.ff = ff
		}
	}
	s.limit = s.win.cur
	s.rcond.L = &s.mu
	s.wcond.L = &s.mu

	unhook := context.AfterFunc(ctx, s.stop)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.read()
	}()

	drained := s.write(ctx)
	unhook()

	s.mu.Lock()
	s.finished = true
	s.over = true
	s.rcond.Broadcast()
	s.mu.Unlock()
	<-readerDone

	// Only this goroutine is left: whatever has no final answer is Unsent.
	err, stopping := s.err, s.stopping
	for i := s.head; i < s.wtail; i++ {
		s.wres = append(s.wres, Result{Offer: s.ring[i%uint64(s.window)].offer, Outcome: Unsent, Err: err})
	}
	s.unsent(s.wanted, err)
	s.flushResults()
	// Each article in the ring or wanted was counted once in offered (its CHECK, or its
	// TAKETHIS without one); an offer never answered for good is no offer for
	// innreport's %Acc.
	s.unanswered += int64(s.wtail-s.head) + int64(len(s.wanted)) + s.heldUnsent

	st := s.stats
	st.Offered, st.Checks, st.Takethis = s.offered-s.unanswered, s.checks, s.takethis
	st.NoCheckEntered, st.NoCheckExited = s.noCheckIn, s.noCheckOut
	st.Window, st.MaxWindow = s.win.cur, s.win.peak
	switch {
	case stopping && err != nil:
		c.fail(err)
		return st, fmt.Errorf("nntp: stream stopped with %d replies missing after %v (%v): %w",
			st.Unsent, s.grace, err, context.Cause(ctx))
	case err != nil:
		return st, c.fail(err)
	case stopping:
		c.dc.clearLimit()
		if !drained {
			return st, fmt.Errorf("nntp: stream stopped: %w", context.Cause(ctx))
		}
	}
	return st, nil
}

// stop is called once ctx is done: take no new offers, and give the replies due until
// the grace period ends, after which every read and write fails.
func (s *streamer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.over {
		return
	}
	s.stopping = true
	s.c.dc.interrupt(time.Now().Add(s.grace))
	s.wcond.Broadcast()
}

// write is the writer's loop. It returns when the work is done and answered (true),
// when the stop has drained, or when the connection failed.
func (s *streamer) write(ctx context.Context) bool {
	pulled := make([]Offer, 0, pullBatch)
	wants := make([]Offer, 0, pullBatch)
	eof := false
	for {
		s.mu.Lock()
		for s.err == nil && len(s.wanted) == 0 {
			if s.stopping || eof {
				if s.inflight == 0 {
					break
				}
			} else if s.inflight < s.limit {
				break
			} else {
				s.limited = true
			}
			// About to wait for replies: everything written must be on its way.
			if s.wtail != s.tail || s.c.bw.Buffered() > 0 {
				s.mu.Unlock()
				s.flush()
				s.mu.Lock()
				continue
			}
			s.wcond.Wait()
		}
		if s.err != nil {
			s.mu.Unlock()
			return false
		}
		wants, s.wanted = s.wanted, wants[:0]
		s.headSeen = s.head
		stopping, free, noCheck := s.stopping, s.limit-s.inflight, s.noCheck
		s.mu.Unlock()

		switch {
		case len(wants) > 0 && stopping:
			// The peer reserved these for a while; leaving them is harmless and keeps
			// the stop short.
			s.unsent(wants, context.Cause(ctx))
			s.unanswered += int64(len(wants))
			s.finish(len(wants))
		case len(wants) > 0:
			if !s.send(wants, sendAnswered) {
				return false
			}
		case eof:
			return true // nothing in flight
		case stopping:
			return false // nothing in flight
		case ctx.Err() != nil:
			s.stop()
		default:
			n := min(free, pullBatch)
			pulled = s.f.NextOffers(pulled[:0], n)
			if len(pulled) == 0 {
				eof = true
				continue
			}
			if len(pulled) > n {
				// The Feeder broke its contract; taking the extra offers could
				// overflow the ring, and dropping them would lose them.
				s.unsent(pulled[n:], fmt.Errorf("nntp: Feeder.NextOffers returned %d offers, asked for %d", len(pulled), n))
				pulled = pulled[:n]
			}
			s.mu.Lock()
			s.inflight += len(pulled)
			s.mu.Unlock()
			how := sendCheck
			if noCheck {
				how = sendNoCheck
			}
			if !s.send(pulled, how) {
				return false
			}
		}
	}
}

// How send offers a batch.
type sendKind uint8

const (
	sendCheck    sendKind = iota // CHECK
	sendNoCheck                  // TAKETHIS without CHECK: counts as offered
	sendAnswered                 // TAKETHIS after 238: the CHECK was the offer
)

// send writes a batch of commands, then flushes. It reports false if the connection
// failed; the offers not yet written are then Unsent.
func (s *streamer) send(offers []Offer, how sendKind) bool {
	finished := 0
	s.now = s.clock()
	for i := range offers {
		o := &offers[i]
		var err error
		if how != sendCheck {
			var art []byte
			var res *Result
			if s.ff != nil {
				var sent bool
				var err error
				sent, art, res, err = s.sendArticleFile(o, how)
				if res != nil {
					s.wres = append(s.wres, *res)
					finished++
					continue
				}
				if err != nil {
					s.fail(err)
					s.unsent(offers[i+1:], err)
					return false
				}
				if sent {
					continue
				}
			}
			if art != nil {
				res = s.c.keepArticle(o, art, nil)
			} else {
				art, res = s.c.article(s.f, o)
			}
			if res != nil {
				s.wres = append(s.wres, *res)
				finished++
				continue
			}
			s.push(sentCmd{offer: *o, kind: cmdTakethis, size: len(art)})
			if how == sendNoCheck {
				s.offered++
			}
			s.takethis++
			err = s.writeCmd("TAKETHIS ", o.MessageID, art)
		} else {
			if !validMessageID(o.MessageID) {
				s.wres = append(s.wres, Result{Offer: *o, Outcome: Missing, Err: fmt.Errorf("%w: %q", ErrBadMessageID, o.MessageID)})
				finished++
				continue
			}
			s.push(sentCmd{offer: *o, kind: cmdCheck})
			s.offered++
			s.checks++
			err = s.writeCmd("CHECK ", o.MessageID, nil)
		}
		if err != nil {
			err = &ConnError{Op: "send", Err: err}
			s.fail(err)
			s.unsent(offers[i+1:], err)
			return false
		}
	}
	s.finish(finished)
	ok := s.flush()
	s.flushResults()
	return ok
}

// sendArticleFile sends o's TAKETHIS with the article from its file when the Feeder
// has it as one: the command is buffered, the buffer flushed, and the article sent
// with sendfile. sent false: the Feeder has no file for it, use Article. A result: o is
// finished without a TAKETHIS. An error: the connection failed, o is in the ring and
// ends Unsent with the others.
func (s *streamer) sendArticleFile(o *Offer, how sendKind) (sent bool, art []byte, res *Result, err error) {
	if !validMessageID(o.MessageID) {
		return false, nil, nil, nil // Article's path reports it
	}
	r, art, ok, ferr := s.ff.ArticleFile(o, SendfileMin, s.c.abuf[:0])
	if ferr != nil {
		out := Failed
		if errors.Is(ferr, ErrNoArticle) {
			out = Missing
		}
		return false, nil, &Result{Offer: *o, Outcome: out, Err: ferr}, nil
	}
	if !ok {
		return false, art, nil, nil
	}
	s.push(sentCmd{offer: *o, kind: cmdTakethis, size: int(r.Size)})
	if how == sendNoCheck {
		s.offered++
	}
	s.takethis++
	s.writeCmd("TAKETHIS ", o.MessageID, nil)
	s.publish()
	if err := s.c.bw.Flush(); err != nil {
		return false, nil, nil, &ConnError{Op: "send", Err: err}
	}
	n := r.Size
	if r.Shared {
		n -= int64(len(heldBack))
	}
	if err := s.c.sendFile(s.raw, r.FD, r.Off, n); err != nil {
		return false, nil, nil, &ConnError{Op: "send", Err: err}
	}
	if r.Shared {
		// The peer has all but the end: an article that changed under sendfile is
		// cut off here, never completed with bytes that are not its own.
		if err := s.ff.FileUnchanged(o); err != nil {
			return false, nil, nil, &ConnError{Op: "send", Err: fmt.Errorf("article %s changed in its file while sent; closing the connection so that the peer drops it: %v", o.MessageID, err)}
		}
		s.c.bw.WriteString(heldBack) // goes with the next command
	}
	sendfileCount.Add(1)
	return true, nil, nil, nil
}

// push appends a command to the ring, unpublished: the reader sees it at the next
// publish, which comes before any write that could block.
func (s *streamer) push(e sentCmd) {
	e.at, e.answered = s.now, s.headSeen
	s.ring[s.wtail%uint64(s.window)] = e
	s.wtail++
}

// clock returns the time since the Stream began (monotonic).
func (s *streamer) clock() time.Duration { return time.Since(s.base) }

// publish shows the reader the commands pushed so far. It must come before the
// commands can reach the peer: otherwise its replies could fill the socket while the
// reader waits, and a peer that stops reading until its replies are read would
// deadlock with our writer.
func (s *streamer) publish() {
	if s.wtail == s.tail {
		return
	}
	s.mu.Lock()
	s.tail = s.wtail
	s.rcond.Signal()
	s.mu.Unlock()
}

// writeCmd buffers VERB+mid+CRLF and the article, if any.
func (s *streamer) writeCmd(verb, mid string, art []byte) error {
	bw := s.c.bw
	if len(verb)+len(mid)+2+len(art) > bw.Available() {
		s.publish() // this write may reach the socket
	}
	s.c.tracef("> %s%s", verb, mid)
	bw.WriteString(verb)
	bw.WriteString(mid)
	bw.WriteString("\r\n")
	_, err := bw.Write(art)
	return err
}

// flush publishes and sends whatever is buffered. It reports false if the connection
// failed.
func (s *streamer) flush() bool {
	s.publish()
	if err := s.c.bw.Flush(); err != nil {
		s.fail(&ConnError{Op: "send", Err: err})
		return false
	}
	return true
}

// finish releases n window slots of offers the writer finished itself.
func (s *streamer) finish(n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.inflight -= n
	s.mu.Unlock()
}

// unsent reports offers as Unsent because of err.
func (s *streamer) unsent(offers []Offer, err error) {
	for _, o := range offers {
		s.wres = append(s.wres, Result{Offer: o, Outcome: Unsent, Err: err})
	}
}

// flushResults hands the writer's results to Done.
func (s *streamer) flushResults() {
	if len(s.wres) > 0 {
		s.deliver(s.wres)
		s.wres = s.wres[:0]
	}
}

// deliver calls Done for one batch; the calls of the writer and reader never overlap.
func (s *streamer) deliver(results []Result) {
	s.doneMu.Lock()
	s.stats.count(results)
	s.f.Done(results)
	s.doneMu.Unlock()
}

// fail records the first failure, wakes both sides and closes the connection, which
// also ends a blocked read or write.
func (s *streamer) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.rcond.Broadcast()
	s.wcond.Broadcast()
	s.mu.Unlock()
	s.c.Close()
}

// read is the reader's loop.
func (s *streamer) read() {
	var (
		head     uint64 // next command to answer
		avail    uint64 // commands published to us
		finished int    // offers made final since the last publish
		wants    []Offer
		res      []Result
		noCheck  = s.noCheck
		proven   bool     // the peer answered something else than 5xx
		held     []Result // 5xx answers before proven, not yet delivered
	)
	// release hands the held 5xx answers over when the reader leaves: as they are once
	// the stream ended normally (a peer that refuses a few articles of a short pass),
	// Unsent if the connection failed or the pass stops, so they stay queued.
	release := func(err error, stopping bool) {
		for _, h := range held {
			if err != nil || stopping {
				h.Outcome, h.Err, h.Size = Unsent, err, 0
				s.heldUnsent++
			} else if h.Outcome == Rejected || h.Outcome == Refused {
				// Never proven: keep them for a later pass rather than drop them.
				h.Outcome, h.Size = Deferred, 0
			}
			res = append(res, h)
		}
		held = nil
	}
	// publish hands our progress to the writer; s.mu must be held.
	publish := func() {
		changed := s.head != head || finished > 0 || len(wants) > 0 || s.noCheck != noCheck
		answered, deferred, limited := s.win.answered, s.win.deferred, s.limited
		if w, sampled := s.win.sample(s.clock(), head, s.tail, s.limited); sampled {
			if s.sampled != nil {
				s.sampled(StreamSample{Window: w, Cap: s.window, Limited: limited, Rate: s.win.lastRate,
					RTT: s.win.rttMin, Answered: answered, Deferred: deferred})
			}
			s.limited = false
			changed = changed || w > s.limit
			s.limit = w
		}
		s.head = head
		s.inflight -= finished
		s.wanted = append(s.wanted, wants...)
		s.noCheck = noCheck
		finished, wants = 0, wants[:0]
		if changed {
			s.wcond.Signal()
		}
	}
	fail := func(err error) {
		release(err, false)
		s.mu.Lock()
		publish()
		if s.err == nil {
			s.err = err
		}
		s.rcond.Broadcast()
		s.wcond.Broadcast()
		s.mu.Unlock()
		s.c.Close()
		if len(res) > 0 {
			s.deliver(res)
		}
	}
	for {
		s.mu.Lock()
		publish()
		for s.tail == head && s.err == nil && !s.finished {
			if len(res) > 0 {
				s.mu.Unlock()
				s.deliver(res)
				res = res[:0]
				s.mu.Lock()
				continue
			}
			s.rcond.Wait()
		}
		if s.err != nil || s.tail == head {
			release(s.err, s.stopping)
			s.mu.Unlock()
			if len(res) > 0 {
				s.deliver(res)
			}
			return
		}
		avail = s.tail
		s.mu.Unlock()

		// Deliver before a read that may block, or when the batch is full.
		if len(res) >= doneBatch || (len(res) > 0 && !s.c.lineBuffered()) {
			s.deliver(res)
			res = res[:0]
		}
		for n := 0; head < avail && n < doneBatch; n++ {
			if n > 0 && !s.c.lineBuffered() {
				break // publish before blocking
			}
			e := &s.ring[head%uint64(s.window)]
			line, err := s.c.readLine()
			if err != nil {
				fail(withOp(err, e.op()))
				return
			}
			text := string(line)
			s.c.tracef("< %s", text)
			r, err := ParseReply(text)
			if err != nil {
				fail(withOp(err, e.op()))
				return
			}
			if r.Code < 200 {
				continue // informational; innxmit ignores these too
			}
			set, err := e.answer(r)
			if err != nil {
				fail(err)
				return
			}
			head++
			out := set.Outcome
			s.win.observe(s.clock()-e.at, head, e.answered, out)
			answer := Result{Offer: e.offer, Outcome: out, Reply: r, Size: sentSize(out, e), Verb: e.verb(), Unexpected: set.Unexpected}
			if out != 0 && !proven && isRefusal(r) {
				// Held until the peer shows it answers something else: a peer that
				// refuses everything must not have the queue emptied as rejected.
				finished++
				held = append(held, answer)
				if len(held) >= RefuseRun {
					fail(&RefusingError{Reply: r, Verb: e.verb()})
					return
				}
				continue
			}
			if !proven {
				proven = true
				for _, h := range held {
					s.filter *= 1 - 1/noCheckFilter
					res = append(res, h)
				}
				held = nil
			}
			if out == 0 { // 238
				wants = append(wants, e.offer)
				continue
			}
			finished++
			switch out {
			case Accepted:
				s.filter = s.filter*(1-1/noCheckFilter) + 1
			case Refused, Rejected, Deferred:
				s.filter *= 1 - 1/noCheckFilter
			}
			res = append(res, answer)
			if s.mode == Adaptive {
				if !noCheck && s.filter > noCheckOn {
					noCheck = true
					s.noCheckIn++
				} else if noCheck && s.filter < noCheckOff {
					noCheck = false
					s.noCheckOut++
				}
			}
		}
	}
}

func sentSize(out Outcome, e *sentCmd) int {
	if out == Accepted || out == Rejected {
		return e.size
	}
	return 0
}

func (e *sentCmd) op() string {
	if e.kind == cmdCheck {
		return "CHECK " + e.offer.MessageID
	}
	return "TAKETHIS " + e.offer.MessageID
}

// answer settles the command's article by the reply table (see Settle).
func (e *sentCmd) answer(r Reply) (Settlement, error) {
	return Settle(e.verb(), e.offer.MessageID, r)
}

func (e *sentCmd) verb() Verb {
	if e.kind == cmdCheck {
		return VerbCheck
	}
	return VerbTakethis
}
