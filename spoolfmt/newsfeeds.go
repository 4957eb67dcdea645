package spoolfmt

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// NewsfeedsFileName is INN's feed configuration in pathetc.
const NewsfeedsFileName = "newsfeeds"

// FeedEntry is one entry of INN's newsfeeds: site[/exclude,...]:patterns:flags:param.
type FeedEntry struct {
	Line     int      // line where the entry starts
	Site     string   // the site's name, as innd and "ctlinnd flush" know it
	Excludes []string // the path names after '/'
	Patterns string
	Flags    []string // "Tf", "Wnm", ...
	Param    string
}

// Flag returns the value of the flag whose letter is c ("f" for Tf) and whether it
// was given.
func (e *FeedEntry) Flag(c byte) (string, bool) {
	for _, f := range e.Flags {
		if f != "" && f[0] == c {
			return f[1:], true
		}
	}
	return "", false
}

// FileFeedProblem says why the entry does not write the file nxmit reads for its
// site, pathoutgoing/SITE with "token message-id" lines (Tf,Wnm, or Wfm, which writes
// the same), or "" when it does.
func (e *FeedEntry) FileFeedProblem() string {
	if t, ok := e.Flag('T'); ok && t != "f" {
		return fmt.Sprintf("flags %s: T%s is not a file feed (want Tf,Wnm)", strings.Join(e.Flags, ","), t)
	}
	if w, _ := e.Flag('W'); w != "nm" && w != "fm" {
		return fmt.Sprintf("flags %s: writes W%s, nxmit reads token and Message-ID lines (want Tf,Wnm)", strings.Join(e.Flags, ","), w)
	}
	if e.Param != "" && e.Param != e.Site {
		return fmt.Sprintf("param %q: innd writes that file, nxmit reads pathoutgoing/%s (leave the param empty)", e.Param, e.Site)
	}
	return ""
}

// Newsfeeds is a parsed newsfeeds file.
type Newsfeeds struct {
	Path    string
	Entries []FeedEntry
}

// Entry returns the entry of site.
func (n *Newsfeeds) Entry(site string) (*FeedEntry, bool) {
	for i := range n.Entries {
		if n.Entries[i].Site == site {
			return &n.Entries[i], true
		}
	}
	return nil, false
}

// LoadNewsfeeds reads pathetc/newsfeeds.
func LoadNewsfeeds(pathEtc string) (*Newsfeeds, error) {
	path := filepath.Join(pathEtc, NewsfeedsFileName)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("newsfeeds: %w", err)
	}
	defer f.Close()
	return ParseNewsfeeds(f, path)
}

// ParseNewsfeeds parses newsfeeds from r (name is used in messages): lines ending in
// '\' continue on the next, '#' starts a comment line, and each entry has four fields
// separated by ':'. $NAME=value macro lines are skipped. An entry with other than four
// fields is an error naming FILE:LINE.
func ParseNewsfeeds(r io.Reader, name string) (*Newsfeeds, error) {
	n := &Newsfeeds{Path: name}
	sc := bufio.NewScanner(io.LimitReader(r, maxConfSize))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var entry strings.Builder
	start, line := 0, 0
	flush := func() error {
		text := strings.TrimSpace(entry.String())
		entry.Reset()
		if text == "" || strings.HasPrefix(text, "$") {
			return nil
		}
		fields := strings.Split(text, ":")
		if len(fields) != 4 {
			return fmt.Errorf("%s:%d: %d fields, want 4 (site:patterns:flags:param)", name, start, len(fields))
		}
		site, excl, _ := strings.Cut(strings.TrimSpace(fields[0]), "/")
		e := FeedEntry{Line: start, Site: site, Patterns: strings.TrimSpace(fields[1]), Param: strings.TrimSpace(fields[3])}
		if excl != "" {
			e.Excludes = strings.Split(excl, ",")
		}
		for _, f := range strings.Split(fields[2], ",") {
			if f = strings.TrimSpace(f); f != "" {
				e.Flags = append(e.Flags, f)
			}
		}
		n.Entries = append(n.Entries, e)
		return nil
	}
	cont := false
	for sc.Scan() {
		line++
		l := sc.Text()
		if !cont {
			if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			start = line
		} else if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue // a comment inside a continued entry, as INN allows
		}
		l = strings.TrimSpace(l)
		if cont = strings.HasSuffix(l, `\`); cont {
			l = strings.TrimSuffix(l, `\`)
		}
		entry.WriteString(l)
		if !cont {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return n, nil
}
