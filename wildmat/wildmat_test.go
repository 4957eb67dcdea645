package wildmat

import (
	"strings"
	"testing"
)

// The cases follow uwildmat(3) (INN 2.7) and newsfeeds(5); comments name the rule.
func TestMatchSimple(t *testing.T) {
	tests := []struct {
		text, pat string
		want      bool
	}{
		{"foo", "foo", true},
		{"foo", "bar", false},
		{"", "", true},
		{"foo", "", false},
		{"", "*", true},
		{"foo", "???", true},
		{"foo", "??", false},
		{"foo", "*", true},
		{"foo", "f*", true},
		{"foo", "*f", false},
		{"foo", "*foo*", true},
		{"foobar", "*ob*a*r*", true},
		{"aaaaaaabababab", "*ab", true},
		{"foo*", `foo\*`, true}, // \ escapes a metacharacter
		{"foobar", `foo\*bar`, false},
		{`\`, `\\`, true},
		{"f", `\f`, true}, // \ escapes any character
		{"ball", "*[al]?", true},
		{"ten", "[ten]", false},
		{"t", "[ten]", true},
		{"ten", "t[a-g]n", true},
		{"ton", "t[a-g]n", false},
		{"ton", "t[^a-g]n", true}, // ^ negates a set
		{"ten", "t[^a-g]n", false},
		{"a]b", "a[]]b", true},   // ] first in a set is a member
		{"a]b", "a[^]]b", false}, // ...also right after ^
		{"axb", "a[^]]b", true},
		{"a-b", "a[]-]b", true}, // - last is a member
		{"a]b", "a[]-]b", true},
		{"aab", "a[]-]b", false},
		{"aab", "a[]a-]b", true},
		{"a-b", "a[-a]b", true}, // - first is a member
		{"-", "[a-c-e]", true},  // - after a range is a member
		{"d", "[a-c-e]", false},
		{"e", "[a-c-e]", true},
		{"b", "[c-a]", false}, // a reversed range is empty
		{`\`, `[\]`, true},    // nothing is special inside a set
		{"a", `[\a]`, true},
		{"*", "[*]", true},
		{"x", "[*]", false},
		{"]", "]", true},
		{"foo,bar", "foo,bar", true}, // simple mode: comma is ordinary
		{"!foo", "!foo", true},       // simple mode: ! is ordinary
		{"comp.lang.c", "comp.*", true},
		{"comp", "comp.*", false},
		{"comp.lang.c", "comp.*.c", true},
		{"comp.lang.c++", "comp.lang.c\\+\\+", true},
		// ? and sets take one UTF-8 character, not one byte.
		{"é", "?", true},
		{"é", "??", false},
		{"aéb", "a[é]b", true},
		{"aéb", "a[^x]b", true},
		{"ü", "[à-ÿ]", true},
		{"日本", "??", true},
		// An invalid UTF-8 byte is one character of its own value.
		{"\xe9", "?", true},
		{"\xe9", "\xe9", true},
		{"a\xffb", "a?b", true},
		// Malformed patterns match nothing.
		{"[", "[", false},
		{"a[b", "a[b", false},
		{"a", `a\`, false},
		// Consecutive stars and backtracking.
		{"abc", "***c", true},
		{"abcabcabd", "*abd", true},
		{"mississippi", "m*iss*ppi", true},
		{"mississippi", "m*iss*x", false},
	}
	for _, tt := range tests {
		if got := MatchSimple(tt.text, tt.pat); got != tt.want {
			t.Errorf("MatchSimple(%q, %q) = %v, want %v", tt.text, tt.pat, got, tt.want)
		}
	}
}

func TestMatchExpression(t *testing.T) {
	tests := []struct {
		text, expr string
		want       bool
	}{
		{"foo", "foo,bar", true},
		{"bar", "foo,bar", true},
		{"baz", "foo,bar", false},
		{"foo", "!foo", false},
		{"bar", "!foo", false}, // a negation alone matches nothing
		{"foo", "*,!foo", false},
		{"bar", "*,!foo", true},
		{"foo", "!foo,*", true}, // the last matching pattern wins
		{"alt.test", "*,!alt.*,alt.test", true},
		{"alt.tv", "*,!alt.*,alt.test", false},
		{"comp.lang.c", "*,!alt.*,alt.test", true},
		{"foo,bar", `foo\,bar`, true}, // an escaped comma does not split
		{"foo", `foo\,bar`, false},
		{",", "[,]", true}, // nor does a comma inside a set
		{"a", "[,]a,a", true},
		{"!foo", `\!foo`, true}, // an escaped ! is literal
		{"@foo", "@foo", true},  // @ is ordinary outside poison mode
		{"", "", true},
		{"", "a,", true}, // an empty pattern matches the empty text
		{"a", "a,", true},
		{"junk", "*,!junk,!control,!control.*", false},
		{"control.cancel", "*,!junk,!control,!control.*", false},
		{"news.admin", "*,!junk,!control,!control.*", true},
		{"a", "[,a", false}, // an unterminated set swallows the rest
	}
	for _, tt := range tests {
		if got := Match(tt.text, tt.expr); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.text, tt.expr, got, tt.want)
		}
		if e, err := Compile(tt.expr); err == nil {
			if got := e.Match(tt.text); got != tt.want {
				t.Errorf("Compile(%q).Match(%q) = %v, want %v", tt.expr, tt.text, got, tt.want)
			}
		}
	}
}

func TestMatchPoison(t *testing.T) {
	tests := []struct {
		text, expr string
		want       Result
	}{
		{"alt.binaries.x", "*,@alt.binaries.*", Poisoned},
		{"alt.test", "*,@alt.binaries.*", Matched},
		{"alt.binaries.x", "*,!alt.binaries.*", NoMatch},
		{"alt.binaries.ok", "*,@alt.binaries.*,alt.binaries.ok", Matched}, // last match wins
		{"alt.binaries.ok", "alt.binaries.ok,@alt.binaries.*", Poisoned},
		{"x", "@x,!x", NoMatch},
		{"x", "!x,@x", Poisoned},
		{"x", "y", NoMatch},
		{"@x", `\@x`, Matched},
	}
	for _, tt := range tests {
		if got := MatchPoison(tt.text, tt.expr); got != tt.want {
			t.Errorf("MatchPoison(%q, %q) = %v, want %v", tt.text, tt.expr, got, tt.want)
		}
	}
}

// newsfeeds(5): an article is fed when one of its groups matches and none is poisoned;
// "!" only keeps a group from counting.
func TestMatchGroups(t *testing.T) {
	tests := []struct {
		expr   string
		groups string
		want   bool
	}{
		{"*,!junk", "junk", false},
		{"*,!junk", "junk,misc.test", true},
		{"*,@alt.binaries.*", "misc.test,alt.binaries.x", false},
		{"*,@alt.binaries.*", "misc.test", true},
		{"*,!alt.binaries.*", "misc.test,alt.binaries.x", true},
		{"comp.*", "alt.test,rec.arts", false},
		{"comp.*", "alt.test,comp.lang.go", true},
		{"comp.*,@comp.binaries.*", "comp.lang.go,comp.binaries.x", false},
		{"*", "", false}, // no groups: nothing matches
		{"!*", "a,b", false},
	}
	for _, tt := range tests {
		e, err := CompilePoison(tt.expr)
		if err != nil {
			t.Fatalf("CompilePoison(%q): %v", tt.expr, err)
		}
		var groups []string
		if tt.groups != "" {
			groups = strings.Split(tt.groups, ",")
		}
		if got := e.MatchGroups(groups); got != tt.want {
			t.Errorf("CompilePoison(%q).MatchGroups(%q) = %v, want %v", tt.expr, tt.groups, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr string
		mode Mode
		off  int // -1: valid
	}{
		{"comp.*,!comp.lang.*", Expression, -1},
		{"[", Expression, 0},
		{"a,b[c", Expression, 3},
		{`abc\`, Expression, 3},
		{`x,!ab\`, PoisonExpression, 5},
		{`@[x`, PoisonExpression, 1},
		{`[]`, Simple, 0}, // "]" first is a member, so the set is unterminated
		{`[]]`, Simple, -1},
		{`\,`, Expression, -1},
	}
	for _, tt := range tests {
		_, err := CompileMode(tt.expr, tt.mode)
		if tt.off < 0 {
			if err != nil {
				t.Errorf("CompileMode(%q): %v", tt.expr, err)
			}
			continue
		}
		se, ok := err.(*SyntaxError)
		if !ok {
			t.Errorf("CompileMode(%q) = %v, want *SyntaxError", tt.expr, err)
			continue
		}
		if se.Offset != tt.off {
			t.Errorf("CompileMode(%q): offset %d, want %d (%v)", tt.expr, se.Offset, tt.off, err)
		}
	}
}

// Matching must not blow up on patterns that make naive recursive matchers exponential.
func TestNoExponentialBacktracking(t *testing.T) {
	text := strings.Repeat("a", 5000)
	pat := strings.Repeat("*a", 50) + "b"
	if MatchSimple(text, pat) {
		t.Fatal("matched")
	}
}

func BenchmarkMatchGroups(b *testing.B) {
	e := MustCompilePoison("*,!junk,!control,!control.*,@alt.binaries.*,alt.binaries.ok")
	groups := []string{"comp.lang.go", "news.software.nntp", "alt.test"}
	for b.Loop() {
		e.MatchGroups(groups)
	}
}
