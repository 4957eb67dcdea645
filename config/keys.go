package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"nxmit/linefilter"
)

// siteKey describes one site parameter: how to parse it into Settings, copy it between
// layers and write it back.
type siteKey struct {
	name   string
	parse  func(s *Settings, v string) error
	copy   func(dst, src *Settings)
	format func(s *Settings) string
}

// The order is the order Format writes them in.
var siteKeys = []siteKey{
	strKey("host", func(s *Settings) *string { return &s.Host }, checkHosts),
	intKey("port", func(s *Settings) *int { return &s.Port }, 1, 65535),
	intKey("connections", func(s *Settings) *int { return &s.Connections }, 1, 64),
	intKey("max-site-connections", func(s *Settings) *int { return &s.MaxSiteConnections }, 1, 64),
	intKey("window", func(s *Settings) *int { return &s.Window }, 1, 10000),
	boolKey("fixed-window", func(s *Settings) *bool { return &s.FixedWindow }),
	strKey("check", func(s *Settings) *string { return &s.Check }, checkCheck),
	boolKey("streaming", func(s *Settings) *bool { return &s.Streaming }),
	durKey("connect-timeout", func(s *Settings) *time.Duration { return &s.ConnectTimeout }, true),
	durKey("reply-timeout", func(s *Settings) *time.Duration { return &s.ReplyTimeout }, true),
	strKey("user", func(s *Settings) *string { return &s.User }, checkPrintable),
	strKey("password", func(s *Settings) *string { return &s.Password }, checkPrintable),
	durKey("max-time", func(s *Settings) *time.Duration { return &s.MaxTime }, false),
	int64Key("max-articles", func(s *Settings) *int64 { return &s.MaxArticles }, false),
	boolKey("compress", func(s *Settings) *bool { return &s.Compress }),
	int64Key("rotate-min-size", func(s *Settings) *int64 { return &s.RotateMinSize }, true),
	durKey("rotate-max-age", func(s *Settings) *time.Duration { return &s.RotateMaxAge }, false),
	durKey("retry-delay", func(s *Settings) *time.Duration { return &s.RetryDelay }, false),
	strKey("article-log", func(s *Settings) *string { return &s.ArticleLog }, checkNonEmpty),
	int64Key("article-log-max-size", func(s *Settings) *int64 { return &s.ArticleLogMaxSize }, true),
	durKey("delay", func(s *Settings) *time.Duration { return &s.Delay }, false),
	strKey("hashfeed", func(s *Settings) *string { return &s.HashFeed }, checkHashFeed),
	intKey("max-crosspost", func(s *Settings) *int { return &s.MaxCrosspost }, 0, math.MaxInt32),
	intKey("max-hops", func(s *Settings) *int { return &s.MaxHops }, 0, math.MaxInt32),
	int64Key("max-size", func(s *Settings) *int64 { return &s.MaxSize }, true),
	boolKey("tls", func(s *Settings) *bool { return &s.TLS }),
	strKey("starttls", func(s *Settings) *string { return &s.StartTLS }, checkStartTLS),
	strKey("tls-ca", func(s *Settings) *string { return &s.TLSCA }, checkNonEmpty),
	strKey("tls-server-name", func(s *Settings) *string { return &s.TLSServerName }, checkHost),
	strKey("tls-cert", func(s *Settings) *string { return &s.TLSCert }, checkNonEmpty),
	strKey("tls-key", func(s *Settings) *string { return &s.TLSKey }, checkNonEmpty),
	boolKey("tls-verify", func(s *Settings) *bool { return &s.TLSVerify }),
	strKey("bind-address", func(s *Settings) *string { return &s.BindAddress }, checkBindAddress),
	strKey("family", func(s *Settings) *string { return &s.Family }, checkFamily),
	int64Key("max-rate", func(s *Settings) *int64 { return &s.MaxRate }, true),
	durKey("alert-after", func(s *Settings) *time.Duration { return &s.AlertAfter }, false),
	boolKey("hold", func(s *Settings) *bool { return &s.Hold }),
}

// checkHashFeed accepts what filter --hash accepts (linefilter.ParseHashFeed), or "" for
// the whole feed.
func checkHashFeed(v string) error {
	if v == "" {
		return nil
	}
	_, err := linefilter.ParseHashFeed(v)
	return err
}

func siteKeyIndex(name string) int {
	for i, k := range siteKeys {
		if k.name == name {
			return i
		}
	}
	return -1
}

// globalKey is a top-level parameter.
type globalKey struct {
	name   string
	parse  func(c *Config, v string) error
	format func(c *Config) string
}

