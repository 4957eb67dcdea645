package batch

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Rest counts the good lines of the backlog that Next has not returned yet, through a
// second handle on the file: the Backlog's reading, its outstanding lines and its
// checkpoint are untouched, and memory stays flat. A plain file is read from the
// offset of the next line; a compressed one is decompressed from its start. It must not
// be called concurrently with Next.
func (b *Backlog) Rest() (int64, error) {
	b.mu.Lock()
	next, eof, resume := b.next, b.eof, b.resume
	b.mu.Unlock()
	if eof {
		return 0, nil
	}
	var off int64
	if b.comp == "" && next > 1 {
		off = b.sc.Offset() + int64(b.sc.Len()) + 1
	}
	return countGood(b.path, off, next, resume)
}

// CountQueued counts the lines of the backlog at path that are still to send: not
// blank, not malformed, and for a compressed file not recorded done by its checkpoint.
func CountQueued(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", path, err)
	}
	info, err := f.Stat()
	comp := sniffFile(f)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", path, err)
	}
	var resume resumePoint
	if comp != "" {
		if resume, _, err = loadResume(path, info); err != nil {
			return 0, fmt.Errorf("count %s: %w", path, err)
		}
	}
	return countGood(path, 0, 1, resume)
}

// countGood counts the good lines numbered from first on, reading path from off (a
// plain file's offset of line first, or 0).
func countGood(path string, off int64, first int, resume resumePoint) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", path, err)
	}
	defer f.Close()
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return 0, fmt.Errorf("count %s: %w", path, err)
		}
	}
	sc := newScannerSize(f, path, backlogBufSize)
	defer sc.Close()
	var n int64
	for sc.Scan() {
		no := sc.LineNo()
		if off > 0 {
			no += first - 1
		} else if no < first {
			continue
		}
		if sc.LineErr() != nil || resume.done(no) {
			continue
		}
		n++
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("count %s: %w", path, err)
	}
	return n, nil
}
