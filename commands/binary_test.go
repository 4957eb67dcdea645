package commands

import (
	"os"
	"os/exec"
	"path/filepath"
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
