package spoolfmt

import (
	"bytes"
	"fmt"
	"strings"
)

// This file is a Go rendering of INN's generic configuration parser
// (lib/confparse.c), as used for inn.conf: "name: value" parameters ended by
// a newline or ';', quoted strings with C escapes, "[ a b ]" lists, '#'
// comments only where a line (or the file) starts, and nested "type tag { }"
// groups, whose contents nxmit does not need and skips.

// SyntaxError is a parse error in a configuration file, naming file and line.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

// Error returns "file:line: message".
func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

type confTokType uint8

const (
	ctCRLF confTokType = iota
	ctString
	ctQString
	ctParam
	ctLBrace
	ctRBrace
	ctLAngle
	ctRAngle
	ctLBracket
	ctRBracket
	ctSemicolon
	ctEOF
)

var confTokNames = [...]string{"end of line", "string", "quoted string", "parameter", "'{'", "'}'", "'<'", "'>'", "'['", "']'", "';'", "end of file"}

type confLexer struct {
	file    string
	buf     []byte
	pos     int
	line    int
	started bool
}

type confTok struct {
	typ  confTokType
	text string
}

func (l *confLexer) errf(format string, args ...any) error {
	return &SyntaxError{File: l.file, Line: l.line, Msg: fmt.Sprintf(format, args...)}
}

func (l *confLexer) skipSpace() {
	for l.pos < len(l.buf) && (l.buf[l.pos] == ' ' || l.buf[l.pos] == '\t') {
		l.pos++
	}
}

// skipComment skips to just past the end of the current line.
func (l *confLexer) skipComment() {
	for l.pos < len(l.buf) && l.buf[l.pos] != '\n' && l.buf[l.pos] != '\r' {
		l.pos++
	}
	l.eatEOL()
}

func (l *confLexer) eatEOL() {
	if l.pos >= len(l.buf) {
		return
	}
	switch l.buf[l.pos] {
	case '\n':
		l.pos++
		l.line++
	case '\r':
		l.pos++
		if l.pos < len(l.buf) && l.buf[l.pos] == '\n' {
			l.pos++
		}
		l.line++
	}
}

// newline handles an end of line and any comment lines after it.
func (l *confLexer) newline() confTok {
	l.eatEOL()
	l.skipSpace()
	for l.pos < len(l.buf) && l.buf[l.pos] == '#' {
		l.skipComment()
		l.skipSpace()
	}
	return confTok{typ: ctCRLF}
}

func (l *confLexer) next() (confTok, error) {
	if !l.started {
		l.started = true
		l.skipSpace()
		if l.pos < len(l.buf) && l.buf[l.pos] == '#' {
			return l.newline(), nil
		}
	} else {
		l.skipSpace()
	}
	if l.pos >= len(l.buf) {
		return confTok{typ: ctEOF}, nil
	}
	simple := func(t confTokType) (confTok, error) { l.pos++; return confTok{typ: t}, nil }
	switch l.buf[l.pos] {
	case '{':
		return simple(ctLBrace)
	case '}':
		return simple(ctRBrace)
	case '<':
		return simple(ctLAngle)
	case '>':
		return simple(ctRAngle)
	case '[':
		return simple(ctLBracket)
	case ']':
		return simple(ctRBracket)
	case ';':
		return simple(ctSemicolon)
	case '\r', '\n':
		return l.newline(), nil
	case '"':
		return l.quoted()
	}
	return l.str()
}

func (l *confLexer) str() (confTok, error) {
	start := l.pos
	colon := false
	for ; l.pos < len(l.buf); l.pos++ {
		c := l.buf[l.pos]
		switch c {
		case '\t', '\r', '\n', ' ', ';', '>', '}':
			goto done
		case '"', '<', '[', '\\', ']', '{':
			return confTok{}, l.errf("invalid character '%c' in unquoted string", c)
		case ':':
			if colon {
				return confTok{}, l.errf("invalid character ':' in unquoted string")
			}
			colon = true
		default:
			if colon {
				return confTok{}, l.errf("invalid character ':' in unquoted string")
			}
		}
	}
done:
	s := string(l.buf[start:l.pos])
	if colon {
		return confTok{typ: ctParam, text: s[:len(s)-1]}, nil
	}
	return confTok{typ: ctString, text: s}, nil
}

// quoted returns the raw quoted string, quotes included, as INN keeps it.
func (l *confLexer) quoted() (confTok, error) {
	start := l.pos
	startLine := l.line
	i := l.pos + 1
	for {
		if i >= len(l.buf) {
			l.line = startLine
			return confTok{}, l.errf("end of file encountered while parsing quoted string")
		}
		switch l.buf[i] {
		case '"':
			l.pos = i + 1
			return confTok{typ: ctQString, text: string(l.buf[start:l.pos])}, nil
		case '\r', '\n':
			return confTok{}, l.errf("no close quote seen for quoted string")
		case '\\':
			i++
			if i >= len(l.buf) {
				return confTok{}, l.errf("end of file encountered while parsing quoted string")
			}
			switch l.buf[i] {
			case '\n':
				l.line++
			case '\r':
				l.line++
				if i+1 < len(l.buf) && l.buf[i+1] == '\n' {
					i++
				}
			}
		}
		i++
	}
}

