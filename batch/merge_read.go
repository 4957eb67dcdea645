package batch

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// An inputReader reads a batch file without changing it: a merge input, a deferral
// file being requeued, or a queued file scanned for --dedupe-queued. Compression is
// recognized by its magic number. Lines already done are skipped: blank ones, and for
// a compressed backlog those its checkpoint file (PATH.done, see Backlog) records as
// done, and, for an innfeed tape file, those before the byte offset innfeed keeps on
// the first line. Memory is bounded: one line buffer (and the checkpoint's holes).
type inputReader struct {
	name string
	f    *os.File // nil for stdin or another stream
	sc   *Scanner
	info os.FileInfo

	innfeed    bool // the first line may be an innfeed checkpoint
	skipBefore int64

	resumeNext  int
	resumeHoles []int
	holeIdx     int

	warnings []error // things worth telling the administrator, once
	counts   inputCounts
}

// inputCounts counts the lines of one input by what became of them.
type inputCounts struct {
	Lines     int64 // every line, blank and malformed included
	Blank     int64 // empty or blanked (done) lines
	Resumed   int64 // skipped as done by a checkpoint (compressed backlog, innfeed tape)
	Malformed int64 // reported and dropped
	Good      int64 // returned to the caller
}

// openInput opens path for reading. innfeedTape enables the innfeed checkpoint test on
// the first line.
func openInput(path string, innfeedTape bool) (*inputReader, error) {
	f, err := openRead(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return newFileInputReader(f, path, innfeedTape)
}

// openNamedInput is openInput for a file named by the administrator, which may be a
// symbolic link.
func openNamedInput(path string, innfeedTape bool) (*inputReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return newFileInputReader(f, path, innfeedTape)
}

// newFileInputReader reads the open file f, named path; it closes f on error.
func newFileInputReader(f *os.File, path string, innfeedTape bool) (*inputReader, error) {
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if info.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s: is a directory", path)
	}
	r := &inputReader{name: path, f: f, info: info, innfeed: innfeedTape}
	r.sc = newScannerSize(f, path, backlogBufSize)
	if sniffFile(f) != "" {
		r.innfeed = false
		r.loadCheckpoint()
	}
	return r, nil
}

// newInputReader reads a stream (stdin) named name in messages.
func newInputReader(rd io.Reader, name string, innfeedTape bool) *inputReader {
	return &inputReader{name: name, sc: newScannerSize(rd, name, backlogBufSize), innfeed: innfeedTape}
}

// loadCheckpoint reads a compressed backlog's progress file, if any, as Backlog does.
func (r *inputReader) loadCheckpoint() {
	p := ProgressPath(r.name)
	f, err := openRead(p)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		r.warnings = append(r.warnings, fmt.Errorf("%s: progress file: %w; reading every line", r.name, err))
		return
	}
	defer f.Close()
	next, holes, ident, err := parseProgress(f)
	switch {
	case err != nil:
		r.warnings = append(r.warnings, fmt.Errorf("%s: ignoring progress file %s: %w", r.name, p, err))
	case ident != (fileIdent{size: r.info.Size(), mtime: r.info.ModTime().UnixNano()}):
		r.warnings = append(r.warnings, fmt.Errorf("%s: ignoring progress file %s: it is for another version of the file", r.name, p))
	default:
		r.resumeNext, r.resumeHoles = next, holes
	}
}

// resumedDone reports whether line n is done according to the checkpoint.
func (r *inputReader) resumedDone(n int) bool {
	if n >= r.resumeNext {
		return false
	}
	for r.holeIdx < len(r.resumeHoles) && r.resumeHoles[r.holeIdx] < n {
		r.holeIdx++
	}
	if r.holeIdx < len(r.resumeHoles) && r.resumeHoles[r.holeIdx] == n {
		r.holeIdx++
		return false
	}
	return true
}

