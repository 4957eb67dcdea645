package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const sample = `# nxmit.conf for the tests
max-connections: 12
max-time: 50m
log-ident: innxmit

defaults {
    connections: 4
    window: 64
    compress: yes
}

site hub {
    host: news.hub.example   # trailing comment
    port: 433
    connections: 8; window: 256
    user: feeder
    password: "s3cret; \"really\" # not a comment"
    max-time: 600
}

site leaf { host: leaf.example; streaming: no; check: never }
site "quoted-name" {
}
`

func TestParseSample(t *testing.T) {
	c, err := Parse(strings.NewReader(sample), "nxmit.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 12 || c.MaxTime != 50*time.Minute || c.LogIdent != "innxmit" {
		t.Errorf("globals: %+v", c)
	}
	if got, want := c.SiteNames(), []string{"hub", "leaf", "quoted-name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sites %v, want %v", got, want)
	}
	hub := c.Resolve("hub")
	want := Settings{
		Host: "news.hub.example", Port: 433, Connections: 8, Window: 256, Check: "adaptive",
		Streaming: true, ConnectTimeout: 30 * time.Second, ReplyTimeout: 2 * time.Minute,
		User: "feeder", Password: `s3cret; "really" # not a comment`, MaxTime: 10 * time.Minute,
		Compress: true, RetryDelay: 10 * time.Minute, AlertAfter: time.Hour, RotateMinSize: 10 << 20, RotateMaxAge: 4 * time.Minute,
		StartTLS: "no", TLSVerify: true, Family: "any", MaxSiteConnections: 8,
	}
	if !sameValues(hub, want) {
		t.Errorf("hub:\n got %+v\nwant %+v", hub, want)
	}
	if hub.Line("port") != 14 || hub.Line("connections") != 15 || hub.Line("compress") != 9 {
		t.Errorf("lines: port %d connections %d compress %d", hub.Line("port"), hub.Line("connections"), hub.Line("compress"))
	}
	if w := c.Where("hub", "window"); w != "nxmit.conf:15" {
		t.Errorf("Where = %q", w)
	}
	leaf := c.Resolve("leaf")
	if leaf.Streaming || leaf.Check != "never" || leaf.Connections != 4 || leaf.Window != 64 || leaf.Port != 119 {
		t.Errorf("leaf: %+v", leaf)
	}
	// An undeclared site gets the defaults, its own name as host.
	other := c.Resolve("other")
	if other.Host != "other" || other.Connections != 4 || !other.IsSet("window") {
		t.Errorf("other: %+v", other)
	}
}

// sameValues compares the exported fields only.
func sameValues(a, b Settings) bool {
	a.set, a.lines, b.set, b.lines = 0, nil, 0, nil
	return reflect.DeepEqual(a, b)
}

