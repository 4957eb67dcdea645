package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// XmitStats is what innxmit -v prints on stdout and nxmit -v on stderr, in innxmit's
// format:
//
//	HOST stats offered N accepted N refused N rejected N missing N accsize N rejsize N
//	HOST times user S.SSS system S.SSS elapsed S.SSS
//
// plus, from nxmit only, its own detail line ("HOST nxmit deferred N requeued N ...").
type XmitStats struct {
	Host                                          string
	Offered, Accepted, Refused, Rejected, Missing int64
	AccSize, RejSize                              int64
	User, System, Elapsed                         time.Duration

	// From nxmit's detail line; HaveDetail says whether there was one.
	HaveDetail                 bool
	Deferred, Requeued, Queued int64
	Malformed, Connections     int64
	Window                     int64 // the largest window of a connection (0: not reported)
}

// ErrNoStats means the output has no stats line.
var ErrNoStats = errors.New("no stats line in the output")

// ParseXmitStats finds the stats and times lines in a program's output. The stats line is
// required; the times line is not (innxmit prints it only after connecting). When a line
// appears more than once the last one counts.
func ParseXmitStats(out []byte) (XmitStats, error) {
	var s XmitStats
	haveStats := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		kind, host, kv, ok := splitStatsLine(f)
		if !ok {
			continue
		}
		switch kind {
		case "stats":
			var t XmitStats
			if err := fill(kv, map[string]*int64{
				"offered": &t.Offered, "accepted": &t.Accepted, "refused": &t.Refused,
				"rejected": &t.Rejected, "missing": &t.Missing, "accsize": &t.AccSize,
				"rejsize": &t.RejSize,
			}, nil, []string{"offered", "accepted", "refused", "rejected"}); err != nil {
				return s, fmt.Errorf("stats line %q: %w", sc.Text(), err)
			}
			s.Host = host
			s.Offered, s.Accepted, s.Refused, s.Rejected = t.Offered, t.Accepted, t.Refused, t.Rejected
			s.Missing, s.AccSize, s.RejSize = t.Missing, t.AccSize, t.RejSize
			haveStats = true
		case "times":
			var t XmitStats
			if err := fill(kv, nil, map[string]*time.Duration{
				"user": &t.User, "system": &t.System, "elapsed": &t.Elapsed,
			}, []string{"elapsed"}); err != nil {
				return s, fmt.Errorf("times line %q: %w", sc.Text(), err)
			}
			s.User, s.System, s.Elapsed = t.User, t.System, t.Elapsed
		case "nxmit":
			var t XmitStats
			if err := fill(kv, map[string]*int64{
				"deferred": &t.Deferred, "requeued": &t.Requeued, "queued": &t.Queued,
				"malformed": &t.Malformed, "connections": &t.Connections, "window": &t.Window,
			}, nil, nil); err != nil {
				return s, fmt.Errorf("detail line %q: %w", sc.Text(), err)
			}
			s.HaveDetail = true
			s.Deferred, s.Requeued, s.Queued = t.Deferred, t.Requeued, t.Queued
			s.Malformed, s.Connections, s.Window = t.Malformed, t.Connections, t.Window
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if !haveStats {
		return s, ErrNoStats
	}
	return s, nil
}

// splitStatsLine recognises "HOST KIND key value ..." where KIND is stats, times or nxmit,
// also behind a log prefix ("Nov 24 12:00:00 vm innxmit[42]: HOST stats ...").
func splitStatsLine(f []string) (kind, host string, kv []string, ok bool) {
	for i := 1; i+2 < len(f); i++ {
		switch f[i] {
		case "stats", "times", "nxmit":
			rest := f[i+1:]
			if len(rest)%2 != 0 {
				continue
			}
			if f[i] == "stats" && rest[0] != "offered" || f[i] == "times" && rest[0] != "user" ||
				f[i] == "nxmit" && rest[0] != "deferred" {
				continue
			}
			return f[i], f[i-1], rest, true
		}
	}
	return "", "", nil, false
}

// fill parses key value pairs into ints and seconds; unknown keys are ignored (a later
// version may add fields), and every key in required must be present.
func fill(kv []string, ints map[string]*int64, secs map[string]*time.Duration, required []string) error {
	seen := make(map[string]bool, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		if p, ok := ints[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: bad count %q", k, v)
			}
			*p = n
			seen[k] = true
		} else if p, ok := secs[k]; ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 || x > 1e9 {
				return fmt.Errorf("%s: bad seconds %q", k, v)
			}
			*p = time.Duration(x * float64(time.Second))
			seen[k] = true
		}
	}
	for _, k := range required {
		if !seen[k] {
			return fmt.Errorf("no %s field", k)
		}
	}
	return nil
}
