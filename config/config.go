package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"nxmit/nntp"
	"nxmit/xmit"
)

// FileName is the configuration file's name in INN's pathetc.
const FileName = "nxmit.conf"

// EnvVar names the environment variable that overrides the file's location.
const EnvVar = "NXMIT_CONFIG"

// maxFileSize bounds how much of a configuration file is read: a site list, not data.
const maxFileSize = 1 << 20

// SyntaxError is a problem in a configuration file: bad syntax, an unknown key or an
// invalid value. Its message starts with "FILE:LINE: ".
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Settings are the transmission settings of a site. The zero value sets nothing; IsSet
// tells which fields a file (or a caller, through Set) gave, so that layers merge by
// precedence without confusing "0" with "not given".
type Settings struct {
	Host           string        // peer host name or address
	Port           int           // NNTP port
	Connections    int           // parallel connections
	Window         int           // cap on the commands in flight per streaming connection
	FixedWindow    bool          // keep Window in flight instead of adapting below it
	Check          string        // "adaptive", "always" or "never"
	Streaming      bool          // try MODE STREAM
	ConnectTimeout time.Duration // connect and greeting
	ReplyTimeout   time.Duration // any reply
	User           string        // AUTHINFO USER
	Password       string        // AUTHINFO PASS
	MaxTime        time.Duration // a send pass stops offering after this (0: no limit)
	MaxArticles    int64         // a send pass stops after this many articles (0: no limit)
	Compress       bool          // write new backlogs zstd-compressed
	RotateMinSize  int64         // rotate the feed file once it has this many bytes
	RotateMaxAge   time.Duration // ... or once it is this old (both 0: whenever not empty)
	RetryDelay     time.Duration // deferrals wait this long before requeue
	// ArticleLog is the per-article outcome log (may hold %Y %m %d %H; "" : none).
	ArticleLog string
	// ArticleLogMaxSize rotates the article log to FILE.1 at this size (0: never).
	ArticleLogMaxSize int64
	// Feed shaping, applied when a backlog is sent (see linefilter.Options).
	Delay         time.Duration // articles younger than this stay queued for a later pass
	HashFeed      string        // Diablo hashfeed buckets the site takes ("" all)
	MaxCrosspost  int           // articles in more groups are not sent (0: no limit)
	MaxHops       int           // articles with more Path entries are not sent (0: no limit)
	MaxSize       int64         // larger articles (wire bytes) are not sent (0: no limit)
	TLS           bool          // implicit TLS (NNTPS) from the first byte
	StartTLS      string        // "no", "yes" (STARTTLS required) or "optional"
	TLSCA         string        // PEM file of the authorities to trust instead of the system's
	TLSServerName string        // name to verify the peer's certificate against (default: the host)
	TLSCert       string        // PEM client certificate file
	TLSKey        string        // ... and its key
	TLSVerify     bool          // verify the peer's certificate (never off by default)
	BindAddress   string        // source addresses: one IPv4, one IPv6, or both
	Family        string        // "any", "ipv4" or "ipv6"
	MaxRate       int64         // bytes per second, all the site's connections together (0: no cap)
	AlertAfter    time.Duration // a failure repeated the same way is quiet on stderr this long
	Hold          bool          // do not send (rotate and requeue go on)

	// MaxSiteConnections caps the connections a pass grows to while the peer keeps up
	// (at or below Connections: Connections throughout).
	MaxSiteConnections int

	set   uint64         // bit i: siteKeys[i] given
	lines map[string]int // line of each key given in a file
}

// IsSet reports whether key (a file key such as "connections") was given.
func (s *Settings) IsSet(key string) bool {
	i := siteKeyIndex(key)
	return i >= 0 && s.set&(1<<i) != 0
}

// Line returns the line of the file where key was given, or 0.
func (s *Settings) Line(key string) int { return s.lines[key] }