func TestParseForms(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(*Config) bool
	}{
		{"empty", "", func(c *Config) bool { return len(c.Sites) == 0 }},
		{"comments only", "# a\n\n   # b\n", func(c *Config) bool { return len(c.Sites) == 0 }},
		{"no space after colon", "max-connections:3\n", func(c *Config) bool { return c.MaxConnections == 3 }},
		{"crlf", "max-connections: 3\r\nsite a {\r\nport: 1\r\n}\r\n", func(c *Config) bool { return c.Resolve("a").Port == 1 }},
		{"brace on next line", "site a\n{\nport: 2\n}\n", func(c *Config) bool { return c.Resolve("a").Port == 2 }},
		{"close brace after value", "site a { port: 3 }", func(c *Config) bool { return c.Resolve("a").Port == 3 }},
		{"no final newline", "max-time: 1h30m", func(c *Config) bool { return c.MaxTime == 90*time.Minute }},
		{"ipv6 host", "site a { host: 2001:db8::1 }", func(c *Config) bool { return c.Resolve("a").Host == "2001:db8::1" }},
		{"size suffix", "site a { rotate-min-size: 20m }", func(c *Config) bool { return c.Resolve("a").RotateMinSize == 20<<20 }},
		{"bool on", "site a { compress: on }", func(c *Config) bool { return c.Resolve("a").Compress }},
		{"seconds", "site a { reply-timeout: 600 }", func(c *Config) bool { return c.Resolve("a").ReplyTimeout == 10*time.Minute }},
		{"empty password", `site a { password: "" }`, func(c *Config) bool { s := c.Resolve("a"); return s.IsSet("password") && s.Password == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.in), "f")
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected result: %+v", c)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"port: 1\n", "f:1: port is a site parameter"},
		{"\n\nbogus: 1\n", "f:3: unknown parameter \"bogus\""},
		{"site a {\n  bogus: 1\n}\n", "f:2: unknown site parameter \"bogus\""},
		{"site a {\n  port: 0\n}\n", "f:2: port: 0 is out of range (1 to 65535)"},
		{"site a {\n  port: 70000\n}\n", "f:2: port: 70000 is out of range"},
		{"site a {\n  port: x1\n}\n", "f:2: port: \"x1\" is not a number"},
		{"site a {\n port: 1\n port: 2\n}\n", "f:3: port given twice in this block (first at line 2)"},
		{"max-time: 1\nmax-time: 2\n", "f:2: max-time given twice (first at line 1)"},
		{"site a {}\nsite a {}\n", "f:2: site a declared twice (first at line 1)"},
		{"defaults {}\ndefaults {}\n", "f:2: second defaults block"},
		{"site a {\n  port: 1\n", "f:1: block opened here is not closed"},
		{"site a {\n  user: two words\n}", "f:2: user: unexpected \"words\" after the value"},
		{"site a {\n  host:\n}", "f:2: host: missing value"},
		{"site a/b {}", "f:1: invalid site name \"a/b\""},
		{"site {}", "f:1: unexpected '{', expecting a site name"},
		{"site a {\n  site b {\n}", "f:2: site block inside a block"},
		{"port 119\n", "f:1: missing ':' after port"},
		{"hello\n", "f:1: unexpected \"hello\""},
		{"}\n", "f:1: unexpected '}'"},
		{"site a { check: sometimes }", "f:1: check: \"sometimes\": want adaptive, always or never"},
		{"site a { connect-timeout: 0 }", "f:1: connect-timeout: must be more than 0"},
		{"site a { reply-timeout: -5s }", "f:1: reply-timeout: -5s is negative"},
		{"site a { max-time: soon }", "f:1: max-time: \"soon\" is not a duration"},
		{"site a { compress: maybe }", "f:1: compress: \"maybe\" is not a boolean"},
		{"site a { rotate-min-size: 9999999999999g }", "f:1: rotate-min-size: 9999999999999g is too large"},
		{"flush: maybe", "f:1: flush: \"maybe\": want ctlinnd or icc"},
		{"log-ident: \"in nxmit\"", "f:1: log-ident: invalid syslog ident"},
		{"site a { max-connections: 3 }", "f:1: max-connections is a global parameter"},
		{"site a {\n password: \"abc\n}", "f:2: no closing quote"},
		{"site a { password: \"a\\qb\" }", "f:1: unknown escape \\q"},
		{": 3", "f:1: missing parameter name"},
		{"a\x00b: 1", "f:1: invalid control character 0x00"},
		{"max-connections: 2000", "f:1: max-connections: 2000 is out of range (1 to 1024)"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in), "f")
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a *SyntaxError", tt.in, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q:\n got %q\nwant prefix %q", tt.in, err, tt.want)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	c, err := Parse(strings.NewReader(sample), "nxmit.conf")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Format(&b); err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(bytes.NewReader(b.Bytes()), "nxmit.conf")
	if err != nil {
		t.Fatalf("reparse: %v\n%s", err, b.String())
	}
	if !equalConfigs(c, c2) {
		t.Errorf("round trip changed the configuration:\n%s", b.String())
	}
}

func equalConfigs(a, b *Config) bool {
	if a.MaxConnections != b.MaxConnections || a.MaxTime != b.MaxTime || a.Passwd != b.Passwd ||
		a.LogIdent != b.LogIdent || a.LogFile != b.LogFile || a.Flush != b.Flush || a.Ctlinnd != b.Ctlinnd ||
		a.FlushTimeout != b.FlushTimeout || a.set != b.set {
		return false
	}
	if !sameValues(a.Defaults, b.Defaults) || a.Defaults.set != b.Defaults.set || len(a.Sites) != len(b.Sites) {
		return false
	}
	for i := range a.Sites {
		x, y := a.Sites[i], b.Sites[i]
		if x.Name != y.Name || x.Settings.set != y.Settings.set || !sameValues(x.Settings, y.Settings) {
			return false
		}
	}
	return true
}

func TestMergePrecedence(t *testing.T) {
	c, err := Parse(strings.NewReader("defaults { connections: 2; window: 10 }\nsite a { connections: 3 }\n"), "f")
	if err != nil {
		t.Fatal(err)
	}
	var cmd Settings
	if err := cmd.Set("window", "20", 0); err != nil {
		t.Fatal(err)
	}
	s := c.Resolve("a").Merge(cmd)
	if s.Connections != 3 || s.Window != 20 || s.Port != 119 {
		t.Errorf("merged %+v", s)
	}
	if s.Line("window") != 0 || s.Line("connections") != 2 {
		t.Errorf("lines: window %d connections %d", s.Line("window"), s.Line("connections"))
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if c, err := Load(filepath.Join(dir, "none"), true); err != nil || len(c.Sites) != 0 {
		t.Errorf("optional missing file: %v %v", c, err)
	}
	if _, err := Load(filepath.Join(dir, "none"), false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("explicit missing file: %v", err)
	}
	p := filepath.Join(dir, FileName)
	os.WriteFile(p, []byte("site x {\n port: nope\n}\n"), 0o644)
	if _, err := Load(p, true); err == nil || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Errorf("error does not name the file and line: %v", err)
	}
	t.Setenv(EnvVar, "/elsewhere.conf")
	if got := DefaultPath("/etc/news"); got != "/elsewhere.conf" {
		t.Errorf("DefaultPath with %s = %q", EnvVar, got)
	}
	t.Setenv(EnvVar, "")
	if got := DefaultPath("/etc/news"); got != "/etc/news/nxmit.conf" {
		t.Errorf("DefaultPath = %q", got)
	}
}

