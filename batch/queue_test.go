package batch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// touch creates dir/name with content and the given mtime (zero: now).
func touch(t testing.TB, dir, name, content string, mtime time.Time) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func baseNames(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, filepath.Base(f.Path))
	}
	return out
}

func TestQueueNames(t *testing.T) {
	q := Queue{Dir: "/out", Site: "peer"}
	ts := time.Unix(0x5db93971, 0)
	for _, tc := range []struct{ got, want string }{
		{q.FeedPath(), "/out/peer"},
		{q.RotatingPath(), "/out/peer.rotating"},
		{q.DeferPath(), "/out/peer.defer"},
		{q.LockPath(SendLock), "/out/peer.send.lock"},
		{q.LockPath(QueueLock), "/out/peer.queue.lock"},
		{q.Name(KindBacklog, ts, false), "peer.B.5db93971"},
		{q.Name(KindBacklog, ts, true), "peer.B.5db93971.zst"},
		{q.Name(KindDeferred, ts, false), "peer.D.5db93971"},
		{q.Name(KindBacklog, time.Unix(1, 0), false), "peer.B.00000001"},
		{ProgressPath("/out/peer.B.5db93971.zst"), "/out/peer.B.5db93971.zst.done"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestBacklogsOrder(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{
		"peer.B.5db93971", "peer.B.00000010.zst", "peer.B.5db93970",
		"peer.B.5db93972.tmp",      // being written
		"peer.B.00000010.zst.done", // progress file
		"peer.B.00000010.zst.done.tmp",
		"peer.B.5DB93973", // upper case: not ours, an admin's
		"peer.D.5db93971", "peer.defer", "peer", "peer.rotating", "peer.send.lock",
		"peerx.B.5db93971", "pee.B.5db93971", // other sites
	} {
		touch(t, dir, n, "x\n", time.Time{})
	}
	touch(t, dir, "peer.B.admin-late", "x\n", old.Add(time.Minute))
	touch(t, dir, "peer.B.admin-early", "x\n", old)
	touch(t, dir, "peer.B.gz", string(gzipMagic)+"..", old.Add(2*time.Minute))
	if err := os.Mkdir(filepath.Join(dir, "peer.B.dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	q := Queue{Dir: dir, Site: "peer"}
	got, err := q.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	// Own names by <hex>, then the others by mtime (peer.B.5DB93973 is newest).
	want := []string{"peer.B.00000010.zst", "peer.B.5db93970", "peer.B.5db93971", "peer.B.admin-early", "peer.B.admin-late", "peer.B.gz", "peer.B.5DB93973"}
	if names := baseNames(got); !slices.Equal(names, want) {
		t.Fatalf("Backlogs() = %v\nwant %v", names, want)
	}
	if !got[0].Compressed || got[1].Compressed || !got[5].Compressed {
		t.Errorf("Compressed flags: %+v", got)
	}
	if got[0].Created != time.Unix(0x10, 0) || got[0].Foreign || !got[3].Foreign || got[3].Kind != KindBacklog {
		t.Errorf("File fields: %+v", got[:4])
	}
	if !got[3].Created.Equal(old) {
		t.Errorf("foreign Created = %v, want mtime %v", got[3].Created, old)
	}

	d, err := q.Deferrals()
	if err != nil {
		t.Fatal(err)
	}
	if names := baseNames(d); !slices.Equal(names, []string{"peer.D.5db93971"}) {
		t.Errorf("Deferrals() = %v", names)
	}

	if _, err := (Queue{Dir: filepath.Join(dir, "nope"), Site: "peer"}).Backlogs(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

// TestBacklogsPrefixSites checks that the files of sites whose names start
// with "S.B." are not taken for backlogs of S.
func TestBacklogsPrefixSites(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{
		"a.B.5db93971",                                                                    // a's own
		"a.B.x", "a.B.x.B.5db93971", "a.B.x.D.5db93971", "a.B.x.defer", "a.B.x.send.lock", // site a.B.x
		"a.B.y", "a.B.y.queue.lock", // site a.B.y, only a lock so far
		"a.B.B.5db93971", "a.B.B.D.5db93971", // site a.B
		"a.B.z",         // site a.B.z with no other files: only OtherSites can tell
		"a.B.old-batch", // an administrator's
	} {
		touch(t, dir, n, "x\n", time.Time{})
	}
	q := Queue{Dir: dir, Site: "a"}
	got, err := q.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	names := baseNames(got)
	slices.Sort(names[1:])
	if want := []string{"a.B.5db93971", "a.B.old-batch", "a.B.z"}; !slices.Equal(names, want) {
		t.Errorf("Backlogs() = %v, want %v", names, want)
	}
	q.OtherSites = []string{"a.B.z", "a.B.x"}
	got, err = q.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	if names, want := baseNames(got), []string{"a.B.5db93971", "a.B.old-batch"}; !slices.Equal(names, want) {
		t.Errorf("with OtherSites: Backlogs() = %v, want %v", names, want)
	}
	// And site a.B.x sees only its own.
	got, err = Queue{Dir: dir, Site: "a.B.x"}.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	if names := baseNames(got); !slices.Equal(names, []string{"a.B.x.B.5db93971"}) {
		t.Errorf("a.B.x: Backlogs() = %v", names)
	}
	if d, _ := (Queue{Dir: dir, Site: "a"}).Deferrals(); len(d) != 0 {
		t.Errorf("a: Deferrals() = %v", baseNames(d))
	}
}
