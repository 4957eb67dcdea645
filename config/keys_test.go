package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// keyCase is one value of one parameter: in a site block (site) or at the top level.
type keyCase struct {
	key, value string
	site       bool
	check      func(c *Config, s Settings) bool // nil: the value is refused
	err        string                           // the message, after "f:N: key: "
}

// keyCases covers every parameter (TestKeyCasesCoverEveryKey checks it) in each of its
// value forms, and each of the value errors.
var keyCases = []keyCase{
	{"host", "news.example", true, func(_ *Config, s Settings) bool { return s.Host == "news.example" }, ""},
	{"host", "192.0.2.1", true, func(_ *Config, s Settings) bool { return s.Host == "192.0.2.1" }, ""},
	{"host", `""`, true, nil, "empty host"},
	{"host", "a/b", true, nil, `invalid host "a/b"`},
	{"port", "563", true, func(_ *Config, s Settings) bool { return s.Port == 563 }, ""},
	{"port", "65536", true, nil, "65536 is out of range (1 to 65535)"},
	{"connections", "64", true, func(_ *Config, s Settings) bool { return s.Connections == 64 }, ""},
	{"connections", "65", true, nil, "65 is out of range (1 to 64)"},
	{"connections", "-1", true, nil, `"-1" is not a number`},
	{"max-site-connections", "16", true, func(_ *Config, s Settings) bool { return s.MaxSiteConnections == 16 }, ""},
	{"max-site-connections", "0", true, nil, "0 is out of range (1 to 64)"},
	{"window", "1", true, func(_ *Config, s Settings) bool { return s.Window == 1 }, ""},
	{"window", "10001", true, nil, "10001 is out of range (1 to 10000)"},
	{"check", "adaptive", true, func(_ *Config, s Settings) bool { return s.Check == "adaptive" }, ""},
	{"check", "always", true, func(_ *Config, s Settings) bool { return s.Check == "always" }, ""},
	{"check", "never", true, func(_ *Config, s Settings) bool { return s.Check == "never" }, ""},
	{"check", "Never", true, nil, `"Never": want adaptive, always or never`},
	{"streaming", "yes", true, func(_ *Config, s Settings) bool { return s.Streaming }, ""},
	{"streaming", "true", true, func(_ *Config, s Settings) bool { return s.Streaming }, ""},
	{"streaming", "off", true, func(_ *Config, s Settings) bool { return !s.Streaming && s.IsSet("streaming") }, ""},
	{"streaming", "false", true, func(_ *Config, s Settings) bool { return !s.Streaming && s.IsSet("streaming") }, ""},
	{"streaming", "1", true, nil, `"1" is not a boolean (yes or no)`},
	{"connect-timeout", "45s", true, func(_ *Config, s Settings) bool { return s.ConnectTimeout == 45*time.Second }, ""},
	{"connect-timeout", "90", true, func(_ *Config, s Settings) bool { return s.ConnectTimeout == 90*time.Second }, ""},
	{"connect-timeout", "0s", true, nil, "must be more than 0"},
	{"reply-timeout", "1h30m", true, func(_ *Config, s Settings) bool { return s.ReplyTimeout == 90*time.Minute }, ""},
	{"reply-timeout", "99999999999999999999", true, nil, "99999999999999999999 seconds is too long"},
	{"user", "nxmit", true, func(_ *Config, s Settings) bool { return s.User == "nxmit" }, ""},
	{"user", `"a\tb"`, true, nil, "contains a control character"},
	{"user", "\"a\tb\"", true, nil, "contains a control character"},
	{"user", "\"a\x01b\"", true, nil, "invalid control character 0x01 in quoted string"},
	{"password", `"with space"`, true, func(_ *Config, s Settings) bool { return s.Password == "with space" }, ""},
	{"password", `"a\"b"`, true, func(_ *Config, s Settings) bool { return s.Password == `a"b` }, ""},
	{"max-time", "0", true, func(_ *Config, s Settings) bool { return s.MaxTime == 0 && s.IsSet("max-time") }, ""},
	{"max-time", "10m", true, func(_ *Config, s Settings) bool { return s.MaxTime == 10*time.Minute }, ""},
	{"max-time", "soon", true, nil, `"soon" is not a duration (seconds, or with units s, m, h, d: 90, 90s, 10m, 1h30m, 1d)`},
	{"max-articles", "0", true, func(_ *Config, s Settings) bool { return s.MaxArticles == 0 && s.IsSet("max-articles") }, ""},
	{"max-articles", "5000", true, func(_ *Config, s Settings) bool { return s.MaxArticles == 5000 }, ""},
	{"max-articles", "99999999999999999999", true, nil, "99999999999999999999 is out of range (at least 0)"},
	{"fixed-window", "yes", true, func(_ *Config, s Settings) bool { return s.FixedWindow }, ""},
	{"fixed-window", "no", true, func(_ *Config, s Settings) bool { return !s.FixedWindow && s.IsSet("fixed-window") }, ""},
	{"fixed-window", "128", true, nil, `"128" is not a boolean (yes or no)`},
	{"compress", "no", true, func(_ *Config, s Settings) bool { return !s.Compress && s.IsSet("compress") }, ""},
	{"compress", "on", true, func(_ *Config, s Settings) bool { return s.Compress }, ""},
	{"compress", "2", true, nil, `"2" is not a boolean (yes or no)`},
	{"delay", "30m", true, func(_ *Config, s Settings) bool { return s.Delay == 30*time.Minute }, ""},
	{"delay", "later", true, nil, `"later" is not a duration (seconds, or with units s, m, h, d: 90, 90s, 10m, 1h30m, 1d)`},
	{"hashfeed", "1-2/3:4", true, func(_ *Config, s Settings) bool { return s.HashFeed == "1-2/3:4" }, ""},
	{"hashfeed", "4/3", true, nil, `hashfeed "4/3": buckets "4" are not within 1 to 3 in order`},
	{"max-crosspost", "5", true, func(_ *Config, s Settings) bool { return s.MaxCrosspost == 5 }, ""},
	{"max-crosspost", "-1", true, nil, `"-1" is not a number`},
	{"max-hops", "20", true, func(_ *Config, s Settings) bool { return s.MaxHops == 20 }, ""},
	{"max-hops", "x", true, nil, `"x" is not a number`},
	{"max-size", "2m", true, func(_ *Config, s Settings) bool { return s.MaxSize == 2<<20 }, ""},
	{"max-size", "big", true, nil, `"big" is not a size (like 500000, 100k, 20m, 2g)`},
	{"alert-after", "2h", true, func(_ *Config, s Settings) bool { return s.AlertAfter == 2*time.Hour }, ""},
	{"alert-after", "0", true, func(_ *Config, s Settings) bool { return s.AlertAfter == 0 && s.IsSet("alert-after") }, ""},
	{"alert-after", "later", true, nil, `"later" is not a duration (seconds, or with units s, m, h, d: 90, 90s, 10m, 1h30m, 1d)`},
	{"hold", "yes", true, func(_ *Config, s Settings) bool { return s.Hold }, ""},
	{"hold", "maybe", true, nil, `"maybe" is not a boolean (yes or no)`},
	{"rotate-min-size", "500000", true, func(_ *Config, s Settings) bool { return s.RotateMinSize == 500000 }, ""},
	{"rotate-min-size", "100k", true, func(_ *Config, s Settings) bool { return s.RotateMinSize == 100<<10 }, ""},
	{"rotate-min-size", "20M", true, func(_ *Config, s Settings) bool { return s.RotateMinSize == 20<<20 }, ""},
	{"rotate-min-size", "2g", true, func(_ *Config, s Settings) bool { return s.RotateMinSize == 2<<30 }, ""},
	{"rotate-min-size", "0", true, func(_ *Config, s Settings) bool { return s.RotateMinSize == 0 && s.IsSet("rotate-min-size") }, ""},
	{"rotate-min-size", "10mb", true, nil, `"10mb" is not a size (like 500000, 100k, 20m, 2g)`},
	{"rotate-max-age", "4m", true, func(_ *Config, s Settings) bool { return s.RotateMaxAge == 4*time.Minute }, ""},
	{"rotate-max-age", "-4m", true, nil, "-4m is negative"},
	{"rotate-max-age", "0", true, func(_ *Config, s Settings) bool { return s.RotateMaxAge == 0 && s.IsSet("rotate-max-age") }, ""},
	{"retry-delay", "30m", true, func(_ *Config, s Settings) bool { return s.RetryDelay == 30*time.Minute }, ""},
	{"retry-delay", "1d", true, func(_ *Config, s Settings) bool { return s.RetryDelay == 24*time.Hour }, ""},
	{"retry-delay", "1day", true, nil, `"1day" is not a duration (seconds, or with units s, m, h, d: 90, 90s, 10m, 1h30m, 1d)`},
	{"article-log", "/var/log/news/articles.%Y%m%d", true, func(_ *Config, s Settings) bool { return s.ArticleLog == "/var/log/news/articles.%Y%m%d" }, ""},
	{"article-log", `""`, true, nil, "empty value"},
	{"article-log-max-size", "100m", true, func(_ *Config, s Settings) bool { return s.ArticleLogMaxSize == 100<<20 }, ""},
	{"article-log-max-size", "big", true, nil, `"big" is not a size (like 500000, 100k, 20m, 2g)`},
	{"host", "a.example b.example,c.example", true, func(_ *Config, s Settings) bool { return len(s.Hosts()) == 3 && s.Hosts()[2] == "c.example" }, ""},
	{"host", "a.example b/c", true, nil, `invalid host "b/c"`},
	{"tls", "yes", true, func(_ *Config, s Settings) bool { return s.TLS && s.Port == DefaultTLSPort }, ""},
	{"tls", "maybe", true, nil, `"maybe" is not a boolean (yes or no)`},
	{"starttls", "optional", true, func(_ *Config, s Settings) bool { return s.StartTLS == "optional" && s.UsesTLS() }, ""},
	{"starttls", "no", true, func(_ *Config, s Settings) bool { return s.StartTLS == "no" && !s.UsesTLS() }, ""},
	{"starttls", "maybe", true, nil, `"maybe": want yes, no or optional`},
	{"tls-ca", "/etc/news/ca.pem", true, func(_ *Config, s Settings) bool { return s.TLSCA == "/etc/news/ca.pem" }, ""},
	{"tls-ca", `""`, true, nil, "empty value"},
	{"tls-server-name", "news.example", true, func(_ *Config, s Settings) bool { return s.TLSServerName == "news.example" }, ""},
	{"tls-server-name", "a/b", true, nil, `invalid host "a/b"`},
	{"tls-cert", "/etc/news/feed.crt", true, func(_ *Config, s Settings) bool { return s.TLSCert == "/etc/news/feed.crt" }, ""},
	{"tls-cert", `""`, true, nil, "empty value"},
	{"tls-key", "/etc/news/feed.key", true, func(_ *Config, s Settings) bool { return s.TLSKey == "/etc/news/feed.key" }, ""},
	{"tls-key", `""`, true, nil, "empty value"},
	{"tls-verify", "no", true, func(_ *Config, s Settings) bool { return !s.TLSVerify && s.IsSet("tls-verify") }, ""},
	{"tls-verify", "sometimes", true, nil, `"sometimes" is not a boolean (yes or no)`},
	{"bind-address", "192.0.2.1 2001:db8::1", true, func(_ *Config, s Settings) bool { return s.BindAddress == "192.0.2.1 2001:db8::1" }, ""},
	{"bind-address", "news.example", true, nil, `"news.example" is not an IP address`},
	{"bind-address", "192.0.2.1 192.0.2.2", true, nil, "at most one IPv4 and one IPv6 address"},
	{"family", "ipv6", true, func(_ *Config, s Settings) bool { return s.Family == "ipv6" }, ""},
	{"family", "inet", true, nil, `"inet": want any, ipv4 or ipv6`},
	{"max-rate", "2m", true, func(_ *Config, s Settings) bool { return s.MaxRate == 2<<20 }, ""},
	{"max-rate", "fast", true, nil, `"fast" is not a size (like 500000, 100k, 20m, 2g)`},

	{"max-connections", "1", false, func(c *Config, _ Settings) bool { return c.MaxConnections == 1 }, ""},
	{"max-connections", "1024", false, func(c *Config, _ Settings) bool { return c.MaxConnections == 1024 }, ""},
	{"max-connections", "0", false, nil, "0 is out of range (1 to 1024)"},
	{"max-time", "2h", false, func(c *Config, _ Settings) bool { return c.MaxTime == 2*time.Hour }, ""},
	{"max-time", "-1s", false, nil, "-1s is negative"},
	{"passwd", "/etc/news/passwd.nntp", false, func(c *Config, _ Settings) bool { return c.Passwd == "/etc/news/passwd.nntp" }, ""},
	{"passwd", `""`, false, nil, "empty value"},
	{"log-ident", "innxmit", false, func(c *Config, _ Settings) bool { return c.LogIdent == "innxmit" }, ""},
	{"log-ident", `""`, false, nil, "empty ident"},
	{"log-ident", "a[1]", false, nil, `invalid syslog ident "a[1]"`},
	{"log-file", "/var/log/news/nxmit.log", false, func(c *Config, _ Settings) bool { return c.LogFile == "/var/log/news/nxmit.log" }, ""},
	{"log-file", `""`, false, nil, "empty value"},
	{"metrics-file", "/var/lib/node_exporter/nxmit.prom", false, func(c *Config, _ Settings) bool { return c.MetricsFile == "/var/lib/node_exporter/nxmit.prom" }, ""},
	{"metrics-file", `""`, false, nil, "empty value"},
	{"flush", "ctlinnd", false, func(c *Config, _ Settings) bool { return c.Flush == "ctlinnd" }, ""},
	{"flush", "icc", false, func(c *Config, _ Settings) bool { return c.Flush == "icc" }, ""},
	{"flush", "kill", false, nil, `"kill": want ctlinnd or icc`},
	{"ctlinnd", "/usr/lib/news/bin/ctlinnd", false, func(c *Config, _ Settings) bool { return c.Ctlinnd == "/usr/lib/news/bin/ctlinnd" }, ""},
	{"ctlinnd", `""`, false, nil, "empty value"},
	{"flush-timeout", "1m", false, func(c *Config, _ Settings) bool { return c.FlushTimeout == time.Minute }, ""},
	{"flush-timeout", "0", false, nil, "must be more than 0"},
}