func TestPasswd(t *testing.T) {
	in := "# comment\n\nNews.Hub.Example:feeder:pw:with:colons\nbroken line\nleaf.example::justpass\nplain:u:p:authinfo\n"
	p, err := ParsePasswd(strings.NewReader(in), "passwd.nntp")
	if err == nil {
		t.Fatalf("want an error for the unknown style, got %+v", p)
	}
	in = "# comment\n\nNews.Hub.Example:feeder:pw\nbroken line\nleaf.example::justpass\nplain:u:p:authinfo\n"
	p, err = ParsePasswd(strings.NewReader(in), "passwd.nntp")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := p.Lookup("news.hub.example"); !ok || c.User != "feeder" || c.Password != "pw" || c.Line != 3 {
		t.Errorf("lookup hub: %+v %v", c, ok)
	}
	if c, ok := p.Lookup("plain"); !ok || c.Password != "p" {
		t.Errorf("lookup plain: %+v", c)
	}
	if c, ok := p.Lookup("leaf.example"); !ok || c.User != "" || c.Password != "justpass" {
		t.Errorf("lookup leaf: %+v", c)
	}
	if _, ok := p.Lookup("other"); ok {
		t.Error("found an entry for an unlisted host")
	}
	// ASCII case only, as INN's strcasecmp: the Kelvin sign is not a k, the long s no s.
	for _, h := range []string{"news.hub.exampl\u212a", "new\u017f.hub.example", "NEWS.HUB.EXAMPLE"} {
		_, ok := p.Lookup(h)
		if want := h == "NEWS.HUB.EXAMPLE"; ok != want {
			t.Errorf("Lookup(%q) = %v, want %v", h, ok, want)
		}
	}
	if len(p.Skipped) != 1 || !strings.HasPrefix(p.Skipped[0].Error(), "passwd.nntp:4: ") {
		t.Errorf("skipped: %v", p.Skipped)
	}
	if p, err := LoadPasswd(filepath.Join(t.TempDir(), "none")); err != nil || len(p.Entries) != 0 {
		t.Errorf("missing passwd.nntp: %v %v", p, err)
	}
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("site a { host: \"x\\ty\" }"))
	f.Add([]byte("defaults {\nport: 1\n}\nmax-time: 1h\n"))
	f.Add([]byte("site a {\nhost: a.example \"b.example\" c,d\ntls: yes\nstarttls: optional\nbind-address: 192.0.2.1 ::1\nfamily: ipv6\nmax-rate: 2m\ntls-verify: no\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data), "f")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			if n := bytes.Count(data, []byte("\n")) + 1; se.Line > n {
				t.Fatalf("error at line %d of a %d-line file: %v", se.Line, n, err)
			}
			return
		}
		var b bytes.Buffer
		if err := c.Format(&b); err != nil {
			t.Fatal(err)
		}
		c2, err := Parse(bytes.NewReader(b.Bytes()), "f")
		if err != nil {
			t.Fatalf("formatted output does not parse: %v\n%s", err, b.String())
		}
		if !equalConfigs(c, c2) {
			t.Fatalf("round trip changed the configuration:\n%q\n%s", data, b.String())
		}
	})
}

func TestShapingKeys(t *testing.T) {
	c, err := Parse(strings.NewReader("site big {\n  delay: 30m\n  hashfeed: 2/3\n  max-crosspost: 5\n  max-hops: 20\n  max-size: 1m\n}\nsite small {\n}\n"), "nxmit.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Resolve("big")
	if s.Delay != 30*time.Minute || s.HashFeed != "2/3" || s.MaxCrosspost != 5 || s.MaxHops != 20 || s.MaxSize != 1<<20 {
		t.Errorf("big: %+v", s)
	}
	if s := c.Resolve("small"); s.Delay != 0 || s.HashFeed != "" || s.MaxCrosspost != 0 || s.MaxHops != 0 || s.MaxSize != 0 {
		t.Errorf("small: %+v", s)
	}
	_, err = Parse(strings.NewReader("site big {\n  hashfeed: 4/3\n}\n"), "nxmit.conf")
	if err == nil || !strings.Contains(err.Error(), "nxmit.conf:2") {
		t.Errorf("bad hashfeed: %v", err)
	}
}
