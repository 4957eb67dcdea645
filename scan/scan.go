// Package scan builds batch lines ("token message-id") from INN's history file and
// spool, behind "nxmit scan": the articles that arrived (or were posted) in a time
// range, in some groups, within size bounds, and still stored. It replaces the INN FAQ's
// pipeline (history → sm -H → grep) for refeeding a new or recovering peer.
//
// The history file is streamed (spoolfmt.HistoryReader): memory does not grow with
// it. Lines without a token (remembered ids) and lines outside the time range are
// skipped without touching the spool; the others are opened in the spool by several
// goroutines at once, their header read for the Message-ID (the history has only its
// hash, which is checked) and the Newsgroups, while the output keeps the history's
// order.
//
// File writes to a partial output with a checkpoint beside it (history offset, output
// size, counts), so that a scan that is killed resumes where its last checkpoint was;
// Queue installs the finished output as a new backlog of a site, never a partial one.
package scan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"nxmit/batch"
	"nxmit/linefilter"
	"nxmit/spoolfmt"
	"nxmit/wildmat"
)

// Spool is what a scan needs of an article store; *spoolfmt.Store has it.
type Spool interface {
	// Head returns at most limit bytes of the start of the article in wire format and
	// its size (-1: unknown without reading it all); a missing one gives an error
	// wrapping spoolfmt.ErrMissing.
	Head(tok spoolfmt.Token, buf []byte, limit int) ([]byte, int64, error)
	// Open returns a reader of the article in wire format, for the rare header longer
	// than Head's limit and for sizes Head cannot tell.
	Open(tok spoolfmt.Token) (*spoolfmt.ArticleReader, error)
}

// Options select the articles and tune the scan.
type Options struct {
	// History is the path of INN's history file (inn.conf's pathdb/history).
	History string
	// OpenHistory, when set, opens History instead of os.Open: a run started as root
	// opens a history file root named before it switches to INN's user.
	OpenHistory func(path string) (*os.File, error)
	// Spool is where articles are read; required.
	Spool Spool
	// Since and Until bound the article's time: Since <= t < Until; a zero value is
	// no bound. The time is the arrival time, or the posting time (the Date header
	// innd recorded) with ByPosted.
	Since, Until time.Time
	ByPosted     bool
	// Groups keeps articles whose Newsgroups it matches with newsfeeds(5) semantics
	// (wildmat.Expr.MatchGroups), as filter --groups.
	Groups *wildmat.Expr
	// MinSize and MaxSize bound the article's size in wire format; 0 is no bound.
	MinSize, MaxSize int64
	// Workers is the number of articles read at once; 0 means 2 per CPU, at most 16 (on
	// a spool in the page cache more only contend; a spool on disk gains from a few).
	Workers int
	// Warn receives malformed history lines ("FILE:LINE: reason") and articles that
	// could not be read or do not match their history line.
	Warn func(error)
	// Progress, when set, is called about every 200 ms with the counts so far.
	Progress func(Stats)

	// Key describes the selection as given by the user (e.g. the command line):
	// File resumes a checkpoint only when its Key is the same, and then keeps the
	// checkpoint's Since and Until (a "7d ago" given again means the first run's).
	Key string
	// CheckpointEvery is the interval between checkpoints of File (default 2 s);
	// CheckpointLines, when positive, also checkpoints every so many history lines.
	CheckpointEvery time.Duration
	CheckpointLines int64

	// crash, a test hook, is asked after each chunk whether to stop as a kill would:
	// the output written so far is in the file, without a checkpoint for it.
	crash func(line int64) bool
}

// Stats count the history lines by outcome. Every line counts exactly once.
type Stats struct {
	Bytes      int64 // history bytes read (from the start of the file)
	Total      int64 // history bytes to read (its size when the scan began)
	Lines      int64 // history lines read
	Malformed  int64 // reported and skipped
	Remembered int64 // no token: the article was expired
	Time       int64 // outside Since/Until
	Missing    int64 // token given, article no longer stored (cancelled, overwritten)
	Groups     int64 // Newsgroups not matched
	Size       int64 // outside MinSize/MaxSize
	Mismatch   int64 // stored article's Message-ID does not hash to the line's hash, or is unusable
	Errors     int64 // article could not be read: reported, not written
	Written    int64 // lines written
}

// String formats the counts on one line.
func (s Stats) String() string {
	return fmt.Sprintf("%d history lines, %d written, %d expired, %d outside the time range, %d missing, %d groups, %d size, %d mismatched, %d malformed, %d errors",
		s.Lines, s.Written, s.Remembered, s.Time, s.Missing, s.Groups, s.Size, s.Mismatch, s.Malformed, s.Errors)
}

func (s *Stats) add(o *Stats) {
	s.Lines += o.Lines
	s.Malformed += o.Malformed
	s.Remembered += o.Remembered
	s.Time += o.Time
	s.Missing += o.Missing
	s.Groups += o.Groups
	s.Size += o.Size
	s.Mismatch += o.Mismatch
	s.Errors += o.Errors
	s.Written += o.Written
}

