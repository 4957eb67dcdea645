package spoolfmt

import (
	"bytes"
	"errors"
	"testing"
)

func TestToWire(t *testing.T) {
	tests := []struct{ native, wire string }{
		{"A: b\n\nbody\n", "A: b\r\n\r\nbody\r\n.\r\n"},
		{"A: b\n\n.dot\n..two\n.\n", "A: b\r\n\r\n..dot\r\n...two\r\n..\r\n.\r\n"},
		{"A: b\n\nno newline", "A: b\r\n\r\nno newline\r\n.\r\n"},
		{"A: b\n\n\xff\xfe\x00\n", "A: b\r\n\r\n\xff\xfe\x00\r\n.\r\n"},
		{"A: b\n\nbare\rcr\n", "A: b\r\n\r\nbare\rcr\r\n.\r\n"},
	}
	for _, tt := range tests {
		if got := ToWire(nil, []byte(tt.native)); string(got) != tt.wire {
			t.Errorf("ToWire(%q) = %q, want %q", tt.native, got, tt.wire)
		}
		// Chunk boundaries anywhere give the same result.
		for cut := 0; cut <= len(tt.native); cut++ {
			var c nativeToWire
			got := c.finish(c.append(c.append(nil, []byte(tt.native[:cut])), []byte(tt.native[cut:])))
			if string(got) != tt.wire {
				t.Fatalf("ToWire(%q) cut at %d = %q", tt.native, cut, got)
			}
		}
	}
}

func TestIsWireFormat(t *testing.T) {
	for in, want := range map[string][2]bool{
		"A: b\r\n":  {true, true},
		"A: b\n":    {false, true},
		"\nA":       {false, false},
		"no end":    {false, false},
		"A: b\rx\n": {false, true},
	} {
		w, ok := IsWireFormat([]byte(in))
		if w != want[0] || ok != want[1] {
			t.Errorf("IsWireFormat(%q) = %v, %v", in, w, ok)
		}
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct{ art, want string }{
		{"Path: x\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n.\r\n", "<a@b>"},
		{"Path: x\nmessage-id:   <a@b>  \n\nbody\n", "<a@b>"},
		{"Path: x\r\nMESSAGE-ID:\r\n\t<folded@b>\r\nSubject: s\r\n\r\n", "<folded@b>"},
		{"Path: x\r\n\r\nMessage-ID: <in-body@b>\r\n.\r\n", ""},
		{"Path: x\r\nX-Message-ID: <no@b>\r\n\r\n", ""},
		{"Message-ID: <last@b>", "<last@b>"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MessageID([]byte(tt.art)); got != tt.want {
			t.Errorf("MessageID(%q) = %q, want %q", tt.art, got, tt.want)
		}
	}
}

func TestCheckMessageID(t *testing.T) {
	art := []byte("Path: x\r\nMessage-ID: <a@B.example>\r\n\r\n.\r\n")
	for _, ok := range []string{"", "<a@B.example>", "<a@b.example>"} {
		if err := CheckMessageID(art, ok); err != nil {
			t.Errorf("CheckMessageID(%q) = %v", ok, err)
		}
	}
	err := CheckMessageID(art, "<other@b>")
	var me *MissingError
	if !errors.Is(err, ErrMissing) || !errors.As(err, &me) || !bytes.Contains([]byte(err.Error()), []byte("<a@B.example>")) {
		t.Errorf("mismatch: %v", err)
	}
	if err := CheckMessageID([]byte("Path: x\r\n\r\n.\r\n"), "<a@b>"); !errors.Is(err, ErrMissing) {
		t.Errorf("no header: %v", err)
	}
}
