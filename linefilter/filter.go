// Package linefilter is the line filter behind "nxmit filter": it reads batch lines
// (innxmit/innd "token message-id" lines, tokens alone, or article paths; plain, zstd or
// gzip by magic number) and writes those that pass its tests, for shell pipelines such
// as
//
//	nxmit filter --exists --groups 'comp.*,!comp.binaries.*' --dedupe < old | nxmit merge peer -
//
// The tests are: de-duplication by Message-ID (Dedupe), presence in the spool (Exists),
// INN wildmat over the Newsgroups header with newsfeeds(5) semantics (Groups), size
// bounds on the article in wire format (MinSize, MaxSize), and an age bound (MaxAge)
// measured from the spool's arrival time where the storage method records it (timehash
// and timecaf tokens, CNFS headers, tradspool file times), else from the Date header.
// Invert writes the lines that fail the spool tests instead.
//
// Feed shaping: Hash keeps a deterministic part of the Message-IDs (Diablo's hashfeed,
// see HashFeed), MaxCrosspost and MaxHops bound the Newsgroups and Path headers (as
// newsfeeds' G and H flags), and MinAge holds back articles younger than a delay.
//
// Blank lines are dropped. Malformed lines are never written: they are reported as
// "FILE:LINE: reason" through Options.Warn. Input is streamed: memory does not grow with
// its size, except for the de-duplication set, which costs batch.IDSetBytesPerLine
// (30) bytes per distinct line at most. When a test needs the spool, several
// goroutines read articles at once while the output keeps the input's order.
package linefilter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"time"

	"nxmit/batch"
	"nxmit/spoolfmt"
	"nxmit/wildmat"
)

// Spool is what the filter needs of an article store; *spoolfmt.Store has it.
type Spool interface {
	// Retrieve returns the article in wire format; a missing one gives an error
	// wrapping spoolfmt.ErrMissing.
	Retrieve(tok spoolfmt.Token, buf []byte) ([]byte, error)
	// RetrieveFile reads an article file (relative to patharticles).
	RetrieveFile(path string, buf []byte) ([]byte, error)
	// Exists reports whether the article is stored.
	Exists(tok spoolfmt.Token) (bool, error)
	// Arrival returns when the article arrived, where the method records it.
	Arrival(tok spoolfmt.Token) (time.Time, bool)
}

// Options select the tests. The zero value passes every well-formed line.
type Options struct {
	// Dedupe drops a line whose Message-ID (see batch.Key) was already written.
	Dedupe bool
	// Exists drops lines whose article is not in the spool.
	Exists bool
	// Groups, when set, keeps articles whose Newsgroups header it matches with
	// newsfeeds(5) semantics (see wildmat.Expr.MatchGroups): some group matches, and
	// none matches an "@" pattern.
	Groups *wildmat.Expr
	// MinSize and MaxSize bound the article's size in wire format (as sent), in
	// bytes; 0 means no bound.
	MinSize, MaxSize int64
	// MaxAge drops articles that arrived longer ago than this, or whose age cannot be
	// told; 0 means no bound.
	MaxAge time.Duration
	// MinAge drops (holds back) articles that arrived less than this long ago: a
	// delayed feed. An article whose age cannot be told passes. 0 is no bound.
	MinAge time.Duration
	// Hash keeps the articles whose Message-ID falls in its buckets (Diablo's
	// hashfeed, see HashFeed). Lines without a Message-ID take it from the article,
	// which needs Spool.
	Hash *HashFeed
	// MaxCrosspost drops articles posted to more than this many groups (as newsfeeds'
	// G flag); 0 is no bound.
	MaxCrosspost int
	// MaxHops drops articles with more than this many entries in their Path header
	// (as newsfeeds' H flag); 0 is no bound.
	MaxHops int
	// Invert writes the lines that fail the tests (Exists, Groups, sizes, ages,
	// Hash, MaxCrosspost, MaxHops) instead of those that pass. Malformed lines and lines whose article
	// could not be read are never written; Dedupe applies to what is written.
	Invert bool
	// Now is the time ages are measured against; zero means time.Now().
	Now time.Time
	// Spool is where articles are looked up; required by every test but Dedupe.
	Spool Spool
	// Workers is the number of articles read at once when a test needs the spool;
	// 0 means 4 per CPU, at most 32.
	Workers int
	// Warn receives malformed lines ("FILE:LINE: reason", a *batch.LineError) and
	// articles that could not be read.
	Warn func(error)
}

