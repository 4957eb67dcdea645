package xmit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"nxmit/audit"
	"nxmit/batch"
	"nxmit/linefilter"
	"nxmit/nntp"
	"nxmit/spoolfmt"
)

// feeder hands a site's backlog lines to the connections and applies their answers to the
// files. One feeder serves every connection of a pass; its lock guards the files, which is
// cheap next to the network round trips and keeps the order of file operations simple:
// a deferral is written before its line is blanked, and S.defer is synced before a
// finished backlog is removed.
type feeder struct {
	opt   *Options
	store *spoolfmt.Store
	warn  func(format string, args ...any)

	mu       sync.Mutex
	files    []batch.File // not opened yet, oldest first
	cur      *backlog     // being read
	open     []*backlog   // opened and not yet removed, cur included
	retry    []int64      // refs whose connection failed before their answer: offered first
	pending  map[int64]*pending
	nextRef  int64
	taken    int64 // lines handed out, retries not counted again (for MaxArticles)
	defers   DeferSink
	stats    Stats
	fatal    error // a file operation failed: offer nothing more
	halted   error // the peer defers everything: offer nothing more, the rest stays queued
	deferRun int   // consecutive deferrals, reset by any other final answer
	drained  bool  // every file read to its end
	progress func(done int64)
	recs     []batch.Record     // scratch for finishAll
	local    []*pending         // lines NextOffers finished without the peer, blanked together
	hidden   int64              // malformed-line warnings not shown
	warned   map[replyKey]int64 // unexpected and 5xx replies of the pass, by command and code

	host     string        // the peer's host, for the article log
	entries  []audit.Entry // article log entries not written yet
	logErr   bool          // the article log failed once: warned, not again
	shapeBuf []byte        // scratch for Shape's article reads
	// held are lines appended to S.defer whose blanks wait for S.defer's next fsync: a
	// power loss must never keep a blank and lose its deferral. They are flushed by the
	// periodic sync, when only they keep a backlog from finishing, and at the end.
	held []*pending

	seen    *batch.IDSet      // the articles of the pass: the same one twice is offered once
	bad     *batch.Quarantine // S.bad; nil when the caller gives its own files (innxmit)
	skipped []batch.File      // backlogs being written, left for the next pass
	shaped  []*backlog        // backlogs whose reading stopped at a line held for the delay

	// For depth's estimate: the bytes and lines read, and where cur's reading is.
	readBytes, readLines, curEnd int64
}

// replyKey names a kind of reply worth one warning a pass.
type replyKey struct {
	verb nntp.Verb
	code int
}

// maxMalformedShown bounds the malformed-line warnings of a pass: a backlog of garbage
// must not turn into a million lines of cron mail. The count is in the statistics.
const maxMalformedShown = 20

type backlog struct {
	file batch.File
	b    *batch.Backlog
	eof  bool // every line has been read; Finished then says whether all are done
}

type pending struct {
	bl  *backlog
	rec batch.Record
	// art is what the existence check before the offer found (the open file of a
	// timehash or tradspool article), kept for the TAKETHIS so the article is
	// looked up once. Article consumes it; Done and close release it.
	art spoolfmt.Opened
}

func newFeeder(opt *Options, files []batch.File, defers DeferSink) *feeder {
	var bad *batch.Quarantine
	if opt.defers == nil && opt.Queue.Dir != "" {
		bad = opt.Queue.OpenQuarantine()
	}
	return &feeder{
		seen:     batch.NewIDSet(),
		bad:      bad,
		opt:      opt,
		store:    opt.Store,
		warn:     opt.warnf,
		files:    files,
		pending:  make(map[int64]*pending),
		warned:   make(map[replyKey]int64),
		defers:   defers,
		progress: opt.Progress,
		host:     hostOf(opt.Addr),
	}
}

// hostOf is the host part of a dial address.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// connFeeder is the feeder as one connection sees it: its answers carry its number
// into the article log, and a connection being closed gets no new offers.
type connFeeder struct {
	*feeder
	conn *connState
}

