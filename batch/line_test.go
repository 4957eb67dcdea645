package batch

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// tok returns a valid timehash token text for line i.
func tok(i int) string { return fmt.Sprintf("@0201%08X%024X@", 0x5F3A1B2C, i) }

// mid returns a Message-ID for line i.
func mid(i int) string { return fmt.Sprintf("<%d.test@example.org>", i) }

func TestParseLine(t *testing.T) {
	token := "@02015F3A1B2C000700000000000000000000@"
	long250 := "<" + strings.Repeat("a", 244) + "@b.c>" // 1+244+5 = 250
	tests := []struct {
		name    string
		in      string
		want    Line
		blank   bool
		wantErr string // substring of the reason; "" for success
		class   error
	}{
		{name: "token and mid", in: token + " <a@b>", want: Line{Article: token, IsToken: true, MessageID: "<a@b>"}},
		{name: "token alone", in: token, want: Line{Article: token, IsToken: true}},
		{name: "path and mid", in: "news/group/123 <a@b>", want: Line{Article: "news/group/123", MessageID: "<a@b>"}},
		{name: "path alone", in: "news/group/123", want: Line{Article: "news/group/123"}},
		{name: "absolute path", in: "/var/spool/news/articles/x/1", want: Line{Article: "/var/spool/news/articles/x/1"}},
		{name: "hash is a file name", in: "#comment", want: Line{Article: "#comment"}},
		{name: "lower-case hex is a path... rejected as a broken token", in: strings.ToLower(token) + " <a@b>", wantErr: "invalid storage token"},
		{name: "short token", in: "@0201@ <a@b>", wantErr: "invalid storage token"},
		{name: "mid with a space is malformed", in: token + " <a b@c>", wantErr: "contains a space"},
		{name: "mid with > inside, ends in >", in: token + " <a>b@c>", want: Line{Article: token, IsToken: true, MessageID: "<a>b@c>"}},
		{name: "mid 250 bytes", in: token + " " + long250, want: Line{Article: token, IsToken: true, MessageID: long250}},
		{name: "mid 251 bytes", in: token + " <x" + long250[1:], wantErr: "longer than 250"},
		{name: "empty line", in: "", blank: true},
		{name: "blanked line", in: strings.Repeat(" ", 60), blank: true},
		{name: "one space", in: " ", blank: true},
		{name: "leading space", in: " " + token + " <a@b>", wantErr: "empty article field"},
		{name: "trailing space", in: token + " <a@b> ", wantErr: "does not end with '>'"},
		{name: "space then nothing", in: token + " ", wantErr: "empty Message-ID"},
		{name: "two spaces", in: token + "  <a@b>", wantErr: "does not start with '<'"},
		{name: "mid without <", in: token + " a@b>", wantErr: "does not start with '<'"},
		{name: "mid without >", in: token + " <a@b", wantErr: "does not end with '>'"},
		{name: "empty mid <>", in: token + " <>", wantErr: "empty Message-ID"},
		{name: "mid with a space", in: token + " <x y@test>", wantErr: "contains a space"},
		{name: "mid without brackets", in: token + " x@test", wantErr: "does not start with '<'"},
		{name: "only <", in: token + " <", wantErr: "does not end with '>'"},
		{name: "CRLF", in: token + " <a@b>\r", wantErr: "carriage return"},
		{name: "blank with CR", in: "    \r", wantErr: "carriage return"},
		{name: "NUL", in: token + " <a\x00b>", wantErr: "NUL byte at column 42"},
		{name: "all NUL", in: "\x00\x00", wantErr: "NUL byte at column 1"},
		{name: "tab", in: token + "\t<a@b>", wantErr: "tab at column 39"},
		{name: "DEL", in: "x\x7f", wantErr: "control character 0x7f"},
		{name: "non-UTF-8", in: token + " <a\xff@b>", wantErr: "invalid UTF-8 at column 42"},
		{name: "UTF-8 path", in: "news/grüße/1 <a@b>", want: Line{Article: "news/grüße/1", MessageID: "<a@b>"}},
		{name: "mid as article", in: "<a@b>", wantErr: "is a Message-ID"},
		{name: "path too long", in: strings.Repeat("p", MaxPathLen+1), wantErr: "path longer than"},
		{name: "path at limit", in: strings.Repeat("p", MaxPathLen), want: Line{Article: strings.Repeat("p", MaxPathLen)}},
		{name: "overlong", in: strings.Repeat("x", MaxLineLen+1), wantErr: "line too long", class: ErrLongLine},
		{name: "overlong blank", in: strings.Repeat(" ", MaxLineLen+1), wantErr: "line too long", class: ErrLongLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tt.in))
			switch {
			case tt.blank:
				if !errors.Is(err, ErrBlank) {
					t.Fatalf("ParseLine(%q) = %+v, %v; want ErrBlank", tt.in, got, err)
				}
			case tt.wantErr != "":
				var le *LineError
				if !errors.As(err, &le) {
					t.Fatalf("ParseLine(%q) = %+v, %v; want *LineError", tt.in, got, err)
				}
				if !strings.Contains(le.Reason, tt.wantErr) {
					t.Errorf("reason %q does not contain %q", le.Reason, tt.wantErr)
				}
				if tt.class != nil && !errors.Is(err, tt.class) {
					t.Errorf("error %v is not %v", err, tt.class)
				}
			default:
				if err != nil {
					t.Fatalf("ParseLine(%q): %v", tt.in, err)
				}
				if got.Article != tt.want.Article || got.IsToken != tt.want.IsToken || got.MessageID != tt.want.MessageID {
					t.Errorf("ParseLine(%q) = %+v, want %+v", tt.in, got, tt.want)
				}
				if got.IsToken && got.Token.String() != got.Article {
					t.Errorf("token %s != article %s", got.Token, got.Article)
				}
				if s := got.String(); s != tt.in {
					t.Errorf("String() = %q, want the input back", s)
				}
			}
		})
	}
}

