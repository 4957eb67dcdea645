package bench

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseXmitStats(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want XmitStats
		err  bool
	}{
		{
			name: "innxmit -v",
			out: "127.0.0.1 stats offered 20000 accepted 19998 refused 1 rejected 1 missing 0 accsize 100071640 rejsize 186\n" +
				"127.0.0.1 times user 0.168 system 1.872 elapsed 3.520\n",
			want: XmitStats{Host: "127.0.0.1", Offered: 20000, Accepted: 19998, Refused: 1, Rejected: 1,
				AccSize: 100071640, RejSize: 186, User: 168 * time.Millisecond, System: 1872 * time.Millisecond,
				Elapsed: 3520 * time.Millisecond},
		},
		{
			name: "nxmit -v with detail line and noise",
			out: "nxmit: send peer: something to say\n" +
				"127.0.0.1 stats offered 5 accepted 4 refused 0 rejected 0 missing 1 accsize 400 rejsize 0\n" +
				"127.0.0.1 times user 0.010 system 0.020 elapsed 0.500\n" +
				"127.0.0.1 nxmit deferred 0 requeued 0 malformed 2 queued 0 connections 4 nocheck 4 rate 10.0\n",
			want: XmitStats{Host: "127.0.0.1", Offered: 5, Accepted: 4, Missing: 1, AccSize: 400,
				User: 10 * time.Millisecond, System: 20 * time.Millisecond, Elapsed: 500 * time.Millisecond,
				HaveDetail: true, Malformed: 2, Connections: 4},
		},
		{
			name: "syslog prefix, older stats without sizes",
			out:  "Nov 24 12:00:00 vm innxmit[42]: news.example stats offered 3 accepted 3 refused 0 rejected 0\n",
			want: XmitStats{Host: "news.example", Offered: 3, Accepted: 3},
		},
		{name: "nothing", out: "innxmit: connect failed\n", err: true},
		{name: "bad number", out: "h stats offered x accepted 1 refused 0 rejected 0\n", err: true},
		{name: "times without stats", out: "h times user 1 system 1 elapsed 1\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseXmitStats([]byte(tt.out))
			if tt.err {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := ParseXmitStats(nil); !errors.Is(err, ErrNoStats) {
		t.Errorf("empty output: %v, want ErrNoStats", err)
	}
}

func FuzzParseXmitStats(f *testing.F) {
	f.Add([]byte("127.0.0.1 stats offered 1 accepted 1 refused 0 rejected 0 missing 0 accsize 10 rejsize 0\n127.0.0.1 times user 0.1 system 0.2 elapsed 0.3\n"))
	f.Add([]byte("h nxmit deferred 1 requeued 2 malformed 3 queued 4 connections 5 nocheck 6 rate 7\n"))
	f.Add([]byte(strings.Repeat("stats offered ", 100)))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseXmitStats(b)
		if err != nil {
			return
		}
		if s.Offered < 0 || s.Accepted < 0 || s.Elapsed < 0 {
			t.Fatalf("negative values from %q: %+v", b, s)
		}
	})
}