// NextOffers implements nntp.Feeder: nothing for a connection being closed, whose
// Stream then drains what it took and ends.
func (c connFeeder) NextOffers(dst []nntp.Offer, max int) []nntp.Offer {
	if c.conn.retire.Load() {
		return dst
	}
	return c.feeder.NextOffers(dst, max)
}

// Done implements nntp.Feeder.
func (c connFeeder) Done(results []nntp.Result) { c.feeder.done(results, c.conn.id) }

// record queues an article log entry for p; it is written with the batch it belongs to.
func (f *feeder) record(p *pending, outcome string, conn int, r *nntp.Result, text string) {
	if f.opt.ArticleLog == nil {
		return
	}
	e := audit.Entry{
		Time:      time.Now(),
		Site:      f.opt.Queue.Site,
		Host:      f.host,
		Outcome:   outcome,
		MessageID: p.rec.Line.MessageID,
		Article:   p.rec.Line.Article,
		Conn:      conn,
		Text:      text,
	}
	if r != nil {
		e.Bytes, e.Code = r.Size, r.Reply.Code
		if text == "" {
			e.Text = r.Reply.Text
			if r.Err != nil && r.Reply.Code == 0 {
				e.Text = r.Err.Error()
			}
		}
	}
	f.entries = append(f.entries, e)
}

// recordMalformed queues the entry of a line that could not be parsed.
func (f *feeder) recordMalformed(p *pending, why string) {
	if f.opt.ArticleLog == nil {
		return
	}
	f.entries = append(f.entries, audit.Entry{Time: time.Now(), Site: f.opt.Queue.Site, Host: f.host,
		Outcome: audit.Malformed, MessageID: p.rec.Line.MessageID, Article: p.rec.Line.Article, Text: why})
}

// flushLog writes the queued article log entries with one write.
func (f *feeder) flushLog() {
	if len(f.entries) == 0 {
		return
	}
	if err := f.opt.ArticleLog.Write(f.entries); err != nil && !f.logErr {
		f.logErr = true
		f.warn("%v (the pass goes on; later entries may be missing)", err)
	}
	clear(f.entries)
	f.entries = f.entries[:0]
}

// NextOffers implements nntp.Feeder.
func (f *feeder) NextOffers(dst []nntp.Offer, max int) []nntp.Offer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fatal != nil || f.halted != nil {
		return dst
	}
	for len(f.retry) > 0 && len(dst) < max {
		ref := f.retry[0]
		f.retry = f.retry[1:]
		dst = append(dst, nntp.Offer{MessageID: f.pending[ref].rec.Line.MessageID, Ref: ref})
	}
	for len(dst) < max {
		if f.opt.MaxArticles > 0 && f.taken >= f.opt.MaxArticles {
			break
		}
		p, ok := f.nextLine()
		if !ok {
			break
		}
		f.taken++
		ref := f.nextRef
		f.nextRef++
		f.pending[ref] = p
		dst = append(dst, nntp.Offer{MessageID: p.rec.Line.MessageID, Ref: ref})
	}
	if len(f.local) > 0 {
		f.finishAll(f.local)
		f.local = f.local[:0]
	}
	return dst
}

