package spoolfmt

import (
	"errors"
	"testing"
	"time"
)

func TestParseToken(t *testing.T) {
	tests := []struct {
		in     string
		ok     bool
		method Method
		class  byte
	}{
		{"@02015F3A1B2C000700000000000000000000@", true, TimeHash, 1},
		{"@050900000001000000000000000100000000@", true, TradSpool, 9},
		{"@030242554631000000000000000400000001@", true, CNFS, 2},
		{"@0401005F3A1B070001000000000000000000@", true, TimeCAF, 1},
		{"@000000000000000000000000000000000000@", true, Trash, 0},
		{"@FF0000000000000000000000000000000000@", true, Empty, 0},
		{"@02015f3a1b2c000700000000000000000000@", false, 0, 0},  // lower case
		{"@02015F3A1B2C00070000000000000000000@", false, 0, 0},   // short
		{"@02015F3A1B2C0007000000000000000000000@", false, 0, 0}, // long
		{"02015F3A1B2C000700000000000000000000@@", false, 0, 0},
		{"@02015F3A1B2C00070000000000000000000@@", false, 0, 0},
		{"@02015F3A1B2C000700000000000@00000000@", false, 0, 0},
		{"@02015F3A1B2C0007000000000000000000G0@", false, 0, 0},
		{"news/lab/test/1", false, 0, 0},
		{"", false, 0, 0},
	}
	for _, tt := range tests {
		tok, err := ParseToken(tt.in)
		if (err == nil) != tt.ok || IsToken(tt.in) != tt.ok {
			t.Errorf("ParseToken(%q) err = %v, IsToken = %v; want ok %v", tt.in, err, IsToken(tt.in), tt.ok)
			continue
		}
		if !tt.ok {
			if !errors.Is(err, ErrNotToken) {
				t.Errorf("ParseToken(%q) error %v does not wrap ErrNotToken", tt.in, err)
			}
			continue
		}
		if tok.Method() != tt.method || tok.Class() != tt.class || tok.String() != tt.in {
			t.Errorf("ParseToken(%q) = method %v class %d text %s", tt.in, tok.Method(), tok.Class(), tok)
		}
	}
}

func TestTokenFields(t *testing.T) {
	mustTok := func(s string) Token {
		tok, err := ParseToken(s)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	th := mustTok("@02015F3A1B2C000700000000000000000000@")
	if a, s := th.timehash(); a != 0x5F3A1B2C || s != 7 {
		t.Errorf("timehash fields %x %d", a, s)
	}
	if at, ok := th.Arrival(); !ok || !at.Equal(time.Unix(0x5F3A1B2C, 0)) {
		t.Errorf("timehash arrival %v %v", at, ok)
	}
	ts := mustTok("@050900000001000000000000000100000000@")
	if g, a := ts.tradspool(); g != 1 || a != 1 {
		t.Errorf("tradspool fields %d %d", g, a)
	}
	cn := mustTok("@030242554631000000000000000400000001@")
	if n, b, c := cn.cnfs(); n != "BUF1" || b != 4 || c != 1 {
		t.Errorf("cnfs fields %q %d %d", n, b, c)
	}
	tc := mustTok("@0401005F3A1B070001000000000000000000@")
	if tt, n := tc.timecaf(); tt != 0x005F3A1B || n != 0x0100<<16|0x0700 {
		t.Errorf("timecaf fields %x %x", tt, n)
	}
	if at, ok := tc.Arrival(); !ok || at.Unix() != 0x5F3A1B00 {
		t.Errorf("timecaf arrival %v", at)
	}
	if _, ok := cn.Arrival(); ok {
		t.Error("cnfs token claims an arrival time")
	}
	for m, want := range map[Method]string{Trash: "trash", TimeHash: "timehash", CNFS: "cnfs", TimeCAF: "timecaf", TradSpool: "tradspool", 7: "method(7)"} {
		if m.String() != want {
			t.Errorf("Method(%d).String() = %q", m, m.String())
		}
	}
}

func TestStorePaths(t *testing.T) {
	s := &Store{articles: "/a"}
	tok, _ := ParseToken("@02015F3A1B2C000700000000000000000000@")
	if p := s.timehashPath(tok); p != "/a/time-01/3a/1b/0007-5f2c" {
		t.Errorf("timehash path %s", p)
	}
	tok, _ = ParseToken("@0401005F3A1B070001000000000000000000@")
	if p := s.cafPath(tok); p != "/a/timecaf-01/3a/5f1b.CF" {
		t.Errorf("timecaf path %s", p)
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{
		"@02015F3A1B2C000700000000000000000000@",
		"@030242554631000000000000000400000001@",
		"@02015f3a1b2c000700000000000000000000@",
		"@@", "", "news/lab/test/1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if (err == nil) != IsToken(s) {
			t.Fatalf("ParseToken and IsToken disagree on %q", s)
		}
		if err == nil && tok.String() != s {
			t.Fatalf("round trip %q -> %q", s, tok.String())
		}
		tok.Arrival()
		tok.cnfs()
		tok.timecaf()
		tok.tradspool()
		_ = tok.Method().String()
	})
}