// Set parses value for key as the file would and marks it given; line is recorded for
// messages (0 when the value did not come from a file). The error is not positioned.
func (s *Settings) Set(key, value string, line int) error {
	i := siteKeyIndex(key)
	if i < 0 {
		return fmt.Errorf("unknown site parameter %q", key)
	}
	if err := siteKeys[i].parse(s, value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	s.set |= 1 << i
	if line > 0 {
		if s.lines == nil {
			s.lines = make(map[string]int)
		}
		s.lines[key] = line
	}
	return nil
}

// Merge returns s with every field that over sets replaced by over's value.
func (s Settings) Merge(over Settings) Settings {
	out := s
	out.lines = make(map[string]int, len(s.lines)+len(over.lines))
	for k, v := range s.lines {
		out.lines[k] = v
	}
	for i, k := range siteKeys {
		if over.set&(1<<i) == 0 {
			continue
		}
		k.copy(&out, &over)
		out.set |= 1 << i
		if l, ok := over.lines[k.name]; ok {
			out.lines[k.name] = l
		} else {
			delete(out.lines, k.name)
		}
	}
	return out
}

// Builtin returns the built-in defaults, the lowest layer of precedence. The engine's
// own defaults (connections, window, timeouts) are quoted from xmit and nntp, so that
// each is written once; the command line's help texts quote these (commands.KongOptions).
func Builtin() Settings {
	var s Settings
	for _, kv := range [][2]string{
		{"port", "119"},
		{"connections", strconv.Itoa(xmit.DefaultConnections)},
		{"max-site-connections", strconv.Itoa(xmit.DefaultMaxConnections)},
		{"window", strconv.Itoa(nntp.DefaultWindow)},
		{"fixed-window", "no"},
		{"check", "adaptive"},
		{"streaming", "yes"},
		{"connect-timeout", nntp.DefaultDialTimeout.String()},
		{"reply-timeout", nntp.DefaultReplyTimeout.String()},
		{"max-time", "0"},
		{"max-articles", "0"},
		{"compress", "no"},
		{"rotate-min-size", "10m"},
		{"rotate-max-age", "4m"},
		{"retry-delay", "10m"},
		{"delay", "0"},
		{"max-crosspost", "0"},
		{"max-hops", "0"},
		{"max-size", "0"},
		{"tls", "no"},
		{"starttls", "no"},
		{"tls-verify", "yes"},
		{"family", "any"},
		{"max-rate", "0"},
		{"alert-after", "1h"},
		{"hold", "no"},
	} {
		if err := s.Set(kv[0], kv[1], 0); err != nil {
			panic("config: bad built-in default: " + err.Error())
		}
	}
	return s
}

// DefaultTLSPort is the peer's port with "tls: yes" when none is given: NNTPS.
const DefaultTLSPort = 563

// Hosts returns the peer's hosts in the order they are tried.
func (s *Settings) Hosts() []string { return SplitList(s.Host) }

// UsesTLS reports whether the peer is reached over TLS (implicit or STARTTLS), so that
// credentials are never sent in the clear.
func (s *Settings) UsesTLS() bool { return s.TLS || (s.StartTLS != "" && s.StartTLS != "no") }

// Site is one "site NAME { ... }" block.
type Site struct {
	Name     string
	Line     int // line of the "site" keyword
	Settings Settings
}

// Config is a parsed configuration file.
type Config struct {
	Path string // the file read; "" when nothing was read

	MaxConnections int           // run: cap on connections to all peers together
	MaxTime        time.Duration // run: bound on the whole run (0: none)
	Passwd         string        // passwd.nntp path ("" : PATHETC/passwd.nntp)
	LogIdent       string        // syslog ident of statistics ("" : innxmit)
	LogFile        string        // statistics file instead of syslog ("" : syslog)
	MetricsFile    string        // Prometheus textfile rewritten after every pass ("" : none)
	Flush          string        // how rotation flushes innd: "ctlinnd" or "icc" ("" : ctlinnd)
	Ctlinnd        string        // the ctlinnd program ("" : PATHBIN/ctlinnd)
	FlushTimeout   time.Duration // wait for innd's answer to a flush (0 : 30s)

	Defaults Settings
	Sites    []*Site // in file order

	set   uint32
	lines map[string]int
}

// DefaultMaxConnections is run's connection cap when the file sets none.
const DefaultMaxConnections = 16

// IsSet reports whether the global key was given.
func (c *Config) IsSet(key string) bool {
	i := globalKeyIndex(key)
	return i >= 0 && c.set&(1<<i) != 0
}

// Line returns the line of the global key, or 0.
func (c *Config) Line(key string) int { return c.lines[key] }

// SetGlobal parses value for the top-level key as the file would, on c, and marks it
// given: the command line's layer over the file's global parameters (run's
// --max-connections and --run-time, rotate's --flush). The error is not positioned.
func (c *Config) SetGlobal(key, value string) error {
	i := globalKeyIndex(key)
	if i < 0 {
		return fmt.Errorf("unknown parameter %q", key)
	}
	if err := globalKeys[i].parse(c, value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	c.set |= 1 << i
	if _, ok := c.lines[key]; ok {
		// No longer the file's. A copy, so that a shallow copy of a loaded Config can
		// take the flags without touching the original.
		c.lines = maps.Clone(c.lines)
		delete(c.lines, key)
	}
	return nil
}

// Site returns the block of the named site.
func (c *Config) Site(name string) (*Site, bool) {
	for _, s := range c.Sites {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// SiteNames returns the configured sites in file order.
func (c *Config) SiteNames() []string {
	names := make([]string, len(c.Sites))
	for i, s := range c.Sites {
		names[i] = s.Name
	}
	return names
}

// Resolve returns the settings of site from the file: the built-in defaults, then the
// defaults block, then the site's block (when the site is declared). Host defaults to
// the site's name.
func (c *Config) Resolve(site string) Settings {
	s := Builtin()
	s.Host = site
	s = s.Merge(c.Defaults)
	if b, ok := c.Site(site); ok {
		s = s.Merge(b.Settings)
	}
	if s.TLS && s.Line("port") == 0 {
		s.Port = DefaultTLSPort
	}
	return s
}

// ResolveWith is Resolve with over (a command line) merged on top; the port follows
// "tls" unless one of the layers gave it.
func (c *Config) ResolveWith(site string, over Settings) Settings {
	s := c.Resolve(site).Merge(over)
	if !over.IsSet("port") && s.Line("port") == 0 {
		s.Port = Builtin().Port
		if s.TLS {
			s.Port = DefaultTLSPort
		}
	}
	return s
}

// Where returns "FILE:LINE" for key of site as resolved, or "" when the value is not
// from the file; for messages about values that are wrong only in combination.
func (c *Config) Where(site, key string) string {
	s := c.Resolve(site)
	if l := s.Line(key); l > 0 {
		return fmt.Sprintf("%s:%d", c.Path, l)
	}
	return ""
}

// DefaultPath returns where the file is looked for: $NXMIT_CONFIG, else
// pathetc/nxmit.conf.
func DefaultPath(pathetc string) string {
	if p := os.Getenv(EnvVar); p != "" {
		return p
	}
	return filepath.Join(pathetc, FileName)
}

// Load reads the file at path. When optional is true a missing file gives an empty
// Config (no sites) instead of an error.
func Load(path string, optional bool) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return &Config{}, nil
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f, path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Parse reads a configuration from r; name is used in messages and as Path.
func Parse(r io.Reader, name string) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, &SyntaxError{File: name, Line: 1, Msg: fmt.Sprintf("file larger than %d bytes", maxFileSize)}
	}
	p := &parser{lex: lexer{file: name, buf: data, line: 1}, c: &Config{Path: name}}
	if err := p.file(); err != nil {
		return nil, err
	}
	return p.c, nil
}
