package batch

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// backlogBufSize is the read buffer of a backlog: large sequential reads.
const backlogBufSize = 256 << 10

// spaces blanks a line of any accepted length with one write.
var spaces = bytes.Repeat([]byte{' '}, MaxLineLen)

// ErrClosed is returned by the methods of a closed Backlog or DeferLog.
var ErrClosed = errors.New("batch: file already closed")

// A Record is one line read from a backlog.
type Record struct {
	LineNo int   // 1-based
	Offset int64 // of the line in the file (in the decompressed stream when compressed)
	Len    int   // length of the line without "\n"
	Line   Line  // the parsed line, when Err is nil
	// Err is a *LineError for a malformed line. Such a line is reported
	// once, counted, and needs no Done; it is left as it is.
	Err error
	// Raw is a malformed line's text (nil when too long to keep), for the quarantine.
	Raw []byte
}

// BacklogStats counts what a Backlog has seen so far.
type BacklogStats struct {
	Lines     int // lines read (all kinds)
	Blank     int // blanked or empty lines skipped
	Resumed   int // lines skipped because the progress file records them done (compressed)
	Malformed int // malformed lines reported, a final line without "\n" included
	Offered   int // good lines returned by Next
	Done      int // lines completed with Done
}

// span locates an offered line, so that Done blanks exactly its bytes.
type span struct {
	off int64
	n   int
}

// A Backlog reads a backlog file line by line and records which lines are
// done, so that an interrupted pass resumes where it stopped.
//
// A plain file is opened read-write and a finished line is blanked in place:
// overwritten by spaces of the same length (pwrite), as innduct does. A later
// reader skips blank lines, so a crash at any moment loses nothing and
// re-offers nothing that was blanked.
//
// A compressed file (zstd or gzip, recognized by its magic number) cannot be
// changed in place. Its progress is recorded in a checkpoint file next to
// it, PATH.done, replaced atomically (write, fsync, rename, fsync directory)
// by Sync and Close. A checkpoint holds a line number N and the "holes": the
// lines below N that were offered but not done. Every other line below N is
// done. The holes are the lines in flight, plus any the caller leaves undone
// (for example articles that could not be read), so the checkpoint and the
// memory behind it do not grow with the size of the backlog. On reopening,
// the lines below N that are not holes are skipped (decompressing a file is
// sequential, so they are still read, but not offered). A crash therefore
// re-offers only lines completed after the last Sync; a peer refuses those
// as duplicates. The checkpoint also records the file's size and
// modification time, and is ignored (see Warning) if they do not match.
//
// Next must be called from one goroutine at a time. Done, Sync, Finished and
// Stats may be called concurrently with Next and with each other.
type Backlog struct {
	path string
	f    *os.File
	sc   *Scanner
	comp string // "" for a plain file, "zstd" or "gzip"

	mu          sync.Mutex
	outstanding map[int]span // offered and not yet Done, by line number
	next        int          // number of the next line to read
	eof         bool
	closed      bool
	writers     int  // DoneAll calls writing blanks
	dirty       bool // changed since the last Sync
	stats       BacklogStats

	resume  resumePoint // a compressed file's checkpoint when opened
	ident   fileIdent
	warning error

	syncMu sync.Mutex // one checkpoint write at a time
}

// fileIdent ties a checkpoint to one version of its backlog.
type fileIdent struct {
	size  int64
	mtime int64 // ns
}

// Open opens the listed backlog f as OpenBacklog does, refusing a name that no longer
// leads to the file the listing saw (ErrNotQueueFile): a queue file swapped for a link or
// another file between listing and opening is left alone.
func (f File) Open() (*Backlog, error) {
	b, err := OpenBacklog(f.Path)
	if err != nil {
		return nil, err
	}
	if err := checkListed(b.f, f.Info); err != nil {
		b.Close()
		return nil, fmt.Errorf("open backlog: %w", err)
	}
	return b, nil
}

// OpenBacklog opens a backlog for reading and completion. A plain file must
// be writable; a compressed one only readable, with its checkpoint (if any)
// loaded.
func OpenBacklog(path string) (*Backlog, error) {
	f, err := OpenFile(path, os.O_RDWR, 0)
	if err != nil && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		// Compressed files are never written: read-only access is enough.
		if rf, rerr := openRead(path); rerr == nil {
			if c := sniffFile(rf); c != "" {
				f, err = rf, nil
			} else {
				rf.Close()
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open backlog: %w", err)
	}
	b := &Backlog{
		path:        path,
		f:           f,
		comp:        sniffFile(f),
		sc:          newScannerSize(f, path, backlogBufSize),
		outstanding: make(map[int]span),
		next:        1,
	}
	if b.comp != "" {
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open backlog: %w", err)
		}
		b.ident = identOf(info)
		b.resume, b.warning, err = loadResume(path, info)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open backlog: %w", err)
		}
	}
	return b, nil
}

