package config

import (
	"fmt"
	"strconv"
	"strings"

	"nxmit/batch"
)

type tokType uint8

const (
	tWord    tokType = iota // unquoted run of characters
	tQuoted                 // "..." (text holds the unescaped value)
	tLBrace                 // {
	tRBrace                 // }
	tSemi                   // ;
	tNewline                // end of line (comments are skipped)
	tEOF
)

var tokNames = [...]string{"word", "quoted string", "'{'", "'}'", "';'", "end of line", "end of file"}

type token struct {
	typ  tokType
	text string
	line int
}

func (t token) String() string {
	switch t.typ {
	case tWord:
		return strconv.Quote(t.text)
	case tQuoted:
		return "quoted string " + strconv.Quote(t.text)
	}
	return tokNames[t.typ]
}

// lexer splits a file into tokens. '#' starts a comment at a token boundary, as in INN's
// files; inside a word it ends the word, so a value with '#' must be quoted.
type lexer struct {
	file string
	buf  []byte
	pos  int
	line int
	peek *token
}

func (l *lexer) errf(line int, format string, args ...any) error {
	return &SyntaxError{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func isWordByte(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ';', '{', '}', '#', '"':
		return false
	}
	return true
}

func (l *lexer) next() (token, error) {
	if l.peek != nil {
		t := *l.peek
		l.peek = nil
		return t, nil
	}
	for l.pos < len(l.buf) {
		c := l.buf[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case c == '#':
			for l.pos < len(l.buf) && l.buf[l.pos] != '\n' {
				l.pos++
			}
		case c == '\n':
			l.pos++
			l.line++
			return token{typ: tNewline, line: l.line - 1}, nil
		case c == '{':
			l.pos++
			return token{typ: tLBrace, line: l.line}, nil
		case c == '}':
			l.pos++
			return token{typ: tRBrace, line: l.line}, nil
		case c == ';':
			l.pos++
			return token{typ: tSemi, line: l.line}, nil
		case c == '"':
			return l.quoted()
		case c < ' ' || c == 0x7f:
			return token{}, l.errf(l.line, "invalid control character 0x%02x", c)
		default:
			start := l.pos
			for l.pos < len(l.buf) && isWordByte(l.buf[l.pos]) {
				if b := l.buf[l.pos]; b < ' ' || b == 0x7f {
					return token{}, l.errf(l.line, "invalid control character 0x%02x", b)
				}
				l.pos++
			}
			return token{typ: tWord, text: string(l.buf[start:l.pos]), line: l.line}, nil
		}
	}
	return token{typ: tEOF, line: l.line}, nil
}

func (l *lexer) unread(t token) { l.peek = &t }

// quoted reads a double-quoted string with C escapes; it may not span lines.
func (l *lexer) quoted() (token, error) {
	line := l.line
	var b strings.Builder
	for i := l.pos + 1; i < len(l.buf); i++ {
		c := l.buf[i]
		switch {
		case c == '"':
			l.pos = i + 1
			return token{typ: tQuoted, text: b.String(), line: line}, nil
		case c == '\n':
			return token{}, l.errf(line, "no closing quote")
		case c == '\\':
			i++
			if i >= len(l.buf) {
				return token{}, l.errf(line, "no closing quote")
			}
			switch e := l.buf[i]; e {
			case '\\', '"', '\'', '#', ';', '{', '}':
				b.WriteByte(e)
			case 't':
				b.WriteByte('\t')
			default:
				return token{}, l.errf(line, "unknown escape \\%c in quoted string", e)
			}
		case c < ' ' && c != '\t' || c == 0x7f:
			return token{}, l.errf(line, "invalid control character 0x%02x in quoted string", c)
		default:
			b.WriteByte(c)
		}
	}
	return token{}, l.errf(line, "no closing quote")
}

type parser struct {
	lex lexer
	c   *Config
}

// file parses the top level: global parameters, "defaults { }" and "site NAME { }".
func (p *parser) file() error {
	l := &p.lex
	defaultsLine := 0
	for {
		t, err := l.next()
		if err != nil {
			return err
		}
		switch t.typ {
		case tEOF:
			return nil
		case tNewline, tSemi:
			continue
		case tWord:
		default:
			return l.errf(t.line, "unexpected %s, expecting a parameter or a block", t)
		}
		if key, value, ok := strings.Cut(t.text, ":"); ok {
			if err := p.param(t, key, value, p.global); err != nil {
				return err
			}
			continue
		}
		switch t.text {
		case "defaults":
			if defaultsLine > 0 {
				return l.errf(t.line, "second defaults block (the first is at line %d)", defaultsLine)
			}
			defaultsLine = t.line
			if err := p.block(&p.c.Defaults); err != nil {
				return err
			}
		case "site":
			n, err := l.next()
			if err != nil {
				return err
			}
			if n.typ != tWord && n.typ != tQuoted {
				return l.errf(n.line, "unexpected %s, expecting a site name after \"site\"", n)
			}
			if err := batch.SiteNameError(n.text); err != nil {
				return l.errf(n.line, "%v", err)
			}
			if prev, ok := p.c.Site(n.text); ok {
				return l.errf(n.line, "site %s declared twice (first at line %d)", n.text, prev.Line)
			}
			s := &Site{Name: n.text, Line: t.line}
			if err := p.block(&s.Settings); err != nil {
				return err
			}
			p.c.Sites = append(p.c.Sites, s)
		default:
			if siteKeyIndex(t.text) >= 0 || globalKeyIndex(t.text) >= 0 {
				return l.errf(t.line, "missing ':' after %s", t.text)
			}
			return l.errf(t.line, "unexpected %s, expecting \"key: value\", \"defaults {\" or \"site NAME {\"", t)
		}
	}
}

// block parses "{ key: value ... }" into s.
func (p *parser) block(s *Settings) error {
	l := &p.lex
	open, err := l.next()
	if err != nil {
		return err
	}
	for open.typ == tNewline {
		if open, err = l.next(); err != nil {
			return err
		}
	}
	if open.typ != tLBrace {
		return l.errf(open.line, "unexpected %s, expecting '{'", open)
	}
	for {
		t, err := l.next()
		if err != nil {
			return err
		}
		switch t.typ {
		case tRBrace:
			return nil
		case tNewline, tSemi:
			continue
		case tEOF:
			return l.errf(open.line, "block opened here is not closed with '}'")
		case tWord:
			key, value, ok := strings.Cut(t.text, ":")
			if !ok {
				if t.text == "site" || t.text == "defaults" {
					return l.errf(t.line, "%s block inside a block (missing '}' before?)", t.text)
				}
				return l.errf(t.line, "unexpected %s, expecting \"key: value\" or '}'", t)
			}
			if err := p.param(t, key, value, func(key, value string, line int) error {
				if globalKeyIndex(key) >= 0 && siteKeyIndex(key) < 0 {
					return fmt.Errorf("%s is a global parameter; put it outside the blocks", key)
				}
				if s.IsSet(key) {
					return fmt.Errorf("%s given twice in this block (first at line %d)", key, s.Line(key))
				}
				return s.Set(key, value, line)
			}); err != nil {
				return err
			}
		default:
			return l.errf(t.line, "unexpected %s, expecting \"key: value\" or '}'", t)
		}
	}
}

// listKeys take several words, the items of a list.
var listKeys = map[string]bool{"host": true, "bind-address": true}

// param reads the value of "key:" (value holds what followed the colon in the same word)
// and hands it to set; the parameter must end the statement.
func (p *parser) param(t token, key, value string, set func(key, value string, line int) error) error {
	l := &p.lex
	if key == "" {
		return l.errf(t.line, "missing parameter name before ':'")
	}
	if value == "" {
		v, err := l.next()
		if err != nil {
			return err
		}
		if v.typ != tWord && v.typ != tQuoted {
			return l.errf(t.line, "%s: missing value", key)
		}
		value = v.text
	}
	end, err := l.next()
	if err != nil {
		return err
	}
	for listKeys[key] && (end.typ == tWord || end.typ == tQuoted) {
		// "host: a.example b.example": the words of a list are its items.
		value += " " + end.text
		if end, err = l.next(); err != nil {
			return err
		}
	}
	switch end.typ {
	case tNewline, tSemi, tEOF:
	case tRBrace:
		l.unread(end)
	default:
		if secretKeys[key] {
			// The rest may be the password's second half: not repeated.
			return l.errf(t.line, "%s: unexpected text after the value (quote values containing spaces)", key)
		}
		return l.errf(t.line, "%s: unexpected %s after the value (quote values containing spaces)", key, end)
	}
	if err := set(key, value, t.line); err != nil {
		return l.errf(t.line, "%v", err)
	}
	return nil
}

// global sets a top-level parameter.
func (p *parser) global(key, value string, line int) error {
	i := globalKeyIndex(key)
	if i < 0 {
		if siteKeyIndex(key) >= 0 {
			return fmt.Errorf("%s is a site parameter; put it in a defaults or site block", key)
		}
		return fmt.Errorf("unknown parameter %q", key)
	}
	c := p.c
	if c.set&(1<<i) != 0 {
		return fmt.Errorf("%s given twice (first at line %d)", key, c.lines[key])
	}
	if err := globalKeys[i].parse(c, value); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	c.set |= 1 << i
	if c.lines == nil {
		c.lines = make(map[string]int)
	}
	c.lines[key] = line
	return nil
}