var globalKeys = []globalKey{
	{"max-connections", func(c *Config, v string) error {
		n, err := parseInt(v, 1, 1024)
		c.MaxConnections = int(n)
		return err
	}, func(c *Config) string { return strconv.Itoa(c.MaxConnections) }},
	{"max-time", func(c *Config, v string) (err error) {
		c.MaxTime, err = ParseDuration(v)
		return err
	}, func(c *Config) string { return formatDuration(c.MaxTime) }},
	{"passwd", func(c *Config, v string) error {
		c.Passwd = v
		return checkNonEmpty(v)
	}, func(c *Config) string { return c.Passwd }},
	{"log-ident", func(c *Config, v string) error {
		c.LogIdent = v
		return CheckIdent(v)
	}, func(c *Config) string { return c.LogIdent }},
	{"log-file", func(c *Config, v string) error {
		c.LogFile = v
		return checkNonEmpty(v)
	}, func(c *Config) string { return c.LogFile }},
	{"flush", func(c *Config, v string) error {
		if v != "ctlinnd" && v != "icc" {
			return fmt.Errorf("%q: want ctlinnd or icc", v)
		}
		c.Flush = v
		return nil
	}, func(c *Config) string { return c.Flush }},
	{"ctlinnd", func(c *Config, v string) error {
		c.Ctlinnd = v
		return checkNonEmpty(v)
	}, func(c *Config) string { return c.Ctlinnd }},
	{"metrics-file", func(c *Config, v string) error {
		c.MetricsFile = v
		return checkNonEmpty(v)
	}, func(c *Config) string { return c.MetricsFile }},
	{"flush-timeout", func(c *Config, v string) (err error) {
		c.FlushTimeout, err = ParseDuration(v)
		if err == nil && c.FlushTimeout == 0 {
			err = errors.New("must be more than 0")
		}
		return err
	}, func(c *Config) string { return formatDuration(c.FlushTimeout) }},
}

func globalKeyIndex(name string) int {
	for i, k := range globalKeys {
		if k.name == name {
			return i
		}
	}
	return -1
}

func strKey(name string, field func(*Settings) *string, check func(string) error) siteKey {
	return siteKey{
		name: name,
		parse: func(s *Settings, v string) error {
			if err := check(v); err != nil {
				return err
			}
			*field(s) = v
			return nil
		},
		copy:   func(d, s *Settings) { *field(d) = *field(s) },
		format: func(s *Settings) string { return *field(s) },
	}
}

func intKey(name string, field func(*Settings) *int, min, max int64) siteKey {
	return siteKey{
		name: name,
		parse: func(s *Settings, v string) error {
			n, err := parseInt(v, min, max)
			if err == nil {
				*field(s) = int(n)
			}
			return err
		},
		copy:   func(d, s *Settings) { *field(d) = *field(s) },
		format: func(s *Settings) string { return strconv.Itoa(*field(s)) },
	}
}

// int64Key is a count (max-articles) or, with size set, a size with k/m/g suffixes.
func int64Key(name string, field func(*Settings) *int64, size bool) siteKey {
	return siteKey{
		name: name,
		parse: func(s *Settings, v string) error {
			var n int64
			var err error
			if size {
				n, err = ParseSize(v)
			} else {
				n, err = parseInt(v, 0, math.MaxInt64)
			}
			if err == nil {
				*field(s) = n
			}
			return err
		},
		copy:   func(d, s *Settings) { *field(d) = *field(s) },
		format: func(s *Settings) string { return strconv.FormatInt(*field(s), 10) },
	}
}

func boolKey(name string, field func(*Settings) *bool) siteKey {
	return siteKey{
		name: name,
		parse: func(s *Settings, v string) error {
			b, err := ParseBool(v)
			if err == nil {
				*field(s) = b
			}
			return err
		},
		copy: func(d, s *Settings) { *field(d) = *field(s) },
		format: func(s *Settings) string {
			if *field(s) {
				return "yes"
			}
			return "no"
		},
	}
}

// durKey is a duration; positive ones must not be zero (a zero timeout means nothing).
func durKey(name string, field func(*Settings) *time.Duration, positive bool) siteKey {
	return siteKey{
		name: name,
		parse: func(s *Settings, v string) error {
			d, err := ParseDuration(v)
			if err == nil && positive && d == 0 {
				err = errors.New("must be more than 0")
			}
			if err == nil {
				*field(s) = d
			}
			return err
		},
		copy:   func(d, s *Settings) { *field(d) = *field(s) },
		format: func(s *Settings) string { return formatDuration(*field(s)) },
	}
}