// Stats count what the filter did. A line failing several tests counts under the first
// one checked (Missing, then Size, Groups, Age).
type Stats struct {
	Lines      int64 // lines read, every kind
	Written    int64 // lines written
	Blank      int64 // empty or blanked lines dropped
	Malformed  int64 // malformed lines reported and dropped
	Duplicates int64 // dropped by Dedupe
	Missing    int64 // article not in the spool
	Size       int64 // outside MinSize/MaxSize
	Groups     int64 // Newsgroups not matched (or poisoned)
	Age        int64 // older than MaxAge, or age unknown
	Young      int64 // younger than MinAge
	Hash       int64 // Message-ID outside Hash's buckets
	Crosspost  int64 // more groups than MaxCrosspost
	Hops       int64 // more Path entries than MaxHops
	Errors     int64 // article could not be read (other than missing): reported, not written
}

// String formats the counts on one line, for --stats.
func (s Stats) String() string {
	return fmt.Sprintf("%d lines, %d written, %d blank, %d malformed, %d duplicates, %d missing, %d size, %d groups, %d age, %d young, %d hash, %d crosspost, %d hops, %d errors",
		s.Lines, s.Written, s.Blank, s.Malformed, s.Duplicates, s.Missing, s.Size, s.Groups, s.Age, s.Young, s.Hash, s.Crosspost, s.Hops, s.Errors)
}

// A Filter applies Options to one or more inputs, with one de-duplication set across
// them. It is not safe for concurrent use.
type Filter struct {
	opt   Options
	set   *batch.IDSet
	stats Stats
	spool bool // a test needs the spool
	now   time.Time
}

// New checks the options and returns a Filter.
func New(opt Options) (*Filter, error) {
	f := &Filter{opt: opt}
	f.spool = opt.Exists || opt.Groups != nil || opt.MinSize > 0 || opt.MaxSize > 0 || opt.MaxAge > 0 ||
		opt.MinAge > 0 || opt.MaxCrosspost > 0 || opt.MaxHops > 0
	if f.spool && opt.Spool == nil {
		return nil, errors.New("linefilter: the spool tests need a Spool")
	}
	// With a spool, a hash test on a line without a Message-ID reads the article.
	f.spool = f.spool || (opt.Hash != nil && opt.Spool != nil)
	if opt.MinSize < 0 || opt.MaxSize < 0 || opt.MaxAge < 0 || opt.MinAge < 0 || opt.MaxCrosspost < 0 || opt.MaxHops < 0 {
		return nil, errors.New("linefilter: negative bound")
	}
	if opt.MaxSize > 0 && opt.MinSize > opt.MaxSize {
		return nil, fmt.Errorf("linefilter: minimum size %d above maximum size %d", opt.MinSize, opt.MaxSize)
	}
	if opt.Dedupe {
		f.set = batch.NewIDSet()
	}
	f.now = opt.Now
	if f.now.IsZero() {
		f.now = time.Now()
	}
	return f, nil
}

// Stats returns the counts so far.
func (f *Filter) Stats() Stats { return f.stats }

// verdict is the outcome of the spool tests for one line.
type verdict uint8

const (
	pass verdict = iota
	failMissing
	failSize
	failGroups
	failAge
	failYoung
	failHash
	failCrosspost
	failHops
	failError // could not read: never written
)

// A WriteError is a failure to write the output (a closed pipe, a full disk): nothing
// more can be written, unlike a failure to read one input.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "write output: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *WriteError) Unwrap() error { return e.Err }