// nextLine returns the next line to offer, finishing on the spot the lines that need no
// peer: malformed ones, and token-only lines whose article is gone.
func (f *feeder) nextLine() (*pending, bool) {
	for f.fatal == nil {
		if f.cur == nil && !f.openNext() {
			return nil, false
		}
		rec, err := f.cur.b.Next()
		if err != nil {
			// io.EOF or a read error: either way this file gives no more lines now.
			if !isEOF(err) {
				f.warn("%s: %v (the rest of the file stays queued)", f.cur.file.Path, err)
			}
			f.cur.eof = true
			f.maybeRemove(f.cur)
			f.cur = nil
			continue
		}
		f.readBytes += int64(rec.Len) + 1
		f.readLines++
		f.curEnd = rec.Offset + int64(rec.Len) + 1
		p := &pending{bl: f.cur, rec: rec}
		if rec.Err != nil {
			// Reported, counted and quarantined in S.bad; the line does not keep the
			// file from finishing, and is never deleted with it.
			f.malformed("%v", rec.Err)
			f.recordMalformed(p, rec.Err.Error())
			f.quarantine(rec)
			if f.progress != nil {
				f.progress(1)
			}
			continue
		}
		if !p.rec.Line.IsToken {
			// A path leading out of patharticles is not an article: reading it (as root,
			// perhaps) would send any file on the machine to the peer. It is a malformed
			// line: reported, counted and quarantined in S.bad, for the administrator.
			if _, err := f.store.ArticlePath(p.rec.Line.Article); errors.Is(err, spoolfmt.ErrOutsideSpool) {
				le := &batch.LineError{File: p.bl.file.Path, Line: p.rec.LineNo, Reason: err.Error() + "; not sent"}
				f.malformed("%v", le)
				f.recordMalformed(p, le.Error())
				rec := p.rec
				rec.Err, rec.Raw = le, p.rec.Line.Append(nil)
				f.quarantine(rec)
				if f.fatal == nil {
					// Blanked once S.bad is durable, as a deferral waits for S.defer:
					// a blank on disk before its quarantined copy would lose the line.
					f.held = append(f.held, p)
				}
				if f.progress != nil {
					f.progress(1)
				}
				continue
			}
		}
		if p.rec.Line.MessageID == "" {
			if !f.fillMessageID(p) {
				continue
			}
		}
		if f.repeated(p.rec.Line) {
			f.duplicate(p)
			continue
		}
		if p.rec.Line.IsToken {
			// As innxmit, look in the spool before offering: an expired article then
			// costs a lookup, not a CHECK and its round trip. The lookup is the open
			// that the TAKETHIS reads from. A failure to find out is left to
			// Article, which reports it.
			o, err := f.store.Find(p.rec.Line.Token)
			if errors.Is(err, spoolfmt.ErrMissing) {
				f.stats.Missing++
				f.record(p, audit.Missing, 0, nil, "not in the spool")
				f.finish(p)
				continue
			}
			p.art = o
		} else if ok, err := f.store.FileExists(p.rec.Line.Article); err == nil && !ok {
			// A path naming no file is missing, like an expired token: no offer.
			f.stats.Missing++
			f.record(p, audit.Missing, 0, nil, "no such file")
			f.finish(p)
			continue
		}
		if f.opt.Shape != nil && !f.shape(p) {
			f.store.CloseOpened(&p.art) // filtered or held: not offered now
			continue
		}
		return p, true
	}
	return nil, false
}

// maxPassKeys bounds the Message-IDs a pass remembers to offer each article once: about
// 4 MB (batch.IDSetBytesPerLine each), so that a pass over a backlog of millions of lines
// stays within the memory the benchmark holds it to (2^20 keys took a 1,000,000-line pass
// to 74 MB of peak RSS, 2^17 to 27 MB). Repeats are usually near each other (an article
// in the feed twice, or requeued beside its backlog); past the bound a repeat is still
// caught when its first copy was among them, another goes to the peer, which refuses it:
// an offer, never a loss.
const maxPassKeys = 1 << 17

// repeated reports whether the line's article was already taken in this pass, by its
// Message-ID (a line without one has had it read from the article), and remembers it.
func (f *feeder) repeated(l batch.Line) bool {
	l.Article = "" // one key a line: the Message-ID
	if f.seen.Len() >= maxPassKeys {
		return f.seen.Has(l)
	}
	return !f.seen.Add(l)
}

// duplicate finishes a line whose article was already taken in this pass (same token,
// path or Message-ID): offering it again would only be refused.
func (f *feeder) duplicate(p *pending) {
	f.stats.Duplicates++
	f.finish(p)
}

// quarantine copies a malformed line to S.bad. If that fails the pass stops, so that
// the file holding the line is not removed.
func (f *feeder) quarantine(rec batch.Record) {
	if f.bad == nil {
		return
	}
	if err := f.bad.Add(rec.Err, rec.Raw); err != nil && f.fatal == nil {
		f.fatal = err
		f.warn("%v: stopping; unfinished lines stay queued", err)
	}
}

