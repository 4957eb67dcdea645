package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseDuration is the one duration syntax of nxmit.conf, the command line and
// filter: plain numbers are seconds, units s, m, h, d and w.
func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""},
		{"30", 30 * time.Second, ""},
		{"600", 10 * time.Minute, ""},
		{"90s", 90 * time.Second, ""},
		{"10m", 10 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1d", 24 * time.Hour, ""},
		{"1.5d", 36 * time.Hour, ""},
		{"2w", 14 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"0s", 0, ""},
		{"", 0, `"" is not a duration`},
		{"soon", 0, `"soon" is not a duration (seconds, or with units s, m, h, d`},
		{"10x", 0, "is not a duration"},
		{"m", 0, "is not a duration"},
		{"1.2.3s", 0, "is not a duration"},
		{"-4m", 0, "-4m is negative"},
		{"99999999999999999999", 0, "seconds is too long"},
		{"9999999999999w", 0, "is too long"},
	} {
		got, err := ParseDuration(c.in)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("ParseDuration(%q): %v", c.in, err)
		case c.err == "" && got != c.want:
			t.Errorf("ParseDuration(%q) = %v, want %v", c.in, got, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseDuration(%q) = %v, %v; want error %q", c.in, got, err, c.err)
		}
	}
}

// FuzzParseDuration: no panic, never negative, and what Go's own syntax accepts (when
// not negative) means the same here.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30", "1h30m", "1.5d", "2w", "250ms", "-1s", ".5s", "1e3s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if g, gerr := time.ParseDuration(s); gerr == nil && g >= 0 && g < 1<<53 && g != d {
			t.Fatalf("ParseDuration(%q) = %v, Go says %v", s, d, g)
		}
	})
}
