package batch

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLockSameProcess(t *testing.T) {
	q := Queue{Dir: t.TempDir(), Site: "peer"}
	l, err := q.Lock(SendLock, "nxmit send peer")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadHolder(q.LockPath(SendLock))
	if err != nil {
		t.Fatal(err)
	}
	if h.PID != os.Getpid() || h.Command != "nxmit send peer" || time.Since(h.Since) > time.Minute {
		t.Errorf("holder %+v", h)
	}

	_, err = q.Lock(SendLock, "nxmit send peer")
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock: %v, want *LockedError", err)
	}
	want := fmt.Sprintf("site peer: send lock held by pid %d (nxmit send peer) since %s", os.Getpid(), h.Since.UTC().Format(time.RFC3339))
	if err.Error() != want {
		t.Errorf("message %q\nwant    %q", err, want)
	}
	var tmp interface{ Temporary() bool }
	if !errors.As(err, &tmp) || !tmp.Temporary() {
		t.Errorf("LockedError is not temporary")
	}

	// The other lock is independent.
	ql, err := q.Lock(QueueLock, "nxmit rotate peer")
	if err != nil {
		t.Fatalf("queue lock while send lock held: %v", err)
	}
	defer ql.Unlock()

	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	if h, err := ReadHolder(q.LockPath(SendLock)); err != nil || h != (Holder{}) {
		t.Errorf("after Unlock: holder %+v, %v", h, err)
	}
	l2, err := q.Lock(SendLock, "again")
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestReadHolder(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content string
		want    Holder
		err     bool
	}{
		{"", Holder{}, false},
		{"pid 12\ncommand nxmit send a b\nsince 2026-11-24T12:00:00Z\nhost h\nfuture x\n", Holder{PID: 12, Command: "nxmit send a b", Since: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), Host: "h"}, false},
		{"pid x\n", Holder{}, true},
		{"pid 1\nsince yesterday\n", Holder{}, true},
	} {
		p := touch(t, dir, "lock", tc.content, time.Time{})
		h, err := ReadHolder(p)
		if (err != nil) != tc.err || h != tc.want {
			t.Errorf("ReadHolder(%q) = %+v, %v", tc.content, h, err)
		}
	}
	if _, err := ReadHolder(dir + "/missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A holder that never wrote its name is still a holder.
	e := &LockedError{Site: "s", Kind: QueueLock}
	if got := e.Error(); got != "site s: queue lock held by an unknown process" {
		t.Errorf("%q", got)
	}
}

const lockHelperEnv = "NXMIT_BATCH_LOCK_HELPER"

// TestLockHelperProcess is not a test: the cross-process test runs the test
// binary again with this as its only test, to hold a lock in another process.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		return
	}
	_, err := Queue{Dir: dir, Site: "peer"}.Lock(SendLock, "nxmit send peer")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n') // hold until told or killed
	os.Exit(0)
}

func TestLockOtherProcess(t *testing.T) {
	dir := t.TempDir()
	q := Queue{Dir: dir, Site: "peer"}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- s
	}()
	select {
	case s := <-ready:
		if s != "locked\n" {
			t.Fatalf("helper: %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("helper did not lock in time")
	}

	_, err = q.Lock(SendLock, "nxmit send peer")
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("Lock while another process holds it: %v", err)
	}
	if le.Holder.PID != cmd.Process.Pid || !strings.Contains(err.Error(), fmt.Sprintf("held by pid %d (nxmit send peer) since ", cmd.Process.Pid)) {
		t.Errorf("error %q does not name pid %d", err, cmd.Process.Pid)
	}

	// The holder dies without unlocking: its holder line stays, the lock goes.
	cmd.Process.Kill()
	cmd.Wait()
	if h, _ := ReadHolder(q.LockPath(SendLock)); h.PID != cmd.Process.Pid {
		t.Errorf("dead holder's record: %+v", h)
	}
	l, err := q.Lock(SendLock, "nxmit send peer")
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	defer l.Unlock()
	if h, _ := ReadHolder(q.LockPath(SendLock)); h.PID != os.Getpid() {
		t.Errorf("holder after taking over: %+v", h)
	}
}