// next returns the next good line, or a malformed one (err a *LineError), skipping and
// counting blank and done lines. At the end it returns io.EOF, or the read error.
func (r *inputReader) next() (Line, error) {
	for r.sc.Scan() {
		r.counts.Lines++
		n := r.sc.LineNo()
		lerr := r.sc.LineErr()
		if n == 1 && r.innfeed {
			if off, ok := innfeedCheckpoint(r.sc.Bytes()); ok {
				if r.info != nil && off > r.info.Size() {
					// innfeed itself restarts at 0 then ("ME tape short").
					r.warnings = append(r.warnings, fmt.Errorf("%s: innfeed checkpoint %d is past the end; reading every line", r.name, off))
				} else {
					r.skipBefore = off
				}
				r.counts.Resumed++
				continue
			}
		}
		switch {
		case errors.Is(lerr, ErrBlank):
			r.counts.Blank++
		case r.sc.Offset() < r.skipBefore || r.resumedDone(n):
			r.counts.Resumed++
		case lerr != nil:
			r.counts.Malformed++
			return Line{}, lerr
		default:
			r.counts.Good++
			return r.sc.Line(), nil
		}
	}
	if err := r.sc.Err(); err != nil {
		return Line{}, err
	}
	return Line{}, io.EOF
}

// innfeedCheckpoint recognizes the first line innfeed writes into a tape file it is
// reading: a decimal byte offset followed by spaces only (inn-formats §8.3).
func innfeedCheckpoint(b []byte) (int64, bool) {
	var off int64
	i := 0
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if off > (1<<62)/10 {
			return 0, false
		}
		off = off*10 + int64(b[i]-'0')
	}
	// innfeed writes the digits over a run of spaces, so some always follow; a line of
	// digits alone is more likely an article path.
	if i == 0 || i == len(b) {
		return 0, false
	}
	for ; i < len(b); i++ {
		if b[i] != ' ' {
			return 0, false
		}
	}
	return off, true
}

// aheadChunk is a run of results of inputReader.next.
type aheadChunk struct {
	lines []Line
	errs  []error // nil for a good line; the last entry may be io.EOF or a read error
}

// readAhead is a goroutine reading and parsing r's lines a chunk ahead of the consumer,
// so that parsing overlaps de-duplication and writing. At most a few chunks wait, so
// memory stays bounded.
type readAhead struct {
	ch   chan *aheadChunk
	done chan struct{}
	cur  *aheadChunk
	i    int
}

const aheadLines = 512

func (r *inputReader) readAhead() *readAhead {
	ra := &readAhead{ch: make(chan *aheadChunk, 4), done: make(chan struct{})}
	go func() {
		defer close(ra.ch)
		for {
			c := &aheadChunk{lines: make([]Line, 0, aheadLines), errs: make([]error, 0, aheadLines)}
			var end bool
			for len(c.lines) < aheadLines {
				l, err := r.next()
				c.lines = append(c.lines, l)
				c.errs = append(c.errs, err)
				var le *LineError
				if err != nil && !errors.As(err, &le) {
					end = true
					break
				}
			}
			select {
			case ra.ch <- c:
			case <-ra.done:
				return
			}
			if end {
				return
			}
		}
	}()
	return ra
}

// next returns what inputReader.next returned, in order.
func (ra *readAhead) next() (Line, error) {
	for ra.cur == nil || ra.i == len(ra.cur.lines) {
		c, ok := <-ra.ch
		if !ok {
			return Line{}, io.EOF
		}
		ra.cur, ra.i = c, 0
	}
	l, err := ra.cur.lines[ra.i], ra.cur.errs[ra.i]
	ra.i++
	return l, err
}

// stop ends the goroutine and waits for it, so that the reader's counts may be read.
func (ra *readAhead) stop() {
	close(ra.done)
	for range ra.ch {
	}
}

// close releases the file.
func (r *inputReader) close() error {
	r.sc.Close()
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}