// fillMessageID reads the Message-ID of a line that gives only the token or path.
// It reports false when the line was finished instead (missing or unreadable article).
func (f *feeder) fillMessageID(p *pending) bool {
	art, err := f.read(p.rec.Line, nil)
	switch {
	case errors.Is(err, spoolfmt.ErrMissing):
		f.stats.Missing++
		f.record(p, audit.Missing, 0, nil, err.Error())
		f.finish(p)
		return false
	case err != nil:
		f.warn("requeue %s: %v", p.rec.Line.Article, err)
		if f.deferLine(p, &f.stats.Requeued) {
			f.record(p, audit.Requeued, 0, nil, err.Error())
			f.held = append(f.held, p) // blanked once S.defer is durable
		}
		return false
	}
	mid := spoolfmt.MessageID(art)
	if mid == "" {
		why := fmt.Sprintf("%s:%d: %s has no Message-ID header; dropped", p.bl.file.Path, p.rec.LineNo, p.rec.Line.Article)
		f.malformed("%s", why)
		f.recordMalformed(p, why)
		f.finish(p)
		return false
	}
	p.rec.Line.MessageID = mid
	return true
}

// shape applies the site's feed shaping to a line and reports whether to offer it. An
// excluded line is finished (Filtered), a missing one too (Missing). A line too young
// for the delay is left as it is, and so is the rest of its backlog: a backlog is in
// arrival order, so what follows is younger still. The backlog is not read further in
// this pass, which then goes on with the next one.
func (f *feeder) shape(p *pending) bool {
	d, buf, _ := f.opt.Shape.Decide(p.rec.Line, f.shapeBuf)
	f.shapeBuf = buf[:0]
	switch d {
	case linefilter.Exclude:
		f.stats.Filtered++
		f.record(p, audit.Filtered, 0, nil, "excluded by the site's feed shaping")
		f.finish(p)
		return false
	case linefilter.Gone:
		f.stats.Missing++
		f.record(p, audit.Missing, 0, nil, "not in the spool")
		f.finish(p)
		return false
	case linefilter.Hold:
		f.stats.Held++
		f.shaped = append(f.shaped, f.cur) // its held line and the rest stay queued
		f.cur = nil                        // stays open, unfinished; closed with the others at the end
		return false
	}
	return true
}

// testHookBeforeOpen, when a test sets it, runs between listing a backlog and opening it.
var testHookBeforeOpen func(path string)

func (f *feeder) openNext() bool {
	for len(f.files) > 0 {
		file := f.files[0]
		f.files = f.files[1:]
		if busy, err := batch.BeingWritten(file.Path, time.Now()); err == nil && busy {
			// Dropped in by hand and still being copied: its last line is cut.
			f.warn("%s: last line incomplete and modified less than %v ago: still being written? left for the next pass",
				file.Path, batch.WriteQuiet)
			f.skipped = append(f.skipped, file)
			continue
		}
		if testHookBeforeOpen != nil {
			testHookBeforeOpen(file.Path)
		}
		b, err := file.Open()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed by an administrator or a concurrent merge; nothing to do
			}
			f.warn("%v (skipped for this pass)", err)
			continue
		}
		if w := b.Warning(); w != nil {
			f.warn("%s: %v", file.Path, w)
		}
		f.cur = &backlog{file: file, b: b}
		f.curEnd = 0
		f.open = append(f.open, f.cur)
		return true
	}
	f.drained = true
	return false
}

// Article implements nntp.Feeder. It runs on the connections' writer goroutines, without
// the feeder's lock, so connections read the spool in parallel.
func (f *feeder) Article(o *nntp.Offer, buf []byte) ([]byte, error) {
	f.mu.Lock()
	p := f.pending[o.Ref]
	f.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("internal error: no pending line for offer %d", o.Ref)
	}
	art, err := f.readPending(p, buf)
	if err != nil {
		if errors.Is(err, spoolfmt.ErrMissing) {
			return nil, fmt.Errorf("%w: %v", nntp.ErrNoArticle, err)
		}
		return nil, err
	}
	if err := spoolfmt.CheckMessageID(art, p.rec.Line.MessageID); err != nil {
		f.warn("%s:%d: %v", p.bl.file.Path, p.rec.LineNo, err)
		return nil, fmt.Errorf("%w: %v", nntp.ErrNoArticle, err)
	}
	return art, nil
}

