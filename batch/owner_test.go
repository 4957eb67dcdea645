package batch

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A run as root in a queue directory owned by news must leave files news can write.
func TestRootCreatesFilesOwnedByDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 65534, 65534 // nobody, nogroup: any non-root owner will do
	dir := t.TempDir()
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	q := Queue{Dir: dir, Site: "peer"}
	l, err := q.Lock(SendLock, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	b, err := q.Create(KindBacklog, false, func(w io.Writer) error {
		_, err := io.WriteString(w, "a <a@b>\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := q.OpenDeferLog()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Append(Line{Article: "x", MessageID: "<x@y>"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{q.LockPath(SendLock), filepath.Join(dir, filepath.Base(b)), q.DeferPath()} {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
