package batch

import (
	"os"
	"path/filepath"
	"syscall"
)

// adoptDirOwner gives a file nxmit just created in a queue directory to the directory's
// owner (news, normally) when nxmit runs as root. Cron runs nxmit as news; a manual run as
// root must not leave a lock, backlog or deferral file that news cannot open for writing
// afterwards. Failures are ignored: the file is still usable by root, and a later run as
// news reports the permission problem with the file's name.
func adoptDirOwner(f *os.File) {
	if os.Geteuid() != 0 {
		return
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(f.Name()), &st); err != nil || st.Uid == 0 {
		return
	}
	f.Chown(int(st.Uid), int(st.Gid))
}

// adoptDirOwnerPath is adoptDirOwner for a file known by its path.
func adoptDirOwnerPath(path string) {
	if os.Geteuid() != 0 {
		return
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(path), &st); err != nil || st.Uid == 0 {
		return
	}
	os.Lchown(path, int(st.Uid), int(st.Gid))
}

// AdoptDirOwner gives a file nxmit created outside the queue files (an article log, a
// metrics file) to its directory's owner when nxmit runs as root, as queue files are.
func AdoptDirOwner(f *os.File) { adoptDirOwner(f) }

// AdoptDirOwnerPath is AdoptDirOwner for a file known by its path.
func AdoptDirOwnerPath(path string) { adoptDirOwnerPath(path) }

// WriteFileAtomic replaces path with data (path.tmp, fsync, rename, fsync the
// directory) and gives a new file to the directory's owner. Readers see the old
// content or the new, never a part.
func WriteFileAtomic(path string, data []byte) error {
	if err := writeAtomic(path, data); err != nil {
		return err
	}
	adoptDirOwnerPath(path)
	return nil
}
