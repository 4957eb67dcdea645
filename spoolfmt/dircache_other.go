//go:build !linux

package spoolfmt

import (
	"sync"
	"syscall"
)

// Without a portable openat in package syscall, other systems keep a
// directory's path in place of a handle and open articles by full path.

var dirPaths sync.Map // fd (a duplicate of /dev/null) → directory path

// openDir opens a directory as a base for openAt.
func openDir(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			if err == nil {
				dirPaths.Store(fd, path)
			}
			return fd, err
		}
	}
}

// openAt opens name[:n] in the directory dirfd for reading.
func openAt(dirfd int, name *[24]byte, n int) (int, error) {
	p, _ := dirPaths.Load(dirfd)
	dir, _ := p.(string)
	return openRead(dir + "/" + string(name[:n]))
}
