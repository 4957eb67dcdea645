package batch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrNotQueueFile is wrapped by the error for a name in the queue that is not a regular
// file, or not the one that was listed: a symbolic link, most likely. Whoever can write the
// outgoing directory (news) could otherwise point a queue name at any file and have nxmit
// read it, or blank its lines. Such a name is reported and left alone.
var ErrNotQueueFile = errors.New("not a regular file of the queue (a symbolic link?); left alone")

// OpenFile opens a file of the queue (a backlog, a deferral file, S.defer, a lock, a
// checkpoint) as os.OpenFile does, but never through a symbolic link (O_NOFOLLOW on the
// last component: the outgoing directory itself is trusted, its entries are not), and
// only when what was opened is a regular file.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW, perm)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &os.PathError{Op: "open", Path: path, Err: ErrNotQueueFile}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: ErrNotQueueFile}
	}
	return f, nil
}

// openRead is OpenFile for reading.
func openRead(path string) (*os.File, error) { return OpenFile(path, os.O_RDONLY, 0) }

// checkListed makes sure f is the file the listing saw under its name (same device and
// inode): a name swapped between listing and opening is not followed.
func checkListed(f *os.File, listed os.FileInfo) error {
	if listed == nil {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(fi, listed) {
		return &os.PathError{Op: "open", Path: f.Name(), Err: fmt.Errorf("%w: replaced since it was listed", ErrNotQueueFile)}
	}
	return nil
}

// ReadFile reads a whole file that news may have written (a queue file, the totals, an
// article log), never through a link, as os.ReadFile otherwise does.
func ReadFile(path string) ([]byte, error) {
	f, err := openRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
