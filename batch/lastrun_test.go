package batch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLastRunNext(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	fail := func(at time.Duration, msg string) LastRun {
		return LastRun{Time: t0.Add(at), Result: ResultTemporary, Error: msg}
	}
	ok := func(at time.Duration) LastRun { return LastRun{Time: t0.Add(at), Result: ResultOK} }
	down := "send: 127.0.0.1:119: connect failed: dial tcp 127.0.0.1:119: connection refused"
	tests := []struct {
		name  string
		runs  []LastRun
		want  []Alert
		since time.Duration // FailingSince of the last record, from t0 (-1: zero)
	}{
		{"quiet success", []LastRun{ok(0), ok(5 * time.Minute)}, []Alert{AlertNone, AlertNone}, -1},
		{"same failure is quiet, then said once after alert-after, then recovered",
			[]LastRun{fail(0, down), fail(5*time.Minute, down), fail(61*time.Minute, down), fail(66*time.Minute, down), ok(70 * time.Minute)},
			[]Alert{AlertSpeak, AlertQuiet, AlertStill, AlertQuiet, AlertRecovered}, -1},
		{"numbers and message-ids do not make a failure new",
			[]LastRun{fail(0, "IHAVE <a@b>: 400 in 3 s"), fail(time.Minute, "IHAVE <c@d>: 400 in 4 s")},
			[]Alert{AlertSpeak, AlertQuiet}, 0},
		{"a different failure speaks and restarts the clock",
			[]LastRun{fail(0, down), fail(5*time.Minute, "send: peer refused user feeder")},
			[]Alert{AlertSpeak, AlertSpeak}, 5 * time.Minute},
		{"a short failure recovers quietly", []LastRun{fail(0, down), ok(5 * time.Minute)}, []Alert{AlertSpeak, AlertNone}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev LastRun
			have := false
			for i, cur := range tt.runs {
				rec, alert := prev.Next(have, cur, time.Hour)
				if alert != tt.want[i] {
					t.Errorf("run %d: alert %d, want %d (record %+v)", i, alert, tt.want[i], rec)
				}
				prev, have = rec, true
			}
			if tt.since >= 0 && !prev.FailingSince.Equal(t0.Add(tt.since)) {
				t.Errorf("failing since %v, want %v", prev.FailingSince, t0.Add(tt.since))
			}
			if tt.since < 0 && prev.Result == ResultOK && !prev.FailingSince.IsZero() {
				t.Errorf("success keeps failing since %v", prev.FailingSince)
			}
		})
	}
	// A success keeps the last error for status.
	rec, _ := fail(0, down).Next(true, ok(time.Minute), time.Hour)
	if rec.LastError != "" {
		t.Errorf("last error without a previous failure: %q", rec.LastError)
	}
	first, _ := LastRun{}.Next(false, fail(0, down), time.Hour)
	rec, _ = first.Next(true, ok(time.Minute), time.Hour)
	if rec.LastError != down || !rec.LastErrorTime.Equal(t0) {
		t.Errorf("success after a failure: last error %q at %v", rec.LastError, rec.LastErrorTime)
	}
}

func TestLastRunFile(t *testing.T) {
	q := Queue{Dir: t.TempDir(), Site: "peer"}
	if _, ok := q.ReadLastRun(); ok {
		t.Fatal("a record in an empty directory")
	}
	want := LastRun{Time: time.Now().Round(time.Second), Command: "nxmit run peer", Result: ResultError, Offered: 3, Error: "x"}
	for range 2 {
		if err := q.WriteLastRun(want); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := q.ReadLastRun()
	if !ok || !got.Time.Equal(want.Time) || got.Error != "x" || got.Offered != 3 {
		t.Errorf("read back %+v, %v", got, ok)
	}
	if ents, _ := os.ReadDir(q.Dir); len(ents) != 1 || ents[0].Name() != "peer.lastrun" {
		t.Errorf("directory: %v", ents)
	}
	os.WriteFile(filepath.Join(q.Dir, "peer.lastrun"), []byte("{garbage"), 0o644)
	if _, ok := q.ReadLastRun(); ok {
		t.Error("garbage read as a record")
	}
	// The record is not a queue file: a site with only a record is unknown.
	if has, _ := q.HasFiles(); has {
		t.Error("HasFiles counts the record")
	}
	// Hold and release.
	if held, _ := q.Held(); held {
		t.Error("held")
	}
	q.Hold("held by news since now: migrating")
	if held, note := q.Held(); !held || note != "held by news since now: migrating" {
		t.Errorf("Held: %v %q", held, note)
	}
	if r, err := q.Release(); !r || err != nil {
		t.Errorf("Release: %v %v", r, err)
	}
	if r, err := q.Release(); r || err != nil {
		t.Errorf("second Release: %v %v", r, err)
	}
}