// verdict is the outcome of one history line that needed the spool.
type verdict uint8

const (
	pass verdict = iota
	failMissing
	failGroups
	failSize
	failMismatch
	failError
)

// item is a history line whose article is to be examined.
type item struct {
	entry spoolfmt.HistoryEntry
	line  int64
	v     verdict
	out   []byte // the batch line to write, "\n" included
	err   error
}

// chunk is a run of history lines: the cheap outcomes already counted, the others in
// items, evaluated by one worker.
type chunk struct {
	items  []item
	st     Stats // lines, malformed, remembered, time
	warns  []error
	offset int64 // history offset after the chunk
	line   int64 // history line number after the chunk
	done   chan struct{}
}

// chunkLines is the number of history lines per chunk (a variable for tests).
var chunkLines = 512

// position is where a scan starts and stops in the history file.
type position struct {
	offset, line, end int64
}

// Scan writes the batch lines of the matching articles to w, in history order, and
// returns the counts. It is not resumable; see File.
func Scan(w io.Writer, opt Options) (Stats, error) {
	h, end, _, err := openHistory(opt)
	if err != nil {
		return Stats{}, err
	}
	defer h.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	st := Stats{Total: end}
	var werr error
	err = run(h, position{end: end}, opt, &st, func(c *chunk) error {
		for i := range c.items {
			if it := &c.items[i]; it.v == pass {
				if _, err := bw.Write(it.out); err != nil {
					werr = err
					return fmt.Errorf("write output: %w", err)
				}
			}
		}
		return nil
	})
	if ferr := bw.Flush(); err == nil && werr == nil && ferr != nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	return st, err
}