func TestKeyCases(t *testing.T) {
	for _, tt := range keyCases {
		in := tt.key + ": " + tt.value + "\n"
		line := "1"
		if tt.site {
			in = "site a {\n  " + in + "}\n"
			line = "2"
		}
		c, err := Parse(strings.NewReader(in), "f")
		if tt.check == nil {
			var se *SyntaxError
			want := "f:" + line + ": " + tt.key + ": " + tt.err
			if strings.Contains(tt.err, "quoted string") {
				want = "f:" + line + ": " + tt.err // found by the lexer, before the key
			}
			if !errors.As(err, &se) || err.Error() != want {
				t.Errorf("%s: %s: got %v, want %q", tt.key, tt.value, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %s: %v", tt.key, tt.value, err)
			continue
		}
		var s Settings
		if tt.site {
			s = c.Resolve("a")
		}
		if !tt.check(c, s) {
			t.Errorf("%s: %s: unexpected result %+v / %+v", tt.key, tt.value, c, s)
		}
	}
}

// TestKeyCasesCoverEveryKey makes a new parameter come with its cases: a value that is
// taken and one that is refused.
func TestKeyCasesCoverEveryKey(t *testing.T) {
	type cover struct{ ok, refused bool }
	site, global := map[string]*cover{}, map[string]*cover{}
	for _, k := range siteKeys {
		site[k.name] = &cover{}
	}
	for _, k := range globalKeys {
		global[k.name] = &cover{}
	}
	for _, tt := range keyCases {
		m := global
		if tt.site {
			m = site
		}
		c := m[tt.key]
		if c == nil {
			t.Errorf("case for unknown parameter %q", tt.key)
			continue
		}
		if tt.check != nil {
			c.ok = true
		} else {
			c.refused = true
		}
	}
	for what, m := range map[string]map[string]*cover{"site": site, "global": global} {
		for k, c := range m {
			// Every string is a valid password.
			if !c.ok || (!c.refused && k != "password") {
				t.Errorf("%s parameter %s: cases taken %v, refused %v", what, k, c.ok, c.refused)
			}
		}
	}
}

// TestParseStructureErrors covers the parser's messages not tied to a value.
func TestParseStructureErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"site a port: 1", `f:1: unexpected "port:", expecting '{'`},
		{"site a {\n  port: 1 {\n}\n", "f:2: port: unexpected '{' after the value (quote values containing spaces)"},
		{"site a {\n  \"quoted\"\n}\n", `f:2: unexpected quoted string "quoted", expecting "key: value" or '}'`},
		{"site -a {}", `f:1: invalid site name "-a": starts with '-'`},
		{"site a:b {}", `f:1: invalid site name "a:b": contains ':'`},
		{"{\n", "f:1: unexpected '{', expecting a parameter or a block"},
		{"a\x01: 1", "f:1: invalid control character 0x01"},
		{"log-file: \"x", "f:1: no closing quote"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in), "f")
		var se *SyntaxError
		if !errors.As(err, &se) || err.Error() != tt.want {
			t.Errorf("%q:\n got %v\nwant %q", tt.in, err, tt.want)
		}
	}
}
