// Package wildmat implements INN's wildmat expressions, as documented in uwildmat(3) and
// used by newsfeeds(5) to select newsgroups.
//
// A wildmat pattern is like a shell glob:
//
//   - any sequence of zero or more characters
//     ?      any single character (one UTF-8 character, which may be several bytes)
//     [...]  one character of the set; "a-z" is a range; "]" is a member when it comes
//     first (after the optional "^"), "-" when it comes first or last; a "-" right
//     after a range is a member too ("[a-c-e]" is a, b, c, "-" and e)
//     [^...] one character not in the set
//     \c     the character c itself, whatever it is ("\," "\*" "\\")
//
// Nothing is special inside a set, not even "\". Matching is on UTF-8 characters; a
// byte that is not part of valid UTF-8 is one character whose value is the byte.
// Matching is case-sensitive.
//
// An expression is a list of patterns separated by unescaped commas outside sets. A
// pattern starting with "!" is negated; in poison mode (uwildmat_poison, newsfeeds) a
// pattern starting with "@" is negated and "poisons". The text is compared with every
// pattern and the last pattern that matches decides: a plain pattern gives Matched, a
// "!" pattern gives NoMatch, an "@" pattern gives Poisoned; when no pattern matches the
// result is NoMatch. So "*,!alt.*,alt.test" matches alt.test and comp.lang.c but not alt.tv.
//
// For an article's Newsgroups header (several groups), newsfeeds(5) sends the article
// when at least one group gives Matched and no group gives Poisoned: "!" only stops a group
// from counting, "@" refuses the article outright. MatchGroups implements that, as innd
// does with SITEwantsgroup (some group wanted) and SITEpoisongroup (no group poisoned).
//
// Where INN's C code would read a malformed pattern (a set without its "]", a final lone
// "\") in some undefined way, that pattern here matches nothing; Compile reports it.
package wildmat

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Result is the outcome of matching a text against an expression in poison mode.
type Result uint8

// Results of MatchPoison, named as INN's enum uwildmat.
const (
	NoMatch  Result = iota // no pattern matched, or the last match was a "!" pattern
	Matched                // the last matching pattern was a plain one
	Poisoned               // the last matching pattern was an "@" pattern
)

