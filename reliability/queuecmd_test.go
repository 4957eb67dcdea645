package reliability

import (
	"errors"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
)

// requeue runs `nxmit requeue` for q with no retry delay, so that every deferral file
// becomes a backlog again. env is the binary's environment (INNCONF). A held lock (exit
// status 75) is not an error: the next call retries.
func requeue(t testing.TB, env []string, q batch.Queue) error {
	t.Helper()
	r := runNxmit(t, time.Minute, env, "requeue", q.Site, "--outgoing", q.Dir, "--retry-delay", "0s")
	if r.Status != 0 && r.Status != 75 {
		return errors.New(strings.TrimSpace(r.Stderr))
	}
	return nil
}

// merge runs `nxmit merge` of files into a new backlog of q. A held lock or an input in
// use (exit status 75) is not an error.
func merge(t testing.TB, env []string, q batch.Queue, remove, compress bool, files ...string) error {
	t.Helper()
	args := []string{"merge", q.Site, "--outgoing", q.Dir}
	if remove {
		args = append(args, "--remove")
	}
	if compress {
		args = append(args, "--compress")
	}
	r := runNxmit(t, time.Minute, env, append(args, files...)...)
	if r.Status != 0 && r.Status != 75 {
		return errors.New(strings.TrimSpace(r.Stderr))
	}
	return nil
}
