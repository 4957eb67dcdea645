package spoolfmt

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CNFS limits from INN's cnfs-private.h.
const (
	maxCycbuffName = 7  // CNFSMAXCYCBUFFNAME - 1: names fill 8 token bytes with a NUL
	maxCycbuffPath = 63 // CNFSPASIZ - 1
)

// Cycbuff is one "cycbuff:NAME:PATH:SIZE" line of cycbuff.conf.
type Cycbuff struct {
	Name string
	Path string
	Size int64 // bytes (the file gives KiB)
	Line int
}

// MetaCycbuff is one "metacycbuff:NAME:BUF,...[:MODE]" line.
type MetaCycbuff struct {
	Name       string
	Members    []string
	Sequential bool // SEQUENTIAL mode; INTERLEAVE otherwise
	Line       int
}

// CycbuffConf is a parsed cycbuff.conf.
type CycbuffConf struct {
	Buffers []Cycbuff
	Metas   []MetaCycbuff
	// UpdateInterval is "cycbuffupdate" (0 if unset: INN's default 25).
	UpdateInterval int
	// RefreshInterval is "refreshinterval" in seconds (0 if unset: INN's 30).
	RefreshInterval int
}

// Buffer returns the cycbuff called name.
func (c *CycbuffConf) Buffer(name string) (Cycbuff, bool) {
	for _, b := range c.Buffers {
		if b.Name == name {
			return b, true
		}
	}
	return Cycbuff{}, false
}

// ParseCycbuffConf parses cycbuff.conf as INN's CNFS does: '#' lines and
// blank lines skipped, "\"+newline joins lines (leading blanks of the next
// line dropped), every cycbuff line before the first metacycbuff line.
// Unknown lines are ignored, as INN ignores them with a warning. name is
// used in error messages. Buffer paths are not checked for existence here.
func ParseCycbuffConf(r io.Reader, name string) (*CycbuffConf, error) {
	c := &CycbuffConf{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lineNo := 0
	errf := func(line int, format string, args ...any) error {
		return &SyntaxError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	seenMeta, seenUpdate, seenRefresh := false, false, false
	for {
		// Assemble one logical line.
		if !sc.Scan() {
			break
		}
		lineNo++
		start := lineNo
		l := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		for strings.HasSuffix(l, `\`) {
			if !sc.Scan() {
				l = strings.TrimSuffix(l, `\`)
				break
			}
			lineNo++
			l = l[:len(l)-1] + strings.TrimLeft(strings.TrimSuffix(sc.Text(), "\r"), " \t\v\f")
		}
		switch {
		case strings.HasPrefix(l, "cycbuff:"):
			if seenMeta {
				return nil, errf(start, "all cycbuff entries should be before metacycbuff entries")
			}
			f := strings.SplitN(l[len("cycbuff:"):], ":", 3)
			if len(f) < 2 || f[0] == "" || len(f[0]) > maxCycbuffName {
				return nil, errf(start, "bad cycbuff name in line %q", l)
			}
			if _, dup := c.Buffer(f[0]); dup {
				return nil, errf(start, "duplicate cycbuff name %q", f[0])
			}
			if len(f) < 3 || f[1] == "" || len(f[1]) > maxCycbuffPath {
				return nil, errf(start, "bad pathname in line %q", l)
			}
			kb, err := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
			if err != nil || kb <= 0 || kb > 1<<50 {
				return nil, errf(start, "bad size %q for cycbuff %s", f[2], f[0])
			}
			c.Buffers = append(c.Buffers, Cycbuff{Name: f[0], Path: f[1], Size: kb * 1024, Line: start})
		case strings.HasPrefix(l, "metacycbuff:"):
			seenMeta = true
			f := strings.SplitN(l[len("metacycbuff:"):], ":", 3)
			if len(f) < 2 || f[0] == "" {
				return nil, errf(start, "bad partition name in line %q", l)
			}
			for _, m := range c.Metas {
				if m.Name == f[0] {
					return nil, errf(start, "duplicate metabuff name %q", f[0])
				}
			}
			m := MetaCycbuff{Name: f[0], Line: start}
			if len(f) == 3 {
				switch f[2] {
				case "INTERLEAVE":
				case "SEQUENTIAL":
					m.Sequential = true
				default:
					return nil, errf(start, "unknown mode %q", f[2])
				}
			}
			for _, b := range strings.Split(f[1], ",") {
				if _, ok := c.Buffer(b); !ok {
					return nil, errf(start, "bogus cycbuff %q (metacycbuff %s)", b, f[0])
				}
				m.Members = append(m.Members, b)
			}
			c.Metas = append(c.Metas, m)
		case strings.HasPrefix(l, "cycbuffupdate:"):
			if seenUpdate {
				return nil, errf(start, "duplicate cycbuffupdate entries")
			}
			seenUpdate = true
			n, err := strconv.Atoi(strings.TrimSpace(l[len("cycbuffupdate:"):]))
			if err != nil || n < 0 {
				return nil, errf(start, "invalid cycbuffupdate")
			}
			c.UpdateInterval = n
		case strings.HasPrefix(l, "refreshinterval:"):
			if seenRefresh {
				return nil, errf(start, "duplicate refreshinterval entries")
			}
			seenRefresh = true
			n, err := strconv.Atoi(strings.TrimSpace(l[len("refreshinterval:"):]))
			if err != nil || n < 0 {
				return nil, errf(start, "invalid refreshinterval")
			}
			c.RefreshInterval = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
	}
	if len(c.Buffers) == 0 {
		return nil, errf(lineNo, "zero cycbuffs defined")
	}
	return c, nil
}

// ParseTradspoolMap parses tradspool.map: one "NAME NUMBER" per line, NAME
// with '/' for '.', split at the first space. A line without a space makes
// the whole map unusable, as in INN. name is used in error messages.
func ParseTradspoolMap(r io.Reader, name string) (map[uint32]string, error) {
	m := make(map[uint32]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		l := sc.Text()
		if l == "" {
			continue
		}
		group, num, ok := strings.Cut(l, " ")
		if !ok || group == "" {
			return nil, &SyntaxError{File: name, Line: lineNo, Msg: fmt.Sprintf("corrupt line %q", clip(l))}
		}
		n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 32)
		if err != nil {
			return nil, &SyntaxError{File: name, Line: lineNo, Msg: fmt.Sprintf("bad group number in %q", clip(l))}
		}
		// Group names never contain '/' in the active file, so dotted names
		// (older maps) are safe to convert.
		dir := strings.ReplaceAll(group, ".", "/")
		if !cleanRelPath(dir) {
			return nil, &SyntaxError{File: name, Line: lineNo, Msg: fmt.Sprintf("bad group name %q", clip(group))}
		}
		m[uint32(n)] = dir
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
	}
	return m, nil
}

// cleanRelPath reports whether p is a relative path without empty, "." or
// ".." elements, so that joining it below a directory stays inside it.
func cleanRelPath(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}
