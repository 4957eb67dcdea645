package batch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// A DeferLog collects the deferred articles (431/436) of a send pass in
// S.defer, and turns them into a deferral file S.D.<hex> when closed.
//
// Append writes each line with a single write(2) to a file opened with
// O_APPEND, so the line is in the kernel, and survives a crash of the
// process, when Append returns: the caller may then blank the backlog line.
// To survive a power failure too, call Sync after a batch of Appends and
// before the corresponding Done calls.
//
// A DeferLog is safe for concurrent use.
type DeferLog struct {
	q    Queue
	path string

	mu     sync.Mutex
	f      *os.File // nil until the first Append
	size   int64
	lines  int
	buf    []byte
	err    error // sticky: the file may hold a partial line
	closed bool
	name   string
}

// OpenDeferLog prepares the deferral log of a send pass. The caller must
// hold the send lock. A stale S.defer left by a send that crashed is first
// closed into S.D.<hex> (see CloseStaleDefer). S.defer itself is created at
// the first Append, so that a pass without deferrals touches nothing.
func (q Queue) OpenDeferLog() (*DeferLog, error) {
	if _, err := q.CloseStaleDefer(); err != nil {
		return nil, err
	}
	return &DeferLog{q: q, path: q.DeferPath()}, nil
}

// CloseStaleDefer handles an S.defer left by a crashed send (the caller
// holds the send lock, so no send is writing it): a partial last line is
// cut off, and the rest installed as S.D.<hex>, whose path it returns. An
// empty file is removed, and "" returned, as it is when there is none.
func (q Queue) CloseStaleDefer() (string, error) {
	path := q.DeferPath()
	f, err := OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("recover %s: %w", path, err)
	}
	size, err := truncatePartialLine(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("recover %s: %w", path, err)
	}
	if size == 0 {
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("recover %s: %w", path, err)
		}
		return "", SyncDir(q.Dir)
	}
	name, err := q.Install(KindDeferred, path)
	if err != nil {
		return "", fmt.Errorf("recover %s: %w", path, err)
	}
	return name, nil
}

// truncatePartialLine cuts f after its last "\n", reading backwards in
// bounded chunks, and returns the new size.
func truncatePartialLine(f *os.File) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		chunk := buf[:n]
		if _, err := f.ReadAt(chunk, end-n); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				keep := end - n + int64(i) + 1
				if keep != size {
					return keep, f.Truncate(keep)
				}
				return keep, nil
			}
		}
		end -= n
	}
	return 0, f.Truncate(0)
}

// Append adds l, as "ART MID\n" (or "ART\n" without a Message-ID), to
// S.defer with one write. If it fails, nothing of the line stays in the file
// and the caller must keep the backlog line.
func (d *DeferLog) Append(l Line) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("append to %s: %w", d.path, ErrClosed)
	}
	if d.err != nil {
		return d.err
	}
	if d.f == nil {
		f, err := OpenFile(d.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("append to %s: %w", d.path, err)
		}
		d.f = f
	}
	d.buf = append(l.Append(d.buf[:0]), '\n')
	n, err := d.f.Write(d.buf)
	if err != nil {
		// Take back a partial line (ENOSPC), so later lines stay whole.
		if n > 0 {
			if terr := d.f.Truncate(d.size); terr != nil {
				d.err = fmt.Errorf("append to %s: %w (and a partial line is left: %v)", d.path, err, terr)
				return d.err
			}
		}
		return fmt.Errorf("append to %s: %w", d.path, err)
	}
	observe(OpWrite, d.f, -1, d.buf)
	d.size += int64(n)
	d.lines++
	return nil
}

// Lines returns the number of lines appended.
func (d *DeferLog) Lines() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lines
}

// Sync flushes the appended lines to stable storage.
func (d *DeferLog) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", d.path, err)
	}
	observe(OpSync, d.f, 0, nil)
	return nil
}

// Close fsyncs S.defer and installs it as S.D.<hex>; a pass without
// deferrals leaves no file. Installed returns the new name afterwards.
func (d *DeferLog) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.f == nil {
		return nil
	}
	err := d.f.Sync()
	if err == nil {
		observe(OpSync, d.f, 0, nil)
	}
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", d.path, err)
	}
	if d.err != nil {
		// A partial line may remain: let CloseStaleDefer cut it.
		name, err := d.q.CloseStaleDefer()
		d.name = name
		return err
	}
	if d.size == 0 {
		if err := os.Remove(d.path); err != nil {
			return fmt.Errorf("close %s: %w", d.path, err)
		}
		return SyncDir(d.q.Dir)
	}
	name, err := d.q.Install(KindDeferred, d.path)
	if err != nil {
		return fmt.Errorf("close %s: %w", d.path, err)
	}
	d.name = name
	return nil
}

// Installed returns the path of the S.D.<hex> file made by Close, or "".
func (d *DeferLog) Installed() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.name
}
