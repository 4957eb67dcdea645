package audit

import (
	"testing"
	"time"
)

func TestEntryRoundTrip(t *testing.T) {
	tests := []Entry{
		{Site: "peer", Host: "news.example", Outcome: Rejected, MessageID: "<a@b>", Article: "@0201@", Conn: 3, Bytes: 2048, Code: 439, Text: "<a@b> Duplicate article"},
		{Site: "peer", Host: "h", Outcome: Malformed, Text: "/x/peer.B.1:4: no message-id"},
		{Site: "peer", Host: "h", Outcome: Accepted, MessageID: "<a@b>", Article: "x", Conn: 1, Bytes: 1, Code: 239},
	}
	for _, e := range tests {
		e.Time = time.Date(2026, 11, 29, 21, 3, 4, 123e6, time.UTC)
		b := e.AppendText(nil)
		got, err := ParseEntry(string(b[:len(b)-1]))
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if !got.Time.Equal(e.Time) {
			t.Errorf("time %v, want %v", got.Time, e.Time)
		}
		got.Time = e.Time
		if got != e {
			t.Errorf("round trip of %q: %+v, want %+v", b, got, e)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add("2026-11-29T21:03:04.123Z peer h rejected <a@b> @0201@ 3 2048 439 <a@b> Duplicate")
	f.Add("2026-11-29T21:03:04.123+01:00 - - malformed - - 0 0 - x")
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEntry(line)
		if err != nil {
			return
		}
		// What parses writes back as a line that parses to the same entry.
		b := e.AppendText(nil)
		e2, err := ParseEntry(string(b[:len(b)-1]))
		if err != nil {
			t.Fatalf("%q parsed, its rewrite %q does not: %v", line, b, err)
		}
		if e2.Outcome != e.Outcome || e2.Conn != e.Conn || e2.Code != e.Code {
			t.Errorf("rewrite changed %+v to %+v", e, e2)
		}
	})
}
