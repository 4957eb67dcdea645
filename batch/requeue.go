package batch

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultRetryDelay is how long deferred articles wait before requeue sends them again.
const DefaultRetryDelay = 10 * time.Minute

// RequeueOptions configure Requeue.
type RequeueOptions struct {
	// RetryDelay is how old a deferral file must be to be requeued; 0 requeues all.
	// A file's age comes from the <hex> of its name (when it was closed), or its
	// modification time for other names.
	RetryDelay time.Duration
	// Compress writes the new backlog zstd-compressed.
	Compress bool
	// Command describes this process in the lock files ("nxmit requeue peer").
	Command string
	// Now is the time ages are measured against; zero means time.Now().
	Now time.Time
	// Warn receives malformed lines ("FILE:LINE: reason", a *LineError) and notices.
	Warn func(error)
}

// RequeueStats summarise a Requeue.
type RequeueStats struct {
	MergeStats
	// StaleDefer is the deferral file a crashed send's S.defer was closed into, or "".
	StaleDefer string
	// SendBusy is set when S.defer exists but a send holds the send lock: the file is
	// that send's, and was left alone.
	SendBusy bool
	// Waiting counts the deferral files not yet due.
	Waiting int
}

// Requeue rewrites the site's deferral files S.D.* older than the retry delay into one
// new backlog S.B.<hex>: blank and malformed lines are dropped (malformed ones reported
// through Warn with file:line), lines are de-duplicated by Message-ID (see Key), and the
// backlog is installed atomically before the inputs are removed, crash-safely (see
// RecoverMerge: after a crash, either the inputs are intact and no backlog was
// installed, or the backlog is complete and the next Requeue or Merge finishes removing
// the inputs). Requeue takes the queue lock (a *LockedError when held).
//
// An S.defer left by a send that crashed is stale: Requeue closes it into S.D.<hex>
// (cutting a partial last line, which the send never acted on: a deferred line is
// blanked in its backlog only after its S.defer line is complete) and requeues it with
// the rest when its last write is older than the retry delay. It knows S.defer is stale
// only by taking the send lock, briefly and without waiting; while a send holds it,
// S.defer belongs to that send and is left alone.
//
// Each article requeued counts one more deferral in S.deferrals (see Deferrals); a
// failure to write that tally is reported through Warn and does not fail the requeue.
func (q Queue) Requeue(opt RequeueOptions) (RequeueStats, error) {
	var st RequeueStats
	cmd := opt.Command
	if cmd == "" {
		cmd = "nxmit requeue " + q.Site
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	due := func(t time.Time) bool { return now.Sub(t) >= opt.RetryDelay }

	lk, err := q.Lock(QueueLock, cmd)
	if err != nil {
		return st, err
	}
	defer lk.Unlock()
	if _, err := q.RecoverMerge(); err != nil {
		return st, err
	}

	staleDue := false
	if info, err := os.Stat(q.DeferPath()); err == nil {
		name, busy, err := q.closeStaleDefer(cmd)
		if err != nil {
			return st, fmt.Errorf("requeue site %s: %w", q.Site, err)
		}
		st.StaleDefer, st.SendBusy = name, busy
		staleDue = due(info.ModTime())
	} else if !errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("requeue site %s: %w", q.Site, err)
	}

	files, err := q.Deferrals()
	if err != nil {
		return st, fmt.Errorf("requeue site %s: %w", q.Site, err)
	}
	var srcs []*source
	defer func() {
		for _, s := range srcs {
			s.r.close()
		}
	}()
	for _, f := range files {
		// Names a collision pushed into the future must not hold a file back when
		// everything is asked for.
		take := opt.RetryDelay <= 0 || due(f.Created)
		if f.Path == st.StaleDefer {
			take = staleDue
		}
		if !take {
			st.Waiting++
			continue
		}
		r, err := openInput(f.Path, false)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			if err = checkListed(r.f, f.Info); err != nil {
				r.close()
			}
		}
		if errors.Is(err, ErrNotQueueFile) {
			warn(opt.Warn, err) // a link put in the queue: reported, left alone
			continue
		}
		if err != nil {
			return st, fmt.Errorf("requeue site %s: %w", q.Site, err)
		}
		for _, w := range r.warnings {
			warn(opt.Warn, w)
		}
		srcs = append(srcs, &source{name: f.Path, r: r, remove: true, id: fileIDOf(r.info)})
	}
	if len(srcs) == 0 {
		// Nothing deferred is due, but counted articles may have been delivered since.
		if err := q.countDeferrals(""); err != nil {
			warn(opt.Warn, fmt.Errorf("requeue site %s: %w", q.Site, err))
		}
		return st, nil
	}
	ms, err := q.combine(srcs, nil, opt.Compress, opt.Warn, st.MergeStats)
	st.MergeStats = ms
	if err != nil {
		return st, fmt.Errorf("requeue: %w", err)
	}
	// Every line just requeued is an article deferred once more. The tally comes after
	// the backlog is installed: a crash between them loses a count, never an article.
	if err := q.countDeferrals(ms.Output); err != nil {
		warn(opt.Warn, fmt.Errorf("requeue site %s: %w", q.Site, err))
	}
	return st, nil
}

// closeStaleDefer closes S.defer into S.D.<hex> if no send holds the send lock, and
// returns the new name; busy reports a held lock.
func (q Queue) closeStaleDefer(cmd string) (name string, busy bool, err error) {
	lk, err := q.Lock(SendLock, cmd)
	var le *LockedError
	if errors.As(err, &le) {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	defer lk.Unlock()
	name, err = q.CloseStaleDefer()
	return name, false, err
}