// headPool holds the buffers ArticleFile reads headers into.
var headPool = sync.Pool{New: func() any { b := make([]byte, 8192); return &b }}

// ArticleFile hands the connection where o's article lies in a file when it is stored
// there in wire format (timehash; tradspool with wireformat; a CNFS buffer; a CAF
// file), so that it is sent with sendfile: nntp.FileFeeder. A timehash article below
// least comes back read into buf instead, by the read that found its size. Its
// Message-ID is checked as Article checks it. The descriptor stays held until Done,
// so an Unsent article is sent again from it.
func (f *feeder) ArticleFile(o *nntp.Offer, least int64, buf []byte) (nntp.FileRange, []byte, bool, error) {
	f.mu.Lock()
	p := f.pending[o.Ref]
	f.mu.Unlock()
	if p == nil || !p.rec.Line.IsToken {
		return nntp.FileRange{}, nil, false, nil
	}
	hp := headPool.Get().(*[]byte)
	defer headPool.Put(hp)
	w, art, ok := f.store.WireFile(&p.art, least, *hp, buf)
	head := w.Head
	if art != nil {
		head = art
	} else if !ok {
		return nntp.FileRange{}, nil, false, nil
	}
	if err := spoolfmt.CheckMessageID(head, p.rec.Line.MessageID); err != nil {
		f.warn("%s:%d: %v", p.bl.file.Path, p.rec.LineNo, err)
		return nntp.FileRange{}, nil, false, fmt.Errorf("%w: %v", nntp.ErrNoArticle, err)
	}
	if art != nil {
		return nntp.FileRange{}, art, false, nil
	}
	return nntp.FileRange{FD: w.FD, Off: w.Off, Size: w.Size, Shared: w.Shared}, nil, true, nil
}

// FileUnchanged checks, after a CNFS or timecaf article went out from its file, that
// it is still there as ArticleFile found it: nntp.FileFeeder. A change is warned about
// with the batch line; the connection then cuts the article off.
func (f *feeder) FileUnchanged(o *nntp.Offer) error {
	f.mu.Lock()
	p := f.pending[o.Ref]
	f.mu.Unlock()
	if p == nil {
		return fmt.Errorf("internal error: no pending line for offer %d", o.Ref)
	}
	err := f.store.WireUnchanged(&p.art)
	if err != nil {
		f.warn("%s:%d: %s changed in the spool while sent from it, not completed: %v", p.bl.file.Path, p.rec.LineNo, p.rec.Line.MessageID, err)
	}
	return err
}

// readPending reads p's article, from what the check before its offer opened
// when there is one. It runs without the feeder's lock: only the connection that
// holds p's offer touches p.art until Done.
func (f *feeder) readPending(p *pending, buf []byte) ([]byte, error) {
	if p.rec.Line.IsToken {
		return f.store.ReadOpened(&p.art, buf)
	}
	return f.read(p.rec.Line, buf)
}

func (f *feeder) read(l batch.Line, buf []byte) ([]byte, error) {
	if l.IsToken {
		return f.store.Retrieve(l.Token, buf)
	}
	return f.store.RetrieveFile(l.Article, buf)
}

