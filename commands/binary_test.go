package commands

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// nxmitBinary builds nxmit from this tree for the tests that run it as a program
// (completion scripts, innxmit under nntpsend, the progress bar in a terminal,
// innreport) and returns its path. The directory is readable by every user, since some
// tests run the binary as news, and is removed when the test ends.
func nxmitBinary(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nxmit-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "nxmit")
	cmd := exec.Command("go", "build", "-o", path, "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build nxmit: %v\n%s", err, out)
	}
	return path
}

// giveToNews makes dir's tree news' and its ancestors passable, as innd would have left
// an outgoing directory and a spool: a run of the binary started as root switches to
// news (inn.conf runasuser) before it reads them. Tests that create queue files as root
// call it before each run. It does nothing when the test does not run as root.
func giveToNews(t testing.TB, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("news")
	if err != nil {
		t.Fatalf("user news: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is private to root; news must pass through it.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			os.Chmod(p, fi.Mode().Perm()|0o011)
		}
	}
}
