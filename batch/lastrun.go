package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// LastRunSuffix ends the name of a site's last-run record, S.lastrun.
const LastRunSuffix = ".lastrun"

// LastRun records a site's last pass (send, or run's steps), in the outgoing directory,
// so that the next pass can tell a new failure from the same one continuing (cron mail
// once, not every five minutes) and status can show it.
type LastRun struct {
	Time    time.Time `json:"time"`    // when the pass ended
	Command string    `json:"command"` // "nxmit run peer"
	Result  string    `json:"result"`  // ResultOK, ResultTemporary or ResultError
	// What the pass settled, as in the statistics line.
	Offered  int64 `json:"offered"`
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
	Rejected int64 `json:"rejected"`
	Missing  int64 `json:"missing"`
	Deferred int64 `json:"deferred"`
	// Error is the failure of this pass ("" when it succeeded); LastError the most
	// recent failure of any pass, kept after a success, with its time.
	Error         string    `json:"error,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// FailingSince is when the current run of failures the same way began (zero when
	// the pass succeeded); Alerted is set once that has been announced on stderr.
	FailingSince time.Time `json:"failing_since,omitzero"`
	Alerted      bool      `json:"alerted,omitempty"`
}

// Results of a pass.
const (
	ResultOK        = "ok"
	ResultTemporary = "temporary"
	ResultError     = "error"
)

// LastRunPath returns the path of the site's last-run record, Dir/S.lastrun.
func (q Queue) LastRunPath() string { return filepath.Join(q.Dir, q.Site+LastRunSuffix) }

// ReadLastRun reads the site's last-run record; ok is false when there is none (or it
// cannot be parsed: it is only advice, and the next pass rewrites it).
func (q Queue) ReadLastRun() (LastRun, bool) {
	data, err := os.ReadFile(q.LastRunPath())
	if err != nil {
		return LastRun{}, false
	}
	var r LastRun
	if err := json.Unmarshal(data, &r); err != nil {
		return LastRun{}, false
	}
	return r, true
}

// WriteLastRun replaces the site's last-run record atomically and durably: written to a
// temporary file, synced, renamed, and the directory synced.
func (q Queue) WriteLastRun(r LastRun) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(q.LastRunPath(), append(data, '\n')); err != nil {
		return fmt.Errorf("last-run record: %w", err)
	}
	return nil
}

// Alert is what a pass should say on stderr about its site's failures.
type Alert int

const (
	// AlertSpeak: report the failure as usual (a new failure, or a different one).
	AlertSpeak Alert = iota
	// AlertQuiet: the same failure as last time, not yet failing for alert-after:
	// logged, not printed (cron would mail it every few minutes).
	AlertQuiet
	// AlertStill: the same failure has lasted alert-after; say so, once.
	AlertStill
	// AlertRecovered: the pass succeeded after a failure that was announced.
	AlertRecovered
	// AlertNone: success, nothing to say.
	AlertNone
)

// Next returns the record of a pass that ended at cur.Time with cur's result and error,
// following prev (ok false: no previous record), and what to say on stderr. A failure
// counts as the same as the last one when its message differs only in numbers and
// message-ids.
func (prev LastRun) Next(ok bool, cur LastRun, alertAfter time.Duration) (LastRun, Alert) {
	rec := cur
	if ok {
		rec.LastError, rec.LastErrorTime = prev.LastError, prev.LastErrorTime
	}
	if cur.Result == ResultOK {
		rec.Error, rec.FailingSince, rec.Alerted = "", time.Time{}, false
		if ok && prev.Result != ResultOK && prev.Alerted {
			return rec, AlertRecovered
		}
		return rec, AlertNone
	}
	rec.LastError, rec.LastErrorTime = cur.Error, cur.Time
	if !ok || prev.Result == ResultOK || prev.FailingSince.IsZero() || !SameFailure(prev.Error, cur.Error) {
		rec.FailingSince, rec.Alerted = cur.Time, false
		return rec, AlertSpeak
	}
	rec.FailingSince, rec.Alerted = prev.FailingSince, prev.Alerted
	if !rec.Alerted && alertAfter >= 0 && cur.Time.Sub(rec.FailingSince) >= alertAfter {
		rec.Alerted = true
		return rec, AlertStill
	}
	return rec, AlertQuiet
}

var variablePart = regexp.MustCompile(`<[^>]*>|[0-9]+`)

// SameFailure reports whether two error messages say the same thing, apart from numbers
// (ports, counts, times) and message-ids.
func SameFailure(a, b string) bool {
	return variablePart.ReplaceAllString(a, "#") == variablePart.ReplaceAllString(b, "#")
}

// HoldSuffix ends the name of the marker file 'nxmit hold' leaves, S.hold: the site is
// not sent to while it exists.
const HoldSuffix = ".hold"

// HoldPath returns the path of the site's hold marker, Dir/S.hold.
func (q Queue) HoldPath() string { return filepath.Join(q.Dir, q.Site+HoldSuffix) }

// Held reports whether the site's hold marker exists, and what it says (who held it,
// when, why).
func (q Queue) Held() (bool, string) {
	data, err := os.ReadFile(q.HoldPath())
	if err != nil {
		return false, ""
	}
	return true, strings.TrimSpace(string(data))
}

// Hold creates the site's hold marker, durably, with note (who, when, why) as content.
func (q Queue) Hold(note string) error {
	f, err := os.OpenFile(q.HoldPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("hold %s: %w", q.Site, err)
	}
	_, err = f.WriteString(oneLine(note) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hold %s: %w", q.Site, err)
	}
	return SyncDir(q.Dir)
}

// Release removes the site's hold marker; released reports whether there was one.
func (q Queue) Release() (released bool, err error) {
	err = os.Remove(q.HoldPath())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("release %s: %w", q.Site, err)
	}
	return true, SyncDir(q.Dir)
}
