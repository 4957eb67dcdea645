package batch

import (
	"time"

	"golang.org/x/sys/unix"
)

// birthTime returns when the file at path was created, where the file
// system records it (ext4, xfs, btrfs, tmpfs do).
func birthTime(path string) (time.Time, bool) {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &st)
	if err != nil || st.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, false
	}
	return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)), true
}

// checkWritable fails when this process cannot create and remove names in
// dir (access(2) with the real ids, which are the effective ones here).
func checkWritable(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}
