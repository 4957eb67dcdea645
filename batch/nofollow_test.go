package batch

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestQueueFilesNeverFollowed: each file nxmit opens in the queue, found to be a symbolic
// link (news can make one point at any file), is refused with ErrNotQueueFile; the file
// it points at is neither read into the queue nor written, and the link stays.
func TestQueueFilesNeverFollowed(t *testing.T) {
	const victimText = "a <a@x>\nb <b@x>\npartial last line"
	for _, tc := range []struct {
		name string
		path func(q Queue) string
		op   func(q Queue) error
	}{
		{"stale S.defer", Queue.DeferPath, func(q Queue) error { _, err := q.CloseStaleDefer(); return err }},
		{"send lock", func(q Queue) string { return q.LockPath(SendLock) },
			func(q Queue) error {
				l, err := q.Lock(SendLock, "test")
				if err == nil {
					l.Unlock()
				}
				return err
			}},
		{"queue lock holder", func(q Queue) string { return q.LockPath(QueueLock) },
			func(q Queue) error { _, err := ReadHolder(q.LockPath(QueueLock)); return err }},
		{"backlog", func(q Queue) string {
			return filepath.Join(q.Dir, q.Name(KindBacklog, time.Unix(1700000000, 0), false))
		},
			func(q Queue) error {
				_, err := OpenBacklog(filepath.Join(q.Dir, q.Name(KindBacklog, time.Unix(1700000000, 0), false)))
				return err
			}},
		{"deferral file to requeue", func(q Queue) string {
			return filepath.Join(q.Dir, q.Name(KindDeferred, time.Unix(1700000000, 0), false))
		},
			func(q Queue) error {
				st, err := q.Requeue(RequeueOptions{})
				if err == nil && st.MergeStats.Total.Lines != 0 {
					err = errors.New("the link's lines were requeued")
				}
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := Queue{Dir: t.TempDir(), Site: "peer"}
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte(victimText), 0o600); err != nil {
				t.Fatal(err)
			}
			link := tc.path(q)
			if err := os.Symlink(victim, link); err != nil {
				t.Fatal(err)
			}
			err := tc.op(q)
			if tc.name != "deferral file to requeue" && !errors.Is(err, ErrNotQueueFile) {
				t.Errorf("error %v, want ErrNotQueueFile", err)
			} else if tc.name == "deferral file to requeue" && err != nil {
				t.Errorf("requeue: %v (a link is skipped, not fatal)", err)
			}
			if got, _ := os.ReadFile(victim); string(got) != victimText {
				t.Errorf("the link's target changed: %q", got)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link was not left alone: %v", err)
			}
		})
	}
}
