package spoolfmt

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultInnConf is the compiled-in location of inn.conf in Debian's INN.
const DefaultInnConf = "/etc/news/inn.conf"

// DefaultPathTmp is pathtmp when unset: a compile-time path in INN, this
// is Debian's.
const DefaultPathTmp = "/var/spool/news/incoming/tmp"

// maxConfSize bounds how much of a configuration file is read.
const maxConfSize = 16 << 20

// INN's defaults for runasuser and runasgroup (Debian's inn2 is built with these).
const (
	DefaultRunAsUser  = "news"
	DefaultRunAsGroup = "news"
)

// InnConf holds the inn.conf settings nxmit uses. Paths are as INN computes
// them: explicit values verbatim, unset ones defaulted from pathnews and
// pathspool.
type InnConf struct {
	Path string // the file read ("" when built by ParseInnConf from a reader)

	PathNews     string
	PathBin      string
	PathEtc      string
	PathDB       string
	PathRun      string
	PathLog      string
	PathSpool    string
	PathArticles string
	PathOutgoing string
	PathIncoming string
	PathTmp      string

	PathHost string
	Domain   string

	// RunAsUser and RunAsGroup are "runasuser" and "runasgroup" (default news): the user
	// and group INN's programs run as, and nxmit switches to when started as root.
	RunAsUser  string
	RunAsGroup string

	// WireFormat is "wireformat" (default true): tradspool stores wire format.
	WireFormat bool
	// MaxArtSize is "maxartsize" in bytes (default 1000000; 0 = no limit).
	MaxArtSize int64
	// CNFSCheckFudgeSize is "cnfscheckfudgesize" (default 0 = no check).
	CNFSCheckFudgeSize int64

	// Values has every parameter of the file, including unknown ones, with
	// quotes removed; list values are joined with single spaces.
	Values map[string]string
	// Lines gives the line of each parameter in Values, for messages.
	Lines map[string]int
}

// InnConfPath returns $INNCONF when set, else DefaultInnConf.
func InnConfPath() string {
	if p := os.Getenv("INNCONF"); p != "" {
		return p
	}
	return DefaultInnConf
}

// LoadInnConf reads inn.conf from path ("" means InnConfPath()).
// Syntax errors are *SyntaxError values naming the file and line.
func LoadInnConf(path string) (*InnConf, error) {
	if path == "" {
		path = InnConfPath()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inn.conf: %w", err)
	}
	defer f.Close()
	c, err := ParseInnConf(f, path)
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// ParseInnConf parses inn.conf text; name is used in error messages.
// pathnews is required, as in INN; other checks INN makes at startup
// (mta, hismethod, a resolvable domain) are left out, since nxmit only
// needs the paths.
func ParseInnConf(r io.Reader, name string) (*InnConf, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxConfSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxConfSize)
	}
	params, err := parseConf(data, name)
	if err != nil {
		return nil, err
	}
	c := &InnConf{Values: make(map[string]string, len(params)), Lines: make(map[string]int, len(params))}
	for _, p := range params {
		v := p.Raw
		if p.IsList {
			v = strings.Join(p.List, " ")
		} else if strings.HasPrefix(v, `"`) {
			if v, err = unquote(v, name, p.Line); err != nil {
				return nil, err
			}
		}
		c.Values[p.Key] = v
		c.Lines[p.Key] = p.Line
	}
	if err := c.setup(name); err != nil {
		return nil, err
	}
	return c, nil
}

// concatPath is INN's concatpath: name unchanged when absolute or "./...".
func concatPath(base, name string) string {
	if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "./") {
		return name
	}
	return base + "/" + name
}

func (c *InnConf) setup(name string) error {
	str := func(key string) (string, bool) {
		v, ok := c.Values[key]
		return v, ok && v != ""
	}
	var ok bool
	if c.PathNews, ok = str("pathnews"); !ok {
		return &SyntaxError{File: name, Line: c.Lines["pathnews"], Msg: "must set pathnews"}
	}
	path := func(key string, base *string, sub string) string {
		if v, ok := str(key); ok {
			return v
		}
		return concatPath(*base, sub)
	}
	c.PathBin = path("pathbin", &c.PathNews, "bin")
	c.PathEtc = path("pathetc", &c.PathNews, "etc")
	c.PathDB = path("pathdb", &c.PathNews, "db")
	c.PathRun = path("pathrun", &c.PathNews, "run")
	c.PathLog = path("pathlog", &c.PathNews, "log")
	c.PathSpool = path("pathspool", &c.PathNews, "spool")
	if c.PathTmp, ok = str("pathtmp"); !ok {
		c.PathTmp = DefaultPathTmp
	}
	c.PathArticles = path("patharticles", &c.PathSpool, "articles")
	c.PathOutgoing = path("pathoutgoing", &c.PathSpool, "outgoing")
	c.PathIncoming = path("pathincoming", &c.PathSpool, "incoming")
	c.PathHost = c.Values["pathhost"]
	c.Domain = c.Values["domain"]
	if c.RunAsUser, ok = str("runasuser"); !ok {
		c.RunAsUser = DefaultRunAsUser
	}
	if c.RunAsGroup, ok = str("runasgroup"); !ok {
		c.RunAsGroup = DefaultRunAsGroup
	}

	var err error
	if c.WireFormat, err = c.boolean(name, "wireformat", true); err != nil {
		return err
	}
	if c.MaxArtSize, err = c.unsigned(name, "maxartsize", 1000000); err != nil {
		return err
	}
	if c.CNFSCheckFudgeSize, err = c.unsigned(name, "cnfscheckfudgesize", 0); err != nil {
		return err
	}
	return nil
}

// Bool returns a boolean parameter as INN reads it (true/yes/on,
// false/no/off, case-sensitive), or def when it is unset.
func (c *InnConf) Bool(key string, def bool) (bool, error) {
	name := c.Path
	return c.boolean(name, key, def)
}

func (c *InnConf) boolean(name, key string, def bool) (bool, error) {
	v, ok := c.Values[key]
	if !ok {
		return def, nil
	}
	switch v {
	case "yes", "on", "true":
		return true, nil
	case "no", "off", "false":
		return false, nil
	}
	return false, &SyntaxError{File: name, Line: c.Lines[key], Msg: key + " is not a boolean"}
}

func (c *InnConf) unsigned(name, key string, def int64) (int64, error) {
	v, ok := c.Values[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil || v == "" || v[0] == '+' {
		return 0, &SyntaxError{File: name, Line: c.Lines[key], Msg: key + " is not a positive integer"}
	}
	return int64(n), nil
}

// abs returns p made absolute against the current directory, so that a
// later chdir does not change what a relative inn.conf path meant.
func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
