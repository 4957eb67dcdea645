package batch

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// PlanRotate tells what Rotate would do now, without locking or changing anything
// (run --dry-run): Recovered is the interrupted rotation Rotate would finish, else
// FeedSize and FeedAge describe the feed file and Rotated says whether it is due.
func (q Queue) PlanRotate(opt RotateOptions) (RotateResult, error) {
	r := rotation{q: q, opt: opt, d: q.RotatingPath(), f: q.FeedPath()}
	r.res.FeedSize, r.res.FeedAge = -1, -1
	if r.opt.Now == nil {
		r.opt.Now = time.Now
	}
	st, err := r.state()
	if err != nil {
		return r.res, fmt.Errorf("site %s: %w", q.Site, err)
	}
	if r.res.Recovered = st; st != StateIdle {
		return r.res, nil
	}
	fi, err := os.Lstat(r.f)
	if errors.Is(err, os.ErrNotExist) {
		return r.res, nil
	}
	if err != nil {
		return r.res, fmt.Errorf("site %s: %w", q.Site, err)
	}
	r.res.FeedSize = fi.Size()
	if btime, ok := birthTime(r.f); ok {
		r.res.FeedAge = max(r.opt.Now().Sub(btime), 0)
	}
	r.res.Rotated = r.due()
	return r.res, nil
}

// RequeuePlan is what Requeue would take now.
type RequeuePlan struct {
	Due, Waiting []File // deferral files old enough, and the others
	StaleDefer   bool   // an S.defer left by a send (requeue closes it first)
}

// PlanRequeue tells what Requeue with retryDelay would take now, without locking or
// changing anything (run --dry-run).
func (q Queue) PlanRequeue(retryDelay time.Duration, now time.Time) (RequeuePlan, error) {
	var p RequeuePlan
	files, err := q.Deferrals()
	if err != nil {
		return p, fmt.Errorf("requeue site %s: %w", q.Site, err)
	}
	for _, f := range files {
		if retryDelay <= 0 || now.Sub(f.Created) >= retryDelay {
			p.Due = append(p.Due, f)
		} else {
			p.Waiting = append(p.Waiting, f)
		}
	}
	if _, err := os.Stat(q.DeferPath()); err == nil {
		p.StaleDefer = true
	}
	return p, nil
}
