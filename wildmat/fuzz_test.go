package wildmat

import (
	"strings"
	"testing"
)

// refMatch is a slow, obviously-recursive matcher for one pattern (simple mode), written
// straight from uwildmat(3), to check the compiled matcher against.
func refMatch(text, pat string) bool {
	type key struct{ t, p int }
	memo := map[key]bool{}
	var rec func(t, p int) bool
	rec = func(t, p int) bool {
		k := key{t, p}
		if v, ok := memo[k]; ok {
			return v
		}
		var res bool
		switch {
		case p == len(pat):
			res = t == len(text)
		case pat[p] == '*':
			res = rec(t, p+1) || (t < len(text) && rec(t+charLen(text[t:]), p))
		case t == len(text):
			res = false
		case pat[p] == '?':
			res = rec(t+charLen(text[t:]), p+1)
		case pat[p] == '\\':
			if p+1 == len(pat) {
				res = false
				break
			}
			n := charLen(pat[p+1:])
			res = strings.HasPrefix(text[t:], pat[p+1:p+1+n]) && rec(t+n, p+1+n)
		case pat[p] == '[':
			end, ok := classEnd(pat, p)
			if !ok {
				res = false
				break
			}
			r, n := decode(text[t:])
			res = refClass(r, pat[p+1:end]) && rec(t+n, end+1)
		default:
			n := charLen(pat[p:])
			res = strings.HasPrefix(text[t:], pat[p:p+n]) && rec(t+n, p+n)
		}
		memo[k] = res
		return res
	}
	// A malformed pattern matches nothing, even where a prefix would have failed first.
	if _, err := CompileMode(pat, Simple); err != nil {
		return false
	}
	return rec(0, 0)
}

func charLen(s string) int { _, n := decode(s); return n }

func refClass(r rune, set string) bool {
	neg := strings.HasPrefix(set, "^")
	if neg {
		set = set[1:]
	}
	var members []rune
	for len(set) > 0 {
		c, n := decode(set)
		members = append(members, c)
		set = set[n:]
	}
	in := false
	for i := 0; i < len(members); i++ {
		lo, hi := members[i], members[i]
		// "x-y" where x is a plain member (not the end of a range) and "-" is not last.
		if i+2 < len(members) && members[i+1] == '-' {
			hi = members[i+2]
			i += 2
		}
		if lo <= r && r <= hi {
			in = true
		}
	}
	return in != neg
}

func FuzzMatchSimple(f *testing.F) {
	for _, s := range [][2]string{
		{"foo", "f*"}, {"a]b", "a[]]b"}, {"a-b", "a[]-]b"}, {"é", "?"}, {"\xe9x", "[\xe9-\xff]?"},
		{"aaaa", "*a*a*b"}, {`\`, `\\`}, {"-", "[a-c-e]"}, {"x", "[^]x]"}, {"", "[]"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, text, pat string) {
		if len(text) > 200 || len(pat) > 40 {
			return
		}
		got := MatchSimple(text, pat)
		if want := refMatch(text, pat); got != want {
			t.Fatalf("MatchSimple(%q, %q) = %v, reference says %v", text, pat, got, want)
		}
		// Any text matches itself once every metacharacter is escaped.
		var esc strings.Builder
		for _, c := range []byte(text) {
			if strings.IndexByte(`*?[\,!@`, c) >= 0 {
				esc.WriteByte('\\')
			}
			esc.WriteByte(c)
		}
		if !Match(text, esc.String()) {
			t.Fatalf("Match(%q, %q) = false", text, esc.String())
		}
	})
}

func FuzzCompilePoison(f *testing.F) {
	for _, s := range []string{"*,!junk,@alt.*", "[,]", `a\,b`, "[", "!", "@", ",,", "[^]],x"} {
		f.Add(s, "alt.test")
	}
	f.Fuzz(func(t *testing.T, expr, text string) {
		e, err := CompilePoison(expr)
		le, _ := compile(expr, PoisonExpression)
		if err == nil && e.MatchPoison(text) != le.MatchPoison(text) {
			t.Fatal("strict and lenient compilations disagree")
		}
		_ = MatchPoison(text, expr)
		_ = e != nil && e.MatchGroups([]string{text, text + ".x"})
	})
}
