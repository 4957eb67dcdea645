package batch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// LockKind selects one of a site's two locks.
type LockKind uint8

// The locks of a site. The consumer (send) and the queue writers (rotate,
// requeue, merge) lock separately so that rotation never waits for a long
// drain.
const (
	SendLock  LockKind = iota // S.send.lock, held by send
	QueueLock                 // S.queue.lock, held by rotate, requeue and merge
)

func (k LockKind) fileWord() string {
	if k == QueueLock {
		return "queue"
	}
	return "send"
}

// String returns "send lock" or "queue lock".
func (k LockKind) String() string { return k.fileWord() + " lock" }

// Holder identifies the process holding a lock, as written into the lock
// file by Lock. The file format is one "key value" pair a line:
//
//	pid 1234
//	command nxmit send peer
//	since 2026-11-24T12:00:00Z
//	host news.example.org
//
// Readers ignore keys they do not know. The file is emptied on Unlock, so
// a file with content whose lock is free was left by a process that died.
type Holder struct {
	PID     int
	Command string
	Since   time.Time
	Host    string
}

// String describes the holder as in "pid 1234 (nxmit send peer) since
// 2026-11-24T12:00:00Z".
func (h Holder) String() string {
	if h.PID == 0 {
		return "an unknown process"
	}
	s := "pid " + strconv.Itoa(h.PID)
	if h.Host != "" {
		if host, _ := os.Hostname(); host != h.Host {
			s += " on " + h.Host
		}
	}
	if h.Command != "" {
		s += " (" + h.Command + ")"
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

func (h Holder) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "pid %d\ncommand %s\nsince %s\n", h.PID, oneLine(h.Command), h.Since.UTC().Format(time.RFC3339))
	if h.Host != "" {
		fmt.Fprintf(&b, "host %s\n", oneLine(h.Host))
	}
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// maxHolderSize bounds what ReadHolder reads from a lock file.
const maxHolderSize = 4096

// ReadHolder reads the holder recorded in a lock file. An empty file (a
// lock never taken, or released) gives the zero Holder and no error.
func ReadHolder(path string) (Holder, error) {
	f, err := openRead(path)
	if err != nil {
		return Holder{}, fmt.Errorf("read lock holder: %w", err)
	}
	defer f.Close()
	var h Holder
	sc := bufio.NewScanner(io.LimitReader(f, maxHolderSize))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), " ")
		switch key {
		case "pid":
			pid, err := strconv.Atoi(val)
			if err != nil || pid <= 0 {
				return Holder{}, fmt.Errorf("read lock holder %s: bad pid %q", path, val)
			}
			h.PID = pid
		case "command":
			h.Command = val
		case "since":
			t, err := time.Parse(time.RFC3339, val)
			if err != nil {
				return Holder{}, fmt.Errorf("read lock holder %s: bad time %q", path, val)
			}
			h.Since = t
		case "host":
			h.Host = val
		}
	}
	if err := sc.Err(); err != nil {
		return Holder{}, fmt.Errorf("read lock holder %s: %w", path, err)
	}
	return h, nil
}

// A LockedError reports a lock held by another process (or another Lock in
// this one). It is temporary: the command should exit with status 75 and
// be retried later.
type LockedError struct {
	Site   string
	Kind   LockKind
	Path   string
	Holder Holder // zero when the holder had not written its name yet
}

// Error returns e.g. "site peer: send lock held by pid 1234 (nxmit send
// peer) since 2026-11-24T12:00:00Z".
func (e *LockedError) Error() string {
	return "site " + e.Site + ": " + e.Kind.String() + " held by " + e.Holder.String()
}

// Temporary reports true: a lock is released sooner or later.
func (e *LockedError) Temporary() bool { return true }

// A Lock is a held site lock.
type Lock struct {
	fl   *flock.Flock
	path string
}

// Lock takes the site's lock of kind k without waiting, and records this
// process as its holder, with command as its description (for example
// "nxmit send peer"). A lock held elsewhere gives a *LockedError naming
// the holder. A lock file left by a process that died is simply taken: the
// kernel released its flock(2) lock.
//
// flock(2) locks belong to an open file description, so a second Lock of
// the same site and kind in this process fails too.
func (q Queue) Lock(k LockKind, command string) (*Lock, error) {
	path := q.LockPath(k)
	// A few rounds in case the file is replaced between open and flock.
	for range 3 {
		fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW), flock.SetPermissions(0o644))
		ok, err := fl.TryLock()
		if errors.Is(err, syscall.ELOOP) {
			err = ErrNotQueueFile // a link in the queue is not followed, nor removed
		}
		if err != nil {
			return nil, fmt.Errorf("site %s: take %s %s: %w", q.Site, k, path, err)
		}
		if !ok {
			h, _ := ReadHolder(path) // best effort: the message still says who, if known
			return nil, &LockedError{Site: q.Site, Kind: k, Path: path, Holder: h}
		}
		same, err := samePath(fl, path)
		if err != nil {
			fl.Unlock()
			return nil, fmt.Errorf("site %s: take %s %s: %w", q.Site, k, path, err)
		}
		if !same {
			fl.Unlock()
			continue
		}
		host, _ := os.Hostname()
		h := Holder{PID: os.Getpid(), Command: command, Since: time.Now().Truncate(time.Second), Host: host}
		if err := writeHolder(path, h.marshal()); err != nil {
			fl.Unlock()
			return nil, fmt.Errorf("site %s: take %s: %w", q.Site, k, err)
		}
		return &Lock{fl: fl, path: path}, nil
	}
	return nil, fmt.Errorf("site %s: take %s %s: lock file keeps being replaced", q.Site, k, path)
}

// samePath reports whether the locked file is still the one at path.
func samePath(fl *flock.Flock, path string) (bool, error) {
	locked, err := fl.Stat()
	if err != nil {
		return false, err
	}
	cur, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(locked, cur), nil
}

// writeHolder replaces the content of the (locked) file. A second
// descriptor is fine with flock(2): closing it does not drop the lock.
func writeHolder(path string, content []byte) error {
	f, err := OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write lock holder: %w", err)
	}
	err = f.Truncate(0)
	if err == nil && len(content) > 0 {
		_, err = f.WriteAt(content, 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write lock holder %s: %w", path, err)
	}
	return nil
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

// Unlock empties the lock file and releases the lock. It is safe to call
// more than once.
func (l *Lock) Unlock() error {
	if l == nil || l.fl == nil {
		return nil
	}
	werr := writeHolder(l.path, nil)
	err := l.fl.Unlock()
	l.fl = nil
	if err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return werr
}
