package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"nxmit/batch"
)

// Counts are the answers of one send pass, by outcome.
type Counts struct {
	Accepted  int64 `json:"accepted"`
	Refused   int64 `json:"refused"`
	Rejected  int64 `json:"rejected"`
	Missing   int64 `json:"missing"`
	Deferred  int64 `json:"deferred"`
	Requeued  int64 `json:"requeued"`
	Malformed int64 `json:"malformed"`
	Filtered  int64 `json:"filtered"` // excluded by the site's feed shaping

	AcceptedBytes int64 `json:"accepted_bytes"`
	RejectedBytes int64 `json:"rejected_bytes"`
}

func (c *Counts) add(o Counts) {
	c.Accepted += o.Accepted
	c.Refused += o.Refused
	c.Rejected += o.Rejected
	c.Missing += o.Missing
	c.Deferred += o.Deferred
	c.Requeued += o.Requeued
	c.Malformed += o.Malformed
	c.Filtered += o.Filtered
	c.AcceptedBytes += o.AcceptedBytes
	c.RejectedBytes += o.RejectedBytes
}

// Totals are a site's running totals over its send passes, kept in S.totals in the
// outgoing directory, and what its last pass did. They are the counters of the
// monitoring metrics; they only grow, so a scraper's rate() works across passes.
type Totals struct {
	Counts
	Passes   int64 `json:"passes"`
	Failures int64 `json:"failures"` // passes that ended in an error

	LastPass     time.Time `json:"last_pass,omitzero"` // when the last pass ended
	LastDuration float64   `json:"last_duration_seconds"`
	LastOK       bool      `json:"last_ok"`
	LastError    string    `json:"last_error,omitempty"`
	LastCounts   Counts    `json:"last_counts"`
}

// LoadTotals reads a site's totals; a missing file is all zero.
func LoadTotals(path string) (Totals, error) {
	var t Totals
	data, err := batch.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("totals: %w", err)
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return Totals{}, fmt.Errorf("totals %s: %w", path, err)
	}
	return t, nil
}

// AddPass adds a pass that ended at end after dur, with err (nil: success).
func (t *Totals) AddPass(c Counts, end time.Time, dur time.Duration, err error) {
	t.Counts.add(c)
	t.Passes++
	t.LastPass, t.LastDuration, t.LastOK, t.LastError, t.LastCounts = end, dur.Seconds(), err == nil, "", c
	if err != nil {
		t.Failures++
		t.LastError = err.Error()
	}
}

// RecordPass adds a pass to the totals at path, rewriting the file atomically. The
// caller holds the site's send lock, so no other pass updates it meanwhile.
func RecordPass(path string, c Counts, end time.Time, dur time.Duration, passErr error) error {
	t, err := LoadTotals(path)
	if err != nil {
		t = Totals{} // a damaged file must not stop the counting: start again
	}
	t.AddPass(c, end, dur, passErr)
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := batch.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("totals: %w", err)
	}
	return nil
}