// done takes the answers of connection conn: each is final for its line. The lines of
// a batch are blanked together (one write for neighbouring lines), after any deferral
// among them has been appended to S.defer and the batch's article log entries written.
func (f *feeder) done(results []nntp.Result, conn int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &f.stats
	var finished []*pending
	for i := range results {
		r := &results[i]
		p := f.pending[r.Offer.Ref]
		if p == nil {
			continue
		}
		outcome := r.Outcome
		if _, refusing := f.halted.(*RefusingError); refusing && r.Reply.Code >= 500 {
			// Another connection found the peer refusing everything: this 5xx says
			// no more about the article than the others did. It stays queued.
			outcome = nntp.Unsent
		}
		if outcome != nntp.Unsent {
			f.store.CloseOpened(&p.art) // refused after CHECK, or a failed read
		}
		switch outcome {
		case nntp.Accepted:
			s.Accepted++
			s.AcceptedBytes += int64(r.Size)
			f.record(p, audit.Accepted, conn, r, "")
		case nntp.Refused:
			s.Refused++
			f.record(p, audit.Refused, conn, r, "")
		case nntp.Rejected:
			s.Rejected++
			s.RejectedBytes += int64(r.Size)
			f.record(p, audit.Rejected, conn, r, "")
			if f.opt.LogRejected != nil {
				f.opt.LogRejected(p.rec.Line, r.Reply)
			}
		case nntp.Missing:
			s.Missing++
			f.record(p, audit.Missing, conn, r, "")
		case nntp.Deferred:
			f.deferRun++
			if !f.deferLine(p, &s.Deferred) {
				delete(f.pending, r.Offer.Ref)
				continue
			}
			f.record(p, audit.Deferred, conn, r, "")
		case nntp.Failed:
			f.warn("requeue %s: %v", p.rec.Line.Article, r.Err)
			if !f.deferLine(p, &s.Requeued) {
				delete(f.pending, r.Offer.Ref)
				continue
			}
			f.record(p, audit.Requeued, conn, r, "")
		default: // Unsent: the connection broke first; offer it again on a live one.
			var re *nntp.RefusingError
			if errors.As(r.Err, &re) && f.halted == nil {
				// The peer refuses everything: the articles stay queued, a person
				// must act.
				f.halted = &RefusingError{Addr: f.opt.Addr, Err: re}
			}
			f.retry = append(f.retry, r.Offer.Ref)
			continue
		}
		if r.Outcome != nntp.Deferred {
			f.deferRun = 0
		}
		if r.Unexpected || r.Reply.Code >= 500 {
			f.odd(p, r)
		}
		delete(f.pending, r.Offer.Ref)
		if outcome == nntp.Deferred || outcome == nntp.Failed {
			f.held = append(f.held, p) // blanked once S.defer is durable
			continue
		}
		finished = append(finished, p)
	}
	if limit := f.opt.MaxDeferRun; limit > 0 && f.deferRun >= limit && f.halted == nil {
		// A paused innd answers 431 to everything: going on would only move the whole
		// backlog into S.defer, one article at a time.
		f.halted = &DeferringError{Addr: f.opt.Addr, Run: f.deferRun}
	}
	f.finishAll(finished)
	if len(f.held) >= MaxHeldDeferrals {
		f.flushHeld()
	}
}

// MaxHeldDeferrals bounds the deferred lines whose blanks wait for S.defer's fsync: past
// it, one fsync makes them durable at once, so that a crash re-offers few of them (a
// line is then both in S.defer and its backlog). At 5 % deferrals that is one fsync per
// 1,280 answers; otherwise the periodic sync does it, once a second.
const MaxHeldDeferrals = 64

// odd tells the administrator of a reply outside the usual ones (a 5xx, or a code in no
// row of nntp.ReplyTable), once per command and code a pass; close gives the counts.
func (f *feeder) odd(p *pending, r *nntp.Result) {
	k := replyKey{r.Verb, r.Reply.Code}
	f.warned[k]++
	if f.warned[k] > 1 {
		return
	}
	what := r.Outcome.String()
	if r.Unexpected {
		what = "deferred (a code nxmit does not expect there)"
	}
	f.warn("%s:%d: peer answered %q to %s %s: %s; further %d replies to %s this pass are only counted",
		p.bl.file.Path, p.rec.LineNo, r.Reply.String(), r.Verb, r.Offer.MessageID, what, r.Reply.Code, r.Verb)
}

// deferLine keeps the line for a later pass by appending it to S.defer; the caller then
// blanks it. If the append fails (disk full) it reports false: the line must stay as it
// is in its backlog, and the pass stops offering, so nothing is lost.
func (f *feeder) deferLine(p *pending, counter *int64) bool {
	if err := f.defers.Append(p.rec.Line); err != nil {
		if f.fatal == nil {
			f.fatal = fmt.Errorf("%s: %w", f.opt.Queue.DeferPath(), err)
			f.warn("%v: stopping; unfinished lines stay queued", f.fatal)
		}
		f.stats.Unsent++
		return false
	}
	*counter++
	return true
}