// openHistory opens the history file and returns it with its size and identity.
func openHistory(opt Options) (*os.File, int64, fileIdent, error) {
	path := opt.History
	if path == "" {
		return nil, 0, fileIdent{}, errors.New("scan: no history file given")
	}
	open := os.Open
	if opt.OpenHistory != nil {
		open = opt.OpenHistory
	}
	f, err := open(path)
	if err != nil {
		return nil, 0, fileIdent{}, fmt.Errorf("scan: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fileIdent{}, fmt.Errorf("scan: %w", err)
	}
	return f, info.Size(), identOf(info), nil
}

// run reads the history from pos, examines the articles on workers and hands each
// chunk, in order, with its items decided, to emit; counts go to st.
func run(h *os.File, pos position, opt Options, st *Stats, emit func(*chunk) error) error {
	if opt.Spool == nil {
		return errors.New("scan: no spool")
	}
	if opt.MaxSize > 0 && opt.MinSize > opt.MaxSize {
		return fmt.Errorf("scan: minimum size %d above maximum size %d", opt.MinSize, opt.MaxSize)
	}
	if _, err := h.Seek(pos.offset, io.SeekStart); err != nil {
		return fmt.Errorf("scan: %s: %w", opt.History, err)
	}
	hr := spoolfmt.NewHistoryReader(h, opt.History, pos.offset, pos.line, pos.end)
	st.Bytes = pos.offset

	workers := opt.Workers
	if workers <= 0 {
		workers = min(2*runtime.GOMAXPROCS(0), 16)
	}
	jobs := make(chan *chunk, workers)
	order := make(chan *chunk, 2*workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := examiner{opt: &opt}
			for c := range jobs {
				for i := range c.items {
					e.examine(&c.items[i])
				}
				close(c.done)
			}
		}()
	}

	var readErr error
	go func() {
		defer close(order)
		defer close(jobs)
		since, until := opt.Since.Unix(), opt.Until.Unix()
		for {
			c := &chunk{done: make(chan struct{})}
			var eof bool
			for n := 0; n < chunkLines; n++ {
				e, err := hr.Next()
				if err == io.EOF {
					eof = true
					break
				}
				var he *spoolfmt.HistoryError
				if errors.As(err, &he) {
					c.st.Lines++
					c.st.Malformed++
					c.warns = append(c.warns, err)
					continue
				}
				if err != nil {
					readErr = err
					eof = true
					break
				}
				c.st.Lines++
				if !e.HasToken {
					c.st.Remembered++
					continue
				}
				t := e.Arrived.Unix()
				if opt.ByPosted {
					// A line without a posting time counts as posted at 0.
					t = 0
					if !e.Posted.IsZero() {
						t = e.Posted.Unix()
					}
				}
				if (!opt.Since.IsZero() && t < since) || (!opt.Until.IsZero() && t >= until) {
					c.st.Time++
					continue
				}
				c.items = append(c.items, item{entry: e, line: hr.Line()})
			}
			c.offset, c.line = hr.Offset(), hr.Line()
			if c.st.Lines > 0 || len(c.items) > 0 {
				select {
				case order <- c:
				case <-stop:
					return
				}
				jobs <- c
			}
			if eof {
				return
			}
		}
	}()

	var err error
	last := time.Now()
	for c := range order {
		<-c.done
		if err != nil {
			continue // drain, so that the reader and the workers finish
		}
		for _, w := range c.warns {
			warn(opt.Warn, w)
		}
		for i := range c.items {
			it := &c.items[i]
			switch it.v {
			case pass:
				c.st.Written++
			case failMissing:
				c.st.Missing++
			case failGroups:
				c.st.Groups++
			case failSize:
				c.st.Size++
			case failMismatch:
				c.st.Mismatch++
				warn(opt.Warn, it.err)
			case failError:
				c.st.Errors++
				warn(opt.Warn, it.err)
			}
		}
		if err = emit(c); err != nil {
			close(stop)
			continue
		}
		st.add(&c.st)
		st.Bytes = c.offset
		if opt.Progress != nil && time.Since(last) >= 200*time.Millisecond {
			opt.Progress(*st)
			last = time.Now()
		}
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if readErr != nil {
		return fmt.Errorf("scan: %w", readErr)
	}
	if opt.Progress != nil {
		opt.Progress(*st)
	}
	return nil
}

func warn(f func(error), err error) {
	if f != nil && err != nil {
		f(err)
	}
}

// errStop is returned by emit when the crash hook fired.
var errStop = errors.New("scan: stopped by the test hook")

// examiner reads articles for one worker, reusing its buffer.
type examiner struct {
	opt *Options
	buf []byte
}

// headerLimit bounds the header read for the Message-ID and Newsgroups; headLimit is
// the first read, which holds the whole of most articles.
const (
	headerLimit = 1 << 20
	headLimit   = 16 << 10
)

// examine decides one item: reads the article's header, checks its Message-ID
// against the history hash, and applies the groups and size tests.
func (x *examiner) examine(it *item) {
	o := x.opt
	where := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", o.History, it.line, it.entry.Token, fmt.Sprintf(format, args...))
	}
	fail := func(err error) {
		if errors.Is(err, spoolfmt.ErrMissing) {
			it.v = failMissing
			return
		}
		it.v, it.err = failError, where("%v", err)
	}
	hdr, size, err := o.Spool.Head(it.entry.Token, x.buf, headLimit)
	if err != nil {
		fail(err)
		return
	}
	if cap(hdr) > cap(x.buf) {
		x.buf = hdr[:0]
	}
	complete := bytes.Contains(hdr, []byte("\r\n\r\n"))
	if !complete && len(hdr) == headLimit {
		// A long header: read on.
		r, err := o.Spool.Open(it.entry.Token)
		if err != nil {
			fail(err)
			return
		}
		defer r.Close()
		hdr, complete, err = x.readHeader(r)
		if err != nil {
			fail(err)
			return
		}
	}
	if !complete {
		it.v, it.err = failMismatch, where("no end of header in the first %d bytes", len(hdr))
		return
	}
	mid := spoolfmt.MessageID(hdr)
	if mid == "" {
		it.v, it.err = failMismatch, where("stored article has no Message-ID")
		return
	}
	if spoolfmt.HashMessageID(mid) != it.entry.Hash {
		it.v, it.err = failMismatch, where("stored article %s does not hash to the history line's [%X]", mid, it.entry.Hash)
		return
	}
	if o.MinSize > 0 || o.MaxSize > 0 {
		if size < 0 {
			if size, err = x.wholeSize(it.entry.Token); err != nil {
				fail(err)
				return
			}
		}
		if (o.MinSize > 0 && size < o.MinSize) || (o.MaxSize > 0 && size > o.MaxSize) {
			it.v = failSize
			return
		}
	}
	if o.Groups != nil && !o.Groups.MatchGroups(linefilter.Newsgroups(hdr)) {
		it.v = failGroups
		return
	}
	out := append([]byte(it.entry.Token.String()), ' ')
	out = append(out, mid...)
	if _, err := batch.ParseLine(out); err != nil {
		it.v, it.err = failMismatch, where("unusable Message-ID: %v", err)
		return
	}
	it.out = append(out, '\n')
	it.v = pass
}

// wholeSize reads an article to its end to tell its size in wire format.
func (x *examiner) wholeSize(tok spoolfmt.Token) (int64, error) {
	r, err := x.opt.Spool.Open(tok)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(io.Discard, r)
}

// readHeader reads r up to and including the blank line ending the header, into
// x.buf; complete is false when headerLimit was reached first. Bytes after the
// header may be read too: the returned slice holds everything read.
func (x *examiner) readHeader(r io.Reader) (hdr []byte, complete bool, err error) {
	if cap(x.buf) < 16<<10 {
		x.buf = make([]byte, 0, 16<<10)
	}
	b := x.buf[:0]
	for {
		if len(b) == cap(b) {
			if len(b) >= headerLimit {
				return b, false, nil
			}
			b = append(b, make([]byte, len(b))...)[:len(b)]
			x.buf = b
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if bytes.Contains(b, []byte("\r\n\r\n")) {
			return b, true, nil
		}
		if err == io.EOF {
			return b, false, nil
		}
		if err != nil {
			return b, false, err
		}
	}
}
