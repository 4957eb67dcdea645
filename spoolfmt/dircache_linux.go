package spoolfmt

import (
	"syscall"
	"unsafe"
)

// openDir opens a directory as a base for openAt.
func openDir(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// openAt opens name[:n] in the directory dirfd for reading. The name is made
// NUL-terminated in place, so no string is built on the hot path.
func openAt(dirfd int, name *[24]byte, n int) (int, error) {
	name[n] = 0
	for {
		r, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&name[0])),
			syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
		switch errno {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		}
		return -1, errno
	}
}
