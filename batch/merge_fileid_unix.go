//go:build unix

package batch

import (
	"os"
	"syscall"
)

// fileIDOf returns the device and inode of a file, to tell whether a path still names
// the file that was read.
func fileIDOf(info os.FileInfo) fileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: info.Size()}
	}
	return fileID{Size: info.Size()}
}

// lockInputFile takes a shared fcntl(2) lock on f without waiting. innxmit holds an
// exclusive fcntl lock on the batch file it is sending (inn-formats §6), so failing here
// means an innxmit is working on the file. The lock lasts until f is closed.
func lockInputFile(f *os.File) (busy bool, err error) {
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Whence: 0, Start: 0, Len: 0}
	err = syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
	switch err {
	case nil:
		return false, nil
	case syscall.EAGAIN, syscall.EACCES:
		return true, nil
	}
	return false, err
}