func sniffFile(f *os.File) string {
	var head [4]byte
	n, _ := f.ReadAt(head[:], 0)
	return compression(head[:n])
}

// Path returns the backlog's path.
func (b *Backlog) Path() string { return b.path }

// Compressed returns "zstd" or "gzip" for a compressed backlog, else "".
func (b *Backlog) Compressed() string { return b.comp }

// ProgressPath returns the path of the checkpoint file of a compressed
// backlog at path.
func ProgressPath(path string) string { return path + ProgressSuffix }

// Warning returns why an existing checkpoint file was ignored (all its lines
// are then offered again), or nil.
func (b *Backlog) Warning() error { return b.warning }

// Next returns the next line to send, or a malformed line to report (Err
// set). Blank lines and, for a compressed file, lines recorded done are
// skipped. At the end it returns io.EOF. A final line without "\n" is
// reported as malformed (ErrPartialLine) and never offered.
func (b *Backlog) Next() (Record, error) {
	for b.sc.Scan() {
		n := b.sc.LineNo()
		rec := Record{LineNo: n, Offset: b.sc.Offset(), Len: b.sc.Len(), Line: b.sc.Line(), Err: b.sc.LineErr()}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return Record{}, ErrClosed
		}
		b.next = n + 1
		b.stats.Lines++
		if b.comp != "" {
			b.dirty = true // the checkpoint's line number moved
		}
		switch {
		case errors.Is(rec.Err, ErrBlank):
			b.stats.Blank++
		case b.resume.done(n):
			b.stats.Resumed++
		case rec.Err != nil:
			b.stats.Malformed++
			b.mu.Unlock()
			if !errors.Is(rec.Err, ErrLongLine) {
				rec.Raw = append([]byte(nil), b.sc.Bytes()...)
			}
			return rec, nil
		default:
			b.outstanding[n] = span{rec.Offset, rec.Len}
			b.stats.Offered++
			b.mu.Unlock()
			return rec, nil
		}
		b.mu.Unlock()
	}
	if err := b.sc.Err(); err != nil {
		return Record{}, err
	}
	b.mu.Lock()
	b.eof = true
	b.mu.Unlock()
	return Record{}, io.EOF
}

// Done records that rec's line is finished: blanked in place in a plain
// file, noted for the next checkpoint in a compressed one. It may be called
// from several goroutines and in any order, once per offered record. When
// Done returns, the blank is in the kernel: a crash of the process from
// then on does not re-offer the line.
func (b *Backlog) Done(rec Record) error {
	one := [1]Record{rec}
	return b.DoneAll(one[:])
}

// maxBlankWrite bounds the buffer of one coalesced blanking write.
const maxBlankWrite = 64 << 10

// DoneAll is Done for several records, such as a batch of results from one
// connection. In a plain file, lines that follow each other are blanked
// with one write. recs may be reordered. On error, the lines not reported
// in the error may or may not be done; none is done twice.
func (b *Backlog) DoneAll(recs []Record) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("backlog %s: done: %w", b.path, ErrClosed)
	}
	var errs []error
	// Take the records out of the outstanding set first, so that a
	// concurrent duplicate Done fails instead of blanking twice.
	n := 0
	for _, r := range recs {
		sp, ok := b.outstanding[r.LineNo]
		if !ok {
			errs = append(errs, fmt.Errorf("backlog %s: done line %d: not an outstanding line (done twice?)", b.path, r.LineNo))
			continue
		}
		delete(b.outstanding, r.LineNo)
		r.Offset, r.Len = sp.off, sp.n // trust our own record of the line
		recs[n] = r
		n++
	}
	recs = recs[:n]
	b.writers++
	b.mu.Unlock()

	var failed []Record
	if b.comp == "" && len(recs) > 0 {
		failed = b.blank(recs, &errs)
	}

	b.mu.Lock()
	b.writers--
	for _, r := range failed {
		b.outstanding[r.LineNo] = span{r.Offset, r.Len}
	}
	b.stats.Done += len(recs) - len(failed)
	b.dirty = true
	b.mu.Unlock()
	return errors.Join(errs...)
}

