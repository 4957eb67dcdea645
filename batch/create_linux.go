package batch

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func renameat2NoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.ENOTSUP):
		return errors.ErrUnsupported // old kernel or file system: use link+unlink
	}
	return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
}