// String returns "fail", "match" or "poison".
func (r Result) String() string {
	switch r {
	case NoMatch:
		return "no match"
	case Matched:
		return "match"
	case Poisoned:
		return "poison"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

// Mode selects which characters are special at the start of a pattern and between
// patterns.
type Mode uint8

// Modes, after INN's three entry points.
const (
	// Expression is uwildmat: comma-separated patterns, "!" negates.
	Expression Mode = iota
	// PoisonExpression is uwildmat_poison: as Expression, and "@" poisons.
	PoisonExpression
	// Simple is uwildmat_simple: one pattern; "," "!" and "@" are ordinary characters.
	Simple
)

// A SyntaxError describes a malformed pattern in an expression.
type SyntaxError struct {
	Expr   string // the whole expression
	Offset int    // byte offset of the problem in Expr
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("wildmat %q: %s at offset %d", e.Expr, e.Msg, e.Offset)
}

// Expr is a compiled wildmat expression. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	mode Mode
	pats []pattern
}

type pattern struct {
	negate, poison bool
	never          bool // malformed: matches nothing
	elems          []elem
}

type elemKind uint8

const (
	litElem   elemKind = iota // s must follow
	anyElem                   // one character
	starElem                  // any run
	classElem                 // one character in (or, negated, not in) ranges
)

type elem struct {
	kind   elemKind
	s      string
	negate bool
	ranges []runeRange
}

type runeRange struct{ lo, hi rune }

// Compile parses a uwildmat expression ("," and "!" special; "@" ordinary).
func Compile(expr string) (*Expr, error) { return CompileMode(expr, Expression) }

// CompilePoison parses a uwildmat_poison expression ("," "!" and "@" special), the syntax
// of a newsfeeds pattern field.
func CompilePoison(expr string) (*Expr, error) { return CompileMode(expr, PoisonExpression) }

// CompileMode parses expr in the given mode. On a syntax error it returns the error and
// no Expr.
func CompileMode(expr string, mode Mode) (*Expr, error) {
	e, err := compile(expr, mode)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// MustCompilePoison is CompilePoison that panics on a malformed expression, for
// expressions fixed in a program.
func MustCompilePoison(expr string) *Expr {
	e, err := CompilePoison(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// compile always returns a usable Expr (malformed patterns match nothing) and the first
// syntax error, if any.
func compile(expr string, mode Mode) (*Expr, error) {
	e := &Expr{src: expr, mode: mode}
	var firstErr error
	if mode == Simple {
		p, err := compilePattern(expr, 0, expr)
		e.pats = []pattern{p}
		return e, err
	}
	for start := 0; ; {
		end := splitEnd(expr, start)
		p := pattern{}
		body, off := expr[start:end], start
		if strings.HasPrefix(body, "!") {
			p.negate = true
			body, off = body[1:], off+1
		} else if mode == PoisonExpression && strings.HasPrefix(body, "@") {
			p.negate, p.poison = true, true
			body, off = body[1:], off+1
		}
		q, err := compilePattern(body, off, expr)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		p.never, p.elems = q.never, q.elems
		e.pats = append(e.pats, p)
		if end == len(expr) {
			break
		}
		start = end + 1
	}
	return e, firstErr
}

// splitEnd returns the offset of the comma ending the pattern that starts at start, or
// len(expr). Escaped commas and commas inside a set do not split, so that "[,.]" is one
// pattern, as in INN's match_expression.
func splitEnd(expr string, start int) int {
	for i := start; i < len(expr); i++ {
		switch expr[i] {
		case '\\':
			i++ // the escaped byte; a multi-byte character is never ',' or '['
		case '[':
			if end, ok := classEnd(expr, i); ok {
				i = end
			} else {
				// An unterminated set swallows the rest of the expression, commas
				// included; that pattern then matches nothing.
				return len(expr)
			}
		case ',':
			return i
		}
	}
	return len(expr)
}

// classEnd returns the offset of the "]" closing the set that opens at s[open].
func classEnd(s string, open int) (int, bool) {
	i := open + 1
	if i < len(s) && s[i] == '^' {
		i++
	}
	if i < len(s) && s[i] == ']' {
		i++ // a leading "]" is a member
	}
	for ; i < len(s); i++ {
		if s[i] == ']' {
			return i, true
		}
	}
	return 0, false
}

func compilePattern(p string, off int, expr string) (pattern, error) {
	var out pattern
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			out.elems = append(out.elems, elem{kind: litElem, s: string(lit)})
			lit = lit[:0]
		}
	}
	fail := func(at int, msg string) (pattern, error) {
		return pattern{never: true}, &SyntaxError{Expr: expr, Offset: off + at, Msg: msg}
	}
	for i := 0; i < len(p); {
		switch c := p[i]; c {
		case '*':
			flush()
			// Consecutive stars are one star.
			if n := len(out.elems); n == 0 || out.elems[n-1].kind != starElem {
				out.elems = append(out.elems, elem{kind: starElem})
			}
			i++
		case '?':
			flush()
			out.elems = append(out.elems, elem{kind: anyElem})
			i++
		case '\\':
			if i+1 >= len(p) {
				return fail(i, "trailing backslash")
			}
			_, n := utf8.DecodeRuneInString(p[i+1:])
			lit = append(lit, p[i+1:i+1+n]...)
			i += 1 + n
		case '[':
			end, ok := classEnd(p, i)
			if !ok {
				return fail(i, "missing ] after [")
			}
			flush()
			out.elems = append(out.elems, compileClass(p[i+1:end]))
			i = end + 1
		default:
			_, n := utf8.DecodeRuneInString(p[i:])
			lit = append(lit, p[i:i+n]...)
			i += n
		}
	}
	flush()
	return out, nil
}

// compileClass compiles the inside of "[...]" (without the brackets).
func compileClass(s string) elem {
	e := elem{kind: classElem}
	if strings.HasPrefix(s, "^") {
		e.negate = true
		s = s[1:]
	}
	first := true
	canStartRange := false
	for len(s) > 0 {
		r, n := decode(s)
		if r == '-' && !first && canStartRange && n < len(s) {
			// "x-y": extend the previous single character into a range.
			hi, m := decode(s[n:])
			e.ranges[len(e.ranges)-1].hi = hi
			s = s[n+m:]
			canStartRange = false
			continue
		}
		e.ranges = append(e.ranges, runeRange{r, r})
		s = s[n:]
		first = false
		canStartRange = true
	}
	return e
}

// decode returns the first character of s: a UTF-8 rune, or for an invalid byte the
// byte's own value (INN treats such a byte as a one-octet character).
func decode(s string) (rune, int) {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return rune(s[0]), 1
	}
	return r, n
}

func (e *elem) classMatch(r rune) bool {
	in := false
	for _, rg := range e.ranges {
		if rg.lo <= r && r <= rg.hi {
			in = true
			break
		}
	}
	return in != e.negate
}

// match reports whether the whole text matches the pattern. Only the most recent star
// needs to be retried on a mismatch, so the cost is O(len(text)·len(pattern)) at worst.
func (p *pattern) match(text string) bool {
	if p.never {
		return false
	}
	el := p.elems
	pi, ti := 0, 0
	starPi, starTi := -1, 0
	for {
		if pi < len(el) {
			e := &el[pi]
			switch e.kind {
			case starElem:
				if pi == len(el)-1 {
					return true
				}
				starPi, starTi = pi, ti
				pi++
				continue
			case litElem:
				if strings.HasPrefix(text[ti:], e.s) {
					ti += len(e.s)
					pi++
					continue
				}
			case anyElem:
				if ti < len(text) {
					_, n := decode(text[ti:])
					ti += n
					pi++
					continue
				}
			case classElem:
				if ti < len(text) {
					r, n := decode(text[ti:])
					if e.classMatch(r) {
						ti += n
						pi++
						continue
					}
				}
			}
		} else if ti == len(text) {
			return true
		}
		// Mismatch: let the last star swallow one more character and retry.
		if starPi < 0 || starTi >= len(text) {
			return false
		}
		_, n := decode(text[starTi:])
		starTi += n
		pi, ti = starPi+1, starTi
	}
}

// MatchPoison matches text against the expression; the last matching pattern decides.
// Outside PoisonExpression mode the result is never Poisoned.
func (e *Expr) MatchPoison(text string) Result {
	for i := len(e.pats) - 1; i >= 0; i-- {
		p := &e.pats[i]
		if !p.match(text) {
			continue
		}
		switch {
		case p.poison:
			return Poisoned
		case p.negate:
			return NoMatch
		}
		return Matched
	}
	return NoMatch
}

// Match reports whether the expression matches text (MatchPoison gives Matched).
func (e *Expr) Match(text string) bool { return e.MatchPoison(text) == Matched }

// MatchGroups applies the expression to an article's newsgroups the way innd applies a
// newsfeeds pattern: true when some group gives Matched and no group gives Poisoned.
func (e *Expr) MatchGroups(groups []string) bool {
	matched := false
	for _, g := range groups {
		switch e.MatchPoison(g) {
		case Poisoned:
			return false
		case Matched:
			matched = true
		}
	}
	return matched
}

// String returns the expression as given to Compile.
func (e *Expr) String() string { return e.src }

// Match is uwildmat(3): whether text matches the expression (commas and "!" special).
// A malformed pattern in the expression matches nothing.
func Match(text, expr string) bool {
	e, _ := compile(expr, Expression)
	return e.Match(text)
}

// MatchSimple is uwildmat_simple: expr is one pattern, commas and "!" are ordinary.
func MatchSimple(text, pattern string) bool {
	e, _ := compile(pattern, Simple)
	return e.Match(text)
}

// MatchPoison is uwildmat_poison: as Match, with "@" patterns giving Poisoned.
func MatchPoison(text, expr string) Result {
	e, _ := compile(expr, PoisonExpression)
	return e.MatchPoison(text)
}