// Filter reads lines from r, named name in messages ("FILE:LINE: reason"), and writes
// the lines that pass to w, each ending in "\n". It returns a read error of r (a
// compressed stream that is corrupt, say) or a *WriteError; malformed lines and
// unreadable articles are only reported and counted.
func (f *Filter) Filter(w io.Writer, r io.Reader, name string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	sc := batch.NewScanner(r, name)
	defer sc.Close()
	var err error
	if f.spool || runtime.GOMAXPROCS(0) > 1 {
		err = f.pipeline(bw, sc)
	} else {
		err = f.sequential(bw, sc)
	}
	if ferr := bw.Flush(); err == nil && ferr != nil {
		err = &WriteError{ferr}
	}
	return err
}

// sequential is the path for one CPU without spool tests: parse, dedupe, write.
func (f *Filter) sequential(w *bufio.Writer, sc *batch.Scanner) error {
	var buf []byte
	for sc.Scan() {
		f.stats.Lines++
		l, lerr := sc.Line(), sc.LineErr()
		if lerr != nil {
			f.lineError(lerr)
			continue
		}
		it := item{line: l}
		it.v, it.readErr = f.cheap(l)
		if !f.account(&it) {
			continue
		}
		if f.set != nil && !f.set.Add(l) {
			f.stats.Duplicates++
			continue
		}
		buf = append(l.Append(buf[:0]), '\n')
		if _, err := w.Write(buf); err != nil {
			return &WriteError{err}
		}
		f.stats.Written++
	}
	return sc.Err()
}

func (f *Filter) lineError(err error) {
	if errors.Is(err, batch.ErrBlank) {
		f.stats.Blank++
		return
	}
	f.stats.Malformed++
	if f.opt.Warn != nil {
		f.opt.Warn(err)
	}
}

// item is one line on its way through the parallel pipeline.
type item struct {
	line    batch.Line
	lineErr error // ErrBlank or *LineError: reported in order by the writer
	v       verdict
	readErr error
}

// chunk is a run of consecutive lines, evaluated by one worker.
type chunk struct {
	items []item
	done  chan struct{}
}

const chunkLines = 256

// pipeline reads and parses lines in one goroutine, evaluates chunks of them on
// several workers when a test needs the spool, and de-duplicates and writes them in
// order in the calling goroutine. At most 2·workers chunks are in flight, so memory
// stays bounded. Every good line is tested, duplicates included: the set belongs to the
// writer, which alone knows whether an earlier copy was written. Without spool tests
// there are no workers, and the pipeline only overlaps parsing with de-duplication.
func (f *Filter) pipeline(w *bufio.Writer, sc *batch.Scanner) error {
	workers := 0
	if f.spool {
		workers = f.opt.Workers
		if workers <= 0 {
			workers = min(4*runtime.GOMAXPROCS(0), 32)
		}
	}
	jobs := make(chan *chunk, workers)
	order := make(chan *chunk, 2*max(workers, 2))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for c := range jobs {
				for i := range c.items {
					it := &c.items[i]
					if it.lineErr == nil {
						it.v, buf, it.readErr = f.test(it.line, buf)
					}
				}
				close(c.done)
			}
		}()
	}
	var readErr error
	go func() {
		defer close(order)
		defer close(jobs)
		c := &chunk{done: make(chan struct{})}
		flush := func() bool {
			select {
			case order <- c:
			case <-stop:
				return false
			}
			if workers > 0 {
				jobs <- c
			} else {
				close(c.done)
			}
			c = &chunk{done: make(chan struct{})}
			return true
		}
		for sc.Scan() {
			c.items = append(c.items, item{line: sc.Line(), lineErr: sc.LineErr()})
			if len(c.items) == chunkLines && !flush() {
				return
			}
		}
		readErr = sc.Err()
		if len(c.items) > 0 {
			flush()
		}
	}()

	var werr error
	var buf []byte
	for c := range order {
		<-c.done
		if werr != nil {
			continue // drain, so the reader and workers finish
		}
		for i := range c.items {
			it := &c.items[i]
			f.stats.Lines++
			if it.lineErr != nil {
				f.lineError(it.lineErr)
				continue
			}
			if !f.spool {
				it.v, it.readErr = f.cheap(it.line)
			}
			if !f.account(it) {
				continue
			}
			if f.set != nil && !f.set.Add(it.line) {
				f.stats.Duplicates++
				continue
			}
			buf = append(it.line.Append(buf[:0]), '\n')
			if _, err := w.Write(buf); err != nil {
				werr = &WriteError{err}
				close(stop)
				break
			}
			f.stats.Written++
		}
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	return readErr
}

