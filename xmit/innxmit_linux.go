package xmit

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockBatch takes innxmit's lock, so that a real innxmit and nxmit exclude each other.
// An open file description lock (unlike a classic fcntl lock) is not released when
// another descriptor of the file is closed, and it conflicts with innxmit's F_SETLKW.
func lockBatch(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}
