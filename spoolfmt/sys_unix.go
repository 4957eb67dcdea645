package spoolfmt

import (
	"io/fs"
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
