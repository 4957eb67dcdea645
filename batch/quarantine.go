package batch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A Quarantine appends malformed lines to S.bad, one line each:
//
//	FILE:LINE<TAB>reason<TAB>the line as it was
//
// (a line too long to keep is recorded without its text). The file is created at the
// first Add and only ever appended to; the administrator reads, fixes or removes it.
// A Quarantine is safe for concurrent use.
type Quarantine struct {
	path string

	mu    sync.Mutex
	f     *os.File
	buf   []byte
	lines int
	err   error // the first failure of Add, returned by Close too
}

// OpenQuarantine returns the site's quarantine; nothing is created until Add.
func (q Queue) OpenQuarantine() *Quarantine { return &Quarantine{path: q.BadPath()} }

// Path returns the quarantine file's path.
func (b *Quarantine) Path() string { return b.path }

// Add records the malformed line raw, reported by err (a *LineError naming FILE:LINE).
func (b *Quarantine) Add(err error, raw []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if b.f == nil {
		f, oerr := OpenFile(b.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if oerr != nil {
			b.err = fmt.Errorf("quarantine: %w", oerr)
			return b.err
		}
		b.f = f
	}
	where, reason := "", err.Error()
	var le *LineError
	if errors.As(err, &le) {
		where = fmt.Sprintf("%s:%d", le.File, le.Line)
		reason = le.Reason
	}
	b.buf = append(b.buf[:0], where...)
	b.buf = append(b.buf, '\t')
	b.buf = append(b.buf, reason...)
	b.buf = append(b.buf, '\t')
	for _, c := range raw {
		if c != '\n' {
			b.buf = append(b.buf, c)
		}
	}
	b.buf = append(b.buf, '\n')
	if _, werr := b.f.Write(b.buf); werr != nil {
		b.err = fmt.Errorf("quarantine %s: %w", b.path, werr)
		return b.err
	}
	observe(OpWrite, b.f, -1, b.buf)
	b.lines++
	return nil
}

// Lines returns how many lines Add recorded.
func (b *Quarantine) Lines() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lines
}

// Sync makes the recorded lines durable: call it before removing the file they came from.
func (b *Quarantine) Sync() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil {
		return nil
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("quarantine %s: sync: %w", b.path, err)
	}
	observe(OpSync, b.f, 0, nil)
	return nil
}

// Close syncs and closes the file; a new S.bad is also made durable in its directory.
// It returns the first failure of Add, if any: the lines it lost are still in their
// inputs, which must then stay.
func (b *Quarantine) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f == nil {
		return b.err
	}
	err := b.f.Sync()
	if err == nil {
		observe(OpSync, b.f, 0, nil)
	}
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	b.f = nil
	if err == nil {
		err = SyncDir(filepath.Dir(b.path))
	}
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", b.path, err)
	}
	return b.err
}

// CountBad counts the lines of the quarantine file at path (0 when there is none).
func CountBad(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range data {
		if c == '\n' {
			n++
		}
	}
	return n, nil
}

// WriteQuiet is how long a backlog whose last line is incomplete must have been left
// alone before it is taken as finished: younger, something (an administrator's copy, a
// script) is still writing it, and a pass leaves it for the next one.
const WriteQuiet = time.Minute

// BeingWritten reports whether the plain backlog at path looks like it is still being
// written: its last line lacks its "\n" and it was modified less than WriteQuiet before
// now. (Compressed backlogs are only ever installed whole, by rename.)
func BeingWritten(path string, now time.Time) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, err
	}
	if info.Size() == 0 || now.Sub(info.ModTime()) >= WriteQuiet || sniffFile(f) != "" {
		return false, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], info.Size()-1); err != nil {
		return false, err
	}
	return last[0] != '\n', nil
}