// unquote converts a raw quoted string to its value (C escapes).
func unquote(raw string, file string, line int) (string, error) {
	var b strings.Builder
	s := raw[1:]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			return b.String(), nil
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '\n':
		case '\\', '\'', '"', '?':
			b.WriteByte(s[i])
		default:
			return "", &SyntaxError{File: file, Line: line, Msg: fmt.Sprintf("unrecognized escape '\\%c'", s[i])}
		}
	}
	return "", &SyntaxError{File: file, Line: line, Msg: "unterminated string (no closing quote)"}
}

// confParam is one top-level parameter as parsed.
type confParam struct {
	Key    string
	Raw    string   // raw value (quotes kept) for scalars
	List   []string // items, when IsList
	IsList bool
	Line   int
}

// parseConf parses an INN configuration file and returns its top-level
// parameters in file order, duplicates dropped (the first wins, as in INN).
func parseConf(data []byte, file string) ([]confParam, error) {
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, &SyntaxError{File: file, Line: 1 + bytes.Count(data[:bytes.IndexByte(data, 0)], []byte("\n")), Msg: "invalid NUL character found in file"}
	}
	l := &confLexer{file: file, buf: data, line: 1}
	var params []confParam
	seen := map[string]bool{}
	_, err := parseGroupContents(l, func(p confParam) {
		if !seen[p.Key] {
			seen[p.Key] = true
			params = append(params, p)
		}
	}, 0)
	if err != nil {
		return nil, err
	}
	return params, nil
}

func unexpected(l *confLexer, t confTok, expecting string) error {
	return l.errf("parse error: saw %s, expecting %s", confTokNames[t.typ], expecting)
}

const maxConfDepth = 20

// parseGroupContents parses parameters and nested groups until '}' or end
// of file, which it returns. add is nil inside nested groups.
func parseGroupContents(l *confLexer, add func(confParam), depth int) (confTok, error) {
	if depth > maxConfDepth {
		return confTok{}, l.errf("groups nested too deep")
	}
	semicolon := false
	hasChild := false
	t, err := l.next()
	for err == nil {
		switch t.typ {
		case ctParam:
			if hasChild {
				return t, l.errf("parameter specified after nested group")
			}
			t, err = parseParameter(l, t.text, add)
			for err == nil && (t.typ == ctCRLF || t.typ == ctSemicolon) {
				semicolon = t.typ == ctSemicolon
				t, err = l.next()
			}
		case ctCRLF:
			t, err = l.next()
		case ctString:
			if semicolon {
				return t, unexpected(l, t, "parameter")
			}
			hasChild = true
			if err = parseGroup(l, depth); err != nil {
				return t, err
			}
			t, err = l.next()
		case ctRBrace, ctEOF:
			return t, nil
		default:
			return t, unexpected(l, t, "parameter")
		}
	}
	return t, err
}

func parseGroup(l *confLexer, depth int) error {
	t, err := l.next()
	if err != nil {
		return err
	}
	tagged := false
	if t.typ == ctString {
		tagged = true
		if t, err = l.next(); err != nil {
			return err
		}
	}
	switch t.typ {
	case ctLAngle:
		// An included file: nxmit reads no parameters from groups, so the
		// file is not opened; only the syntax is checked.
		if t, err = l.next(); err != nil {
			return err
		}
		if t.typ != ctString {
			return unexpected(l, t, "file name")
		}
		if t, err = l.next(); err != nil {
			return err
		}
		if t.typ != ctRAngle {
			return unexpected(l, t, "'>'")
		}
		return nil
	case ctLBrace:
		end, err := parseGroupContents(l, nil, depth+1)
		if err != nil {
			return err
		}
		if end.typ != ctRBrace {
			return unexpected(l, end, "'}'")
		}
		return nil
	}
	if tagged {
		return unexpected(l, t, "'{' or '<'")
	}
	return unexpected(l, t, "group tag, '{', or '<'")
}

func parseParameter(l *confLexer, key string, add func(confParam)) (confTok, error) {
	t, err := l.next()
	if err != nil {
		return t, err
	}
	switch t.typ {
	case ctLBracket:
		line := l.line
		var items []string
		for {
			if t, err = l.next(); err != nil {
				return t, err
			}
			if t.typ == ctCRLF {
				continue
			}
			if t.typ == ctRBracket {
				break
			}
			if t.typ == ctString {
				items = append(items, t.text)
				continue
			}
			if t.typ == ctQString {
				s, err := unquote(t.text, l.file, l.line)
				if err != nil {
					return t, err
				}
				items = append(items, s)
				continue
			}
			return t, unexpected(l, t, "string or ']'")
		}
		if add != nil {
			add(confParam{Key: key, List: items, IsList: true, Line: line})
		}
		return l.next()
	case ctString, ctQString:
		value, line := t.text, l.line
		if t, err = l.next(); err != nil {
			return t, err
		}
		switch t.typ {
		case ctCRLF, ctSemicolon, ctEOF, ctRBrace:
			if add != nil {
				add(confParam{Key: key, Raw: value, Line: line})
			}
			return t, nil
		}
		return t, unexpected(l, t, "semicolon or newline")
	}
	return t, unexpected(l, t, "parameter value")
}