// finishAll marks lines done in their backlogs, one DoneAll per backlog, and removes the
// backlogs that are then finished.
func (f *feeder) finishAll(ps []*pending) {
	f.flushLog()
	if len(ps) > 0 && f.progress != nil {
		f.progress(int64(len(ps)))
	}
	for len(ps) > 0 {
		bl := ps[0].bl
		recs := f.recs[:0]
		rest := ps[:0]
		for _, p := range ps {
			if p.bl == bl {
				recs = append(recs, p.rec)
			} else {
				rest = append(rest, p)
			}
		}
		f.recs = recs
		if err := bl.b.DoneAll(recs); err != nil && f.fatal == nil {
			f.fatal = fmt.Errorf("%s: mark done: %w", bl.file.Path, err)
			f.warn("%v: stopping", f.fatal)
		}
		f.maybeRemove(bl)
		ps = rest
	}
}

// finish marks a line done that NextOffers finished without the peer; such lines are
// blanked together, a batch at a time (a run of expired articles can be long).
func (f *feeder) finish(p *pending) {
	f.local = append(f.local, p)
	if len(f.local) >= 256 {
		f.finishAll(f.local)
		f.local = f.local[:0]
	}
}

// malformed counts a malformed line and reports it, up to maxMalformedShown a pass.
func (f *feeder) malformed(format string, args ...any) {
	f.stats.Malformed++
	if f.stats.Malformed > maxMalformedShown {
		f.hidden++
		return
	}
	f.warn(format, args...)
}

// flushHeld makes S.defer durable, then blanks the lines deferred to it: the order a
// power loss needs (a blank on disk whose deferral is not would lose the article). One
// fsync covers every deferral since the last one. If the fsync fails the lines stay as
// they are in their backlogs (offered again later: a duplicate deferral at worst).
func (f *feeder) flushHeld() {
	if len(f.held) == 0 {
		return
	}
	if err := f.defers.Sync(); err != nil {
		if f.fatal == nil {
			f.fatal = fmt.Errorf("%s: sync: %w", f.opt.Queue.DeferPath(), err)
			f.warn("%v: stopping; unfinished lines stay queued", f.fatal)
		}
		return
	}
	if f.bad != nil {
		// Path lines refused for leaving the spool wait here for their copy in S.bad.
		if err := f.bad.Sync(); err != nil {
			if f.fatal == nil {
				f.fatal = err
				f.warn("%v: stopping; unfinished lines stay queued", f.fatal)
			}
			return
		}
	}
	held := f.held
	f.held = nil // finishAll may come back here through maybeRemove
	f.finishAll(held)
}

// heldIn counts the held lines of bl.
func (f *feeder) heldIn(bl *backlog) int {
	n := 0
	for _, p := range f.held {
		if p.bl == bl {
			n++
		}
	}
	return n
}

// maybeRemove deletes a backlog whose every line is done. S.defer is synced first: the
// deferred lines must be on disk before the only other copy goes away.
func (f *feeder) maybeRemove(bl *backlog) {
	if !bl.eof || f.fatal != nil {
		return
	}
	if !bl.b.Finished() {
		if h := f.heldIn(bl); h > 0 && h == bl.b.Outstanding() {
			f.flushHeld() // only deferred lines are left: finish the file now
		}
		return
	}
	for i, o := range f.open {
		if o == bl {
			f.open = append(f.open[:i], f.open[i+1:]...)
			break
		}
	}
	if err := f.defers.Sync(); err != nil {
		f.fatal = fmt.Errorf("%s: sync: %w", f.opt.Queue.DeferPath(), err)
		f.warn("%v: stopping", f.fatal)
		bl.b.Close()
		return
	}
	if f.bad != nil {
		// Its malformed lines must be safe in S.bad before the file goes.
		if err := f.bad.Sync(); err != nil {
			f.fatal = err
			f.warn("%v: stopping", f.fatal)
			bl.b.Close()
			return
		}
	}
	if err := bl.b.Remove(); err != nil {
		f.warn("remove finished backlog %s: %v", bl.file.Path, err)
	}
}