// blank overwrites the lines of recs with spaces, one write per run of
// adjacent lines, and returns the records it could not blank.
func (b *Backlog) blank(recs []Record, errs *[]error) (failed []Record) {
	if len(recs) == 1 {
		r := recs[0]
		if _, err := b.f.WriteAt(spaces[:r.Len], r.Offset); err != nil {
			*errs = append(*errs, fmt.Errorf("backlog %s: blank line %d: %w", b.path, r.LineNo, err))
			return recs
		}
		observe(OpWrite, b.f, r.Offset, spaces[:r.Len])
		return nil
	}
	slices.SortFunc(recs, func(x, y Record) int { return cmp.Compare(x.Offset, y.Offset) })
	bufp := blankBufs.Get().(*[]byte)
	buf := (*bufp)[:0]
	defer func() { *bufp = buf; blankBufs.Put(bufp) }()
	first := 0 // recs[first:i] are in buf
	var off int64
	flush := func(i int) {
		if len(buf) == 0 {
			return
		}
		// The run's last newline is left out: it is there already.
		if _, err := b.f.WriteAt(buf[:len(buf)-1], off); err != nil {
			*errs = append(*errs, fmt.Errorf("backlog %s: blank lines %d-%d: %w", b.path, recs[first].LineNo, recs[i-1].LineNo, err))
			failed = append(failed, recs[first:i]...)
		} else {
			observe(OpWrite, b.f, off, buf[:len(buf)-1])
		}
		buf = buf[:0]
		first = i
	}
	for i, r := range recs {
		if len(buf) > 0 && (r.Offset != off+int64(len(buf)) || len(buf)+r.Len+1 > maxBlankWrite) {
			flush(i)
		}
		if len(buf) == 0 {
			off = r.Offset
		}
		buf = append(buf, spaces[:r.Len]...)
		buf = append(buf, '\n')
	}
	flush(len(recs))
	return failed
}

// blankBufs holds the buffers of coalesced blanking writes.
var blankBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxBlankWrite); return &b }}

// Outstanding returns how many offered lines are not Done yet.
func (b *Backlog) Outstanding() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.outstanding)
}

// Finished reports whether the whole file has been read and every offered
// line is Done: the caller may Remove the backlog. Malformed lines do not
// keep a file from finishing; they were reported.
func (b *Backlog) Finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof && len(b.outstanding) == 0 && b.writers == 0
}

// Stats returns the counts so far.
func (b *Backlog) Stats() BacklogStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Sync makes the progress so far durable: fsync of a plain file's blanks, or
// an atomic rewrite of a compressed file's checkpoint. It does nothing when
// nothing changed. Call it every second or so while sending.
func (b *Backlog) Sync() error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if !b.dirty {
		b.mu.Unlock()
		return nil
	}
	b.dirty = false
	var cp []byte
	if b.comp != "" {
		cp = b.checkpointLocked()
	}
	b.mu.Unlock()

	var err error
	if b.comp == "" {
		if err = b.f.Sync(); err == nil {
			observe(OpSync, b.f, 0, nil)
		}
	} else {
		err = writeAtomic(ProgressPath(b.path), cp)
	}
	if err != nil {
		b.mu.Lock()
		b.dirty = true
		b.mu.Unlock()
		return fmt.Errorf("backlog %s: sync progress: %w", b.path, err)
	}
	return nil
}

const progressMagic = "nxmit-progress 1"

// checkpointLocked encodes the progress. Called with b.mu held.
func (b *Backlog) checkpointLocked() []byte {
	next := max(b.next, b.resume.next)
	pending := b.resume.pending()
	holes := make([]int, 0, len(b.outstanding)+len(pending))
	for n := range b.outstanding {
		holes = append(holes, n)
	}
	// Holes of the old checkpoint not reached yet stay holes.
	holes = append(holes, pending...)
	slices.Sort(holes)
	holes = slices.Compact(holes)

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\nsize %d\nmtime %d\nnext %d\n", progressMagic, b.ident.size, b.ident.mtime, next)
	for _, h := range holes {
		buf.WriteString("hole ")
		buf.WriteString(strconv.Itoa(h))
		buf.WriteByte('\n')
	}
	buf.WriteString("end\n")
	return buf.Bytes()
}

// A resumePoint is the progress of a compressed backlog recorded by its
// checkpoint file: every line below next is done, except the holes. Lines
// are tested in increasing order, so the holes are walked once.
type resumePoint struct {
	next  int
	holes []int // sorted
	idx   int   // holes[:idx] are behind the reader
}

// done reports whether line n, the next line read (numbers increase from
// call to call), is recorded as done.
func (r *resumePoint) done(n int) bool {
	if n >= r.next {
		return false
	}
	for r.idx < len(r.holes) && r.holes[r.idx] < n {
		r.idx++
	}
	if r.idx < len(r.holes) && r.holes[r.idx] == n {
		r.idx++
		return false
	}
	return true
}

