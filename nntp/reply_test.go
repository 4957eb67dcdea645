package nntp

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		line string
		want Reply
		mid  string
		bad  bool
	}{
		{line: "200 news.example InterNetNews server INN 2.7.1 ready (transit mode)", want: Reply{200, "news.example InterNetNews server INN 2.7.1 ready (transit mode)"}, mid: "news.example"},
		{line: "239 <a@b>", want: Reply{239, "<a@b>"}, mid: "<a@b>"},
		{line: "438 <a@b> Duplicate", want: Reply{438, "<a@b> Duplicate"}, mid: "<a@b>"},
		{line: "205", want: Reply{205, ""}},
		{line: "400 ", want: Reply{400, ""}},
		{line: "100 help follows", want: Reply{100, "help follows"}, mid: "help"},
		{line: "599 x", want: Reply{599, "x"}, mid: "x"},
		{line: "239  <a@b>", want: Reply{239, " <a@b>"}, mid: ""},
		{line: "", bad: true},
		{line: "20", bad: true},
		{line: "2000 x", bad: true},
		{line: "200-x", bad: true},
		{line: "099 x", bad: true},
		{line: "600 x", bad: true},
		{line: "2a0 x", bad: true},
		{line: " 200 x", bad: true},
		{line: "200\tx", bad: true},
		{line: "garbage", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			r, err := ParseReply(tt.line)
			if tt.bad {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("ParseReply(%q) = %v, %v; want *ProtocolError", tt.line, r, err)
				}
				return
			}
			if err != nil || r != tt.want {
				t.Fatalf("ParseReply(%q) = %+v, %v; want %+v", tt.line, r, err, tt.want)
			}
			if got := r.MessageID(); got != tt.mid {
				t.Errorf("MessageID() = %q, want %q", got, tt.mid)
			}
		})
	}
}

func TestErrorTemporary(t *testing.T) {
	tests := []struct {
		code int
		temp bool
	}{
		{400, true}, {403, true}, {431, true}, {436, true}, {480, false}, {481, false},
		{500, false}, {501, false}, {502, false},
	}
	for _, tt := range tests {
		e := &Error{Op: "x", Reply: Reply{Code: tt.code}}
		if e.Temporary() != tt.temp || isTemporary(e) != tt.temp {
			t.Errorf("%d: Temporary() = %v, want %v", tt.code, e.Temporary(), tt.temp)
		}
	}
	if !isTemporary(&ConnError{Op: "x", Err: errors.New("eof")}) {
		t.Error("ConnError is not temporary")
	}
	if isTemporary(&ProtocolError{Msg: "x"}) {
		t.Error("ProtocolError is temporary")
	}
}

func TestProtocolErrorTruncates(t *testing.T) {
	e := &ProtocolError{Op: "CHECK <a@b>", Line: strings.Repeat("x", 5000), Msg: "garbage"}
	if n := len(e.Error()); n > 300 {
		t.Errorf("error message is %d bytes", n)
	}
}

// FuzzParseReply checks that the parser never panics, accepts only what it documents,
// and that an accepted reply prints back to the same line.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"200 news.example ready", "239 <a@b>", "438 <a@b> Duplicate", "205", "400 ",
		"", "20", "2000", "200-x", "099", "600 x", " 200", "\x00\x00\x00", "1\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseReply(line)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ProtocolError", err)
			}
			_ = pe.Error()
			return
		}
		if r.Code < 100 || r.Code > 599 {
			t.Fatalf("code %d out of range", r.Code)
		}
		back := r.String()
		if back != line && back+" " != line {
			t.Fatalf("String() = %q, from %q", back, line)
		}
		if r2, err := ParseReply(back); err != nil || r2 != r {
			t.Fatalf("reparse %q = %+v, %v", back, r2, err)
		}
		if mid := r.MessageID(); strings.Contains(mid, " ") {
			t.Fatalf("MessageID() %q has a space", mid)
		}
	})
}