// sync makes the progress so far durable: deferrals first, then the blanks and
// checkpoints that refer to them.
func (f *feeder) sync() {
	// Under the lock, so that no backlog is removed while it is being synced; once a
	// second, this is cheap.
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushHeld()
	if err := f.defers.Sync(); err != nil {
		f.warn("%s: sync: %v", f.opt.Queue.DeferPath(), err)
		return
	}
	for _, bl := range f.open {
		if err := bl.b.Sync(); err != nil {
			f.warn("%s: sync: %v", bl.file.Path, err)
		}
	}
}

// close ends the pass on the files: unfinished backlogs keep their remaining lines.
func (f *feeder) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	f.flushHeld()
	f.stats.Unsent += int64(len(f.pending))
	f.flushLog()
	for _, p := range f.pending {
		f.store.CloseOpened(&p.art)
	}
	where := ""
	if f.bad != nil && f.bad.Lines() > 0 {
		where = ", quarantined in " + f.bad.Path()
	}
	if f.hidden > 0 {
		f.warn("%d more malformed lines not shown (%d in all%s)", f.hidden, f.stats.Malformed, where)
	} else if where != "" {
		f.warn("%d malformed lines%s", f.bad.Lines(), where)
	}
	for k, n := range f.warned {
		if n > 1 {
			f.warn("peer answered %d to %s %d times this pass", k.code, k.verb, n)
		}
	}
	if err := f.defers.Sync(); err != nil {
		errs = append(errs, err)
	}
	for _, bl := range f.open {
		if err := bl.b.Sync(); err != nil {
			errs = append(errs, err)
		}
		if err := bl.b.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	f.open = nil
	if f.bad != nil {
		if err := f.bad.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// Counted last, once everything is durable: a kill during the count loses nothing.
	f.stats.Queued = f.stats.Unsent + f.unread()
	return errors.Join(errs...)
}

// unread counts the lines a stopped or bounded pass never read: the rest of the backlog
// being read and the backlogs not opened. It reads them (streamed, without keeping
// anything): exact counts for the detail line and status cost a read of what is left.
func (f *feeder) unread() int64 {
	var n int64
	for _, bl := range append(f.shaped, f.cur) {
		if bl == nil {
			continue
		}
		c, err := bl.b.Rest()
		if err != nil {
			f.warn("%v", err)
		}
		n += c
	}
	n += int64(len(f.shaped)) // each stopped at a line it read and left queued
	for _, file := range append(f.files, f.skipped...) {
		c, err := batch.CountQueued(file.Path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			f.warn("%v", err)
		}
		n += c
	}
	return n
}

// compressedRatio is the guess of depth at how much a compressed backlog's lines take
// once decompressed: token lines compress well.
const compressedRatio = 4

// depth estimates the lines still to offer, for the decision to add a connection: the
// retries, and the backlog bytes not read yet over the mean length of the lines read
// so far. It is an estimate (compressed sizes are guessed), cheap enough to ask often.
func (f *feeder) depth() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fatal != nil || f.halted != nil {
		return 0
	}
	size := func(file batch.File) int64 {
		if file.Compressed {
			return compressedRatio * file.Size
		}
		return file.Size
	}
	var rest int64
	if f.cur != nil {
		rest = max(0, size(f.cur.file)-f.curEnd)
	}
	for _, file := range f.files {
		rest += size(file)
	}
	mean := int64(64) // a token line, until lines are read
	if f.readLines > 0 {
		mean = max(1, f.readBytes/f.readLines)
	}
	n := int64(len(f.retry)) + rest/mean
	if f.opt.MaxArticles > 0 {
		n = min(n, int64(len(f.retry))+max(0, f.opt.MaxArticles-f.taken))
	}
	return n
}

// workLeft reports whether lines remain that a live connection could still send.
func (f *feeder) workLeft() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	limited := f.opt.MaxArticles > 0 && f.taken >= f.opt.MaxArticles
	return f.fatal == nil && f.halted == nil && (len(f.retry) > 0 || !f.drained && !limited)
}

// syncEvery syncs the progress at each interval until the returned function is called,
// so that a compressed backlog's checkpoint never lags far behind and a power loss
// re-offers little.
func (f *feeder) syncEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f.sync()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
