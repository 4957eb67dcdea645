package spoolfmt

import (
	"io"
	"io/fs"
	"sync/atomic"
	"syscall"
)

// inode returns the file's inode number, used to notice a file replaced by
// rename (tradspool.map, a CAF file rewritten by cleaning).
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// The whole-file readers use raw system calls: an *os.File costs an
// allocation, a finalizer and a poller registration attempt per article,
// which is a sizeable share of reading a 2 KB timehash article.

func openRead(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// fstats counts fstatFD's calls, for tests of the read path's system calls.
var fstats atomic.Int64

func fstatFD(fd int, st *syscall.Stat_t) error {
	fstats.Add(1)
	for {
		err := syscall.Fstat(fd, st)
		if err != syscall.EINTR {
			return err
		}
	}
}

// preadFull reads len(p) bytes at off; a short file gives io.ErrUnexpectedEOF.
func preadFull(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := syscall.Pread(fd, p, off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}