func TestLineErrorMessage(t *testing.T) {
	tests := []struct {
		e    LineError
		want string
	}{
		{LineError{File: "out/peer.B.5db93971", Line: 12, Reason: "bad"}, "out/peer.B.5db93971:12: bad"},
		{LineError{File: "-", Reason: "bad"}, "-: bad"},
		{LineError{Reason: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		tok(1) + " " + mid(1), tok(2), "news/a/1 <x@y>", "", "     ", " x", tok(1) + " <a@b>\r",
		"a\x00b", "\xff\xfe <a@b>", "<a@b>", "@@", tok(1) + " <>", strings.Repeat("y", MaxLineLen+3),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		l, err := ParseLine(b)
		if !bytes.Equal(in, b) {
			t.Fatal("ParseLine modified its input")
		}
		switch {
		case errors.Is(err, ErrBlank):
			if len(bytes.Trim(b, " ")) != 0 {
				t.Fatalf("ErrBlank for non-blank %q", b)
			}
		case err != nil:
			var le *LineError
			if !errors.As(err, &le) || le.Reason == "" {
				t.Fatalf("error %v is not a *LineError with a reason", err)
			}
		default:
			if l.String() != string(b) {
				t.Fatalf("round trip %q -> %q", b, l.String())
			}
			if l.Article == "" || strings.ContainsAny(l.Article, " \r\n\x00") {
				t.Fatalf("bad article %q", l.Article)
			}
			if l.MessageID != "" && (l.MessageID[0] != '<' || l.MessageID[len(l.MessageID)-1] != '>' || len(l.MessageID) > MaxMessageIDLen) {
				t.Fatalf("bad message-id %q", l.MessageID)
			}
			if len(b) > MaxLineLen {
				t.Fatalf("accepted a %d-byte line", len(b))
			}
		}
	})
}