func parseInt(v string, min, max int64) (int64, error) {
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		if max == math.MaxInt64 {
			return 0, fmt.Errorf("%s is out of range (at least %d)", v, min)
		}
		return 0, fmt.Errorf("%s is out of range (%d to %d)", v, min, max)
	}
	return n, nil
}

// ParseDuration parses a duration, the one syntax of nxmit.conf, the command line and
// filter: a plain number is seconds (innxmit's and INN's files' habit), otherwise one or
// more numbers each with a unit, s, m, h, d (24h) or w (7d), as in 90s, 10m, 1h30m, 1.5d
// (ms, us and ns are accepted too, as Go writes them). Negative durations are refused.
func ParseDuration(v string) (time.Duration, error) {
	if v != "" && strings.TrimLeft(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("%s seconds is too long", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("%q is not a duration (seconds, or with units s, m, h, d: 90, 90s, 10m, 1h30m, 1d)", v)
	}
	if strings.HasPrefix(v, "-") {
		return 0, fmt.Errorf("%s is negative", v)
	}
	rest := strings.TrimPrefix(v, "+")
	if rest == "" {
		return bad()
	}
	var total float64
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if i == 0 || err != nil {
			return bad()
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		unit, ok := durationUnits[rest[:j]]
		if !ok {
			return bad()
		}
		rest = rest[j:]
		total += num * float64(unit)
	}
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("%s is too long", v)
	}
	return time.Duration(total), nil
}

// durationUnits are ParseDuration's units.
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond,
	"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return d.String()
}

// ParseSize parses a byte count with an optional k, m or g suffix (powers of 1024,
// upper or lower case), as shrinkfile and nntpsend.ctl write sizes.
func ParseSize(v string) (int64, error) {
	mult := int64(1)
	num := v
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k', 'K':
			mult, num = 1<<10, v[:n-1]
		case 'm', 'M':
			mult, num = 1<<20, v[:n-1]
		case 'g', 'G':
			mult, num = 1<<30, v[:n-1]
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a size (like 500000, 100k, 20m, 2g)", v)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%s is too large", v)
	}
	return n * mult, nil
}

// ParseBool parses inn.conf's booleans: true, yes, on, false, no, off.
func ParseBool(v string) (bool, error) {
	switch v {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (yes or no)", v)
}

func checkCheck(v string) error {
	switch v {
	case "adaptive", "always", "never":
		return nil
	}
	return fmt.Errorf("%q: want adaptive, always or never", v)
}

// checkHosts accepts one host or several, separated by spaces or commas.
func checkHosts(v string) error {
	hosts := SplitList(v)
	if len(hosts) == 0 {
		return errors.New("empty host")
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return err
		}
	}
	return nil
}

func checkHost(v string) error {
	if v == "" {
		return errors.New("empty host")
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f || r == '/' || r == ',' {
			return fmt.Errorf("invalid host %q", v)
		}
	}
	return nil
}

// SplitList splits a list value (hosts, addresses) at spaces and commas.
func SplitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
}

func checkStartTLS(v string) error {
	switch v {
	case "yes", "no", "optional":
		return nil
	}
	return fmt.Errorf("%q: want yes, no or optional", v)
}

func checkFamily(v string) error {
	switch v {
	case "any", "ipv4", "ipv6":
		return nil
	}
	return fmt.Errorf("%q: want any, ipv4 or ipv6", v)
}

// checkBindAddress accepts an IPv4 address, an IPv6 address, or one of each.
func checkBindAddress(v string) error {
	addrs := SplitList(v)
	if len(addrs) == 0 {
		return errors.New("empty address")
	}
	var v4, v6 int
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", a)
		}
		if ip.Unmap().Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 > 1 || v6 > 1 {
		return errors.New("at most one IPv4 and one IPv6 address")
	}
	return nil
}

// checkPrintable refuses control characters: they would corrupt an NNTP command line.
func checkPrintable(v string) error {
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return errors.New("contains a control character")
		}
	}
	return nil
}

func checkNonEmpty(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	return checkPrintable(v)
}

// CheckIdent reports whether v can be a syslog ident: innreport takes the program name
// from "ident[pid]:", so spaces, ':' and '[' would break the line.
func CheckIdent(v string) error {
	if v == "" {
		return errors.New("empty ident")
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f || r == ':' || r == '[' || r == ']' {
			return fmt.Errorf("invalid syslog ident %q", v)
		}
	}
	return nil
}