// account counts a tested line and reports whether it is to be written.
func (f *Filter) account(it *item) bool {
	switch it.v {
	case failError:
		f.stats.Errors++
		if f.opt.Warn != nil {
			f.opt.Warn(it.readErr)
		}
		return false
	case failMissing:
		f.stats.Missing++
	case failSize:
		f.stats.Size++
	case failGroups:
		f.stats.Groups++
	case failAge:
		f.stats.Age++
	case failYoung:
		f.stats.Young++
	case failHash:
		f.stats.Hash++
	case failCrosspost:
		f.stats.Crosspost++
	case failHops:
		f.stats.Hops++
	}
	return (it.v == pass) != f.opt.Invert
}

// cheap runs the tests that need no spool (the hash of a line's Message-ID) on a line
// when there is no spool to read.
func (f *Filter) cheap(l batch.Line) (verdict, error) {
	if f.opt.Hash == nil {
		return pass, nil
	}
	if l.MessageID == "" {
		return failError, fmt.Errorf("%s: no Message-ID to hash (the spool is needed for it)", l.Article)
	}
	if !f.opt.Hash.Match(l.MessageID) {
		return failHash, nil
	}
	return pass, nil
}

// test runs the spool tests on one line. buf is scratch space for the article, returned
// for reuse.
func (f *Filter) test(l batch.Line, buf []byte) (verdict, []byte, error) {
	o := &f.opt
	if o.Hash != nil && l.MessageID != "" && !o.Hash.Match(l.MessageID) {
		return failHash, buf, nil // decided without the spool
	}
	needArticle := o.Groups != nil || o.MinSize > 0 || o.MaxSize > 0 || o.MaxCrosspost > 0 || o.MaxHops > 0 ||
		(o.Hash != nil && l.MessageID == "")
	var arrival time.Time
	haveArrival := false
	aged := o.MaxAge > 0 || o.MinAge > 0
	if aged && l.IsToken {
		arrival, haveArrival = o.Spool.Arrival(l.Token)
		if !haveArrival {
			needArticle = true // fall back to the Date header
		}
	} else if aged {
		needArticle = true
	}

	if !needArticle {
		if o.Exists && l.IsToken {
			ok, err := o.Spool.Exists(l.Token)
			if err != nil {
				return failError, buf, fmt.Errorf("%s: %w", l.Article, err)
			}
			if !ok {
				return failMissing, buf, nil
			}
		} else if o.Exists {
			needArticle = true
		}
	}
	if needArticle {
		var art []byte
		var err error
		if l.IsToken {
			art, err = o.Spool.Retrieve(l.Token, buf)
		} else {
			art, err = o.Spool.RetrieveFile(l.Article, buf)
		}
		if art != nil && cap(art) > cap(buf) {
			buf = art[:0]
		}
		if errors.Is(err, spoolfmt.ErrMissing) {
			return failMissing, buf, nil
		}
		if err != nil {
			return failError, buf, fmt.Errorf("%s: %w", l.Article, err)
		}
		size := int64(len(art))
		if (o.MinSize > 0 && size < o.MinSize) || (o.MaxSize > 0 && size > o.MaxSize) {
			return failSize, buf, nil
		}
		if o.Hash != nil && l.MessageID == "" {
			mid := spoolfmt.MessageID(art)
			if mid == "" {
				return failError, buf, fmt.Errorf("%s: no Message-ID to hash", l.Article)
			}
			if !o.Hash.Match(mid) {
				return failHash, buf, nil
			}
		}
		groups := Newsgroups(art)
		if o.Groups != nil && !o.Groups.MatchGroups(groups) {
			return failGroups, buf, nil
		}
		if o.MaxCrosspost > 0 && len(groups) > o.MaxCrosspost {
			return failCrosspost, buf, nil
		}
		if o.MaxHops > 0 && PathHops(art) > o.MaxHops {
			return failHops, buf, nil
		}
		if aged && !haveArrival {
			arrival, haveArrival = Date(art)
		}
	}
	if o.MaxAge > 0 && (!haveArrival || f.now.Sub(arrival) > o.MaxAge) {
		return failAge, buf, nil
	}
	if o.MinAge > 0 && haveArrival && f.now.Sub(arrival) < o.MinAge {
		return failYoung, buf, nil
	}
	return pass, buf, nil
}

