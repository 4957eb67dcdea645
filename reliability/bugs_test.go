package reliability

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nxmit/batch"
)

// knownBug skips a test that shows a bug reported to the package's owner, so that CI
// stays green until it is fixed; NXMIT_BUGS=1 runs it (and it fails until the fix).
func knownBug(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("NXMIT_BUGS") == "" {
		t.Skip("BUG: " + msg + " (NXMIT_BUGS=1 runs this test)")
	}
}

// TestRequeueFutureNames: requeue with no retry delay must requeue every deferral file.
// Deferral files closed within one second get names one second apart (a name taken
// moves on to the next second), so some carry a time in the future. Requeue measured a
// file's age from its name, found it negative, and left the file for later even with
// RetryDelay 0 (found by the crash soak; fixed in 15f9ebd).
func TestRequeueFutureNames(t *testing.T) {
	s := newFileSite(t, 30, 200, "")
	files, _ := s.Q.Backlogs()
	os.Remove(files[0].Path)
	for i := 0; i < 3; i++ {
		if _, err := s.Q.Create(batch.KindDeferred, false, func(w io.Writer) error {
			for j := i * 10; j < i*10+10; j++ {
				fmt.Fprintf(w, "%s %s\n", s.Paths[j], s.Mids[j])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Names taken within one second move on to the next: push the last one well into
	// the future, so that building and starting the binary does not let the clock catch
	// up (the test then passed with its fix reverted).
	defs, _ := s.Q.Deferrals()
	last := defs[len(defs)-1].Path
	future := filepath.Join(s.Q.Dir, s.Q.Name(batch.KindDeferred, time.Now().Add(10*time.Minute), false))
	if err := os.Rename(last, future); err != nil {
		t.Fatal(err)
	}
	r := runNxmit(t, time.Minute, s.env(), "requeue", s.Q.Site, "--outgoing", s.Q.Dir, "--retry-delay", "0s")
	if r.Status != 0 {
		t.Fatalf("requeue: %s", r)
	}
	if defs, _ := s.Q.Deferrals(); len(defs) != 0 {
		var names []string
		for _, d := range defs {
			names = append(names, d.Path)
		}
		t.Errorf("requeue --retry-delay 0s left %d deferral files (named in the future): %v", len(defs), names)
	}
}