// pending returns the holes the reader has not reached yet.
func (r *resumePoint) pending() []int { return r.holes[r.idx:] }

func identOf(info os.FileInfo) fileIdent {
	return fileIdent{size: info.Size(), mtime: info.ModTime().UnixNano()}
}

// loadResume reads the checkpoint file of the compressed backlog at path,
// whose current version info describes. No checkpoint file means nothing is
// done. A checkpoint that cannot be used (corrupt, or written for another
// version of the file) is ignored, and warning says why: every line is then
// offered again, which is safe. Err is for a checkpoint that exists but
// cannot be read.
func loadResume(path string, info os.FileInfo) (r resumePoint, warning, err error) {
	p := ProgressPath(path)
	f, err := openRead(p)
	if errors.Is(err, os.ErrNotExist) {
		return resumePoint{}, nil, nil
	}
	if err != nil {
		return resumePoint{}, nil, fmt.Errorf("progress of %s: %w", path, err)
	}
	defer f.Close()
	next, holes, ident, err := parseProgress(f)
	switch {
	case err != nil:
		return resumePoint{}, fmt.Errorf("backlog %s: ignoring progress file %s: %w", path, p, err), nil
	case ident != identOf(info):
		return resumePoint{}, fmt.Errorf("backlog %s: ignoring progress file %s: it is for another version of the file (size/mtime differ)", path, p), nil
	}
	return resumePoint{next: next, holes: holes}, nil, nil
}

func parseProgress(r io.Reader) (next int, holes []int, ident fileIdent, err error) {
	sc := bufio.NewScanner(r)
	line := 0
	bad := func(why string) error { return fmt.Errorf("line %d: %s", line, why) }
	expect := func(key string) (int64, error) {
		line++
		if !sc.Scan() {
			return 0, bad("missing " + key)
		}
		v, ok := strings.CutPrefix(sc.Text(), key+" ")
		if !ok {
			return 0, bad("want " + key)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, bad("bad " + key)
		}
		return n, nil
	}
	line++
	if !sc.Scan() || sc.Text() != progressMagic {
		return 0, nil, ident, bad("not an nxmit progress file")
	}
	if ident.size, err = expect("size"); err != nil {
		return
	}
	if ident.mtime, err = expect("mtime"); err != nil {
		return
	}
	n, err := expect("next")
	if err != nil {
		return
	}
	next = int(n)
	for {
		line++
		if !sc.Scan() {
			return 0, nil, ident, bad("truncated (no end)")
		}
		t := sc.Text()
		if t == "end" {
			break
		}
		v, ok := strings.CutPrefix(t, "hole ")
		if !ok {
			return 0, nil, ident, bad("want hole or end")
		}
		h, err := strconv.Atoi(v)
		if err != nil || h < 1 || h >= next || (len(holes) > 0 && h <= holes[len(holes)-1]) {
			return 0, nil, ident, bad("bad hole")
		}
		holes = append(holes, h)
	}
	return next, holes, ident, nil
}

// WriteFileAtomic replaces path with data (path.tmp, fsync, rename, fsync the directory).
// Readers see the old content or the new, never a part.
func WriteFileAtomic(path string, data []byte) error { return writeAtomic(path, data) }

// writeAtomic replaces path with data: path.tmp, fsync, rename, fsync dir.
func writeAtomic(path string, data []byte) error {
	tmp := path + TempSuffix
	f, err := OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Close syncs the progress (see Sync) and closes the file. Lines offered and
// not Done stay queued.
func (b *Backlog) Close() error {
	err := b.Sync()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.sc.Close()
	if cerr := b.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close backlog %s: %w", b.path, cerr)
	}
	return err
}

// Remove closes the backlog and removes it with its checkpoint file. Call
// it when Finished reports true.
func (b *Backlog) Remove() error {
	b.mu.Lock()
	b.dirty = false // no point writing a checkpoint about to be removed
	b.mu.Unlock()
	if err := b.Close(); err != nil {
		return err
	}
	return RemoveBacklog(b.path)
}

// RemoveBacklog removes a backlog file and, after it, its checkpoint file,
// then syncs the directory. A crash in between leaves a checkpoint without
// its backlog, which is harmless: Create never reuses such a name.
func RemoveBacklog(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove backlog: %w", err)
	}
	for _, p := range []string{ProgressPath(path), ProgressPath(path) + TempSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove backlog progress: %w", err)
		}
	}
	return SyncDir(filepath.Dir(path))
}