// Header returns the value of the first header field called name (case-insensitive) of
// an article in wire or native format, unfolded, and whether there is one.
func Header(article []byte, name string) (string, bool) {
	var val strings.Builder
	found := false
	for len(article) > 0 {
		end := 0
		for end < len(article) && article[end] != '\n' {
			end++
		}
		line := article[:end]
		if end < len(article) {
			article = article[end+1:]
		} else {
			article = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			break // end of the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if found {
				val.Write(line) // a folded continuation
			}
			continue
		}
		if found {
			break
		}
		if len(line) > len(name) && line[len(name)] == ':' && strings.EqualFold(string(line[:len(name)]), name) {
			found = true
			val.Write(line[len(name)+1:])
		}
	}
	return strings.TrimSpace(val.String()), found
}

// Newsgroups returns the groups of an article's Newsgroups header.
func Newsgroups(article []byte) []string {
	v, ok := Header(article, "Newsgroups")
	if !ok {
		return nil
	}
	var groups []string
	for _, g := range strings.Split(v, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	return groups
}

// PathHops returns the number of entries (sites) in an article's Path header, as
// newsfeeds' H flag counts them: the "!"-separated elements that are not empty.
func PathHops(article []byte) int {
	v, ok := Header(article, "Path")
	if !ok {
		return 0
	}
	n := 0
	for _, e := range strings.Split(v, "!") {
		if strings.TrimSpace(e) != "" {
			n++
		}
	}
	return n
}

// Date returns the time in an article's Date header, and whether it could be parsed.
func Date(article []byte) (time.Time, bool) {
	v, ok := Header(article, "Date")
	if !ok {
		return time.Time{}, false
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	// Usenet has seen every format; try the common non-RFC 5322 ones.
	for _, layout := range []string{time.RFC850, time.ANSIC, time.UnixDate, time.RFC1123, "2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 06 15:04:05 -0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Decision is what a send pass does with one line (see Filter.Decide).
type Decision uint8

// Decisions of Filter.Decide.
const (
	Offer   Decision = iota // passes every test: offer it to the peer
	Exclude                 // fails a test: never sent to this site (blanked, counted filtered)
	Hold                    // younger than MinAge: left queued for a later pass
	Gone                    // the article is not in the spool any more
)

// Decide runs the tests on one line for a send pass, which then offers, drops, holds or
// counts the line missing. buf is scratch space for the article, returned for reuse. An
// error means the article could not be read now. Invert and Dedupe do not apply. It is
// safe for concurrent use.
func (f *Filter) Decide(l batch.Line, buf []byte) (Decision, []byte, error) {
	if !f.spool {
		v, err := f.cheap(l)
		return decision(v), buf, err
	}
	v, buf, err := f.test(l, buf)
	return decision(v), buf, err
}

func decision(v verdict) Decision {
	switch v {
	case pass:
		return Offer
	case failYoung:
		return Hold
	case failMissing:
		return Gone
	case failError:
		return Offer // let the send pass read it and report
	}
	return Exclude
}

// Shapes reports whether the options shape a feed at all.
func (o Options) Shapes() bool {
	return o.Hash != nil || o.MinAge > 0 || o.MaxCrosspost > 0 || o.MaxHops > 0 || o.MaxSize > 0 || o.MinSize > 0
}
