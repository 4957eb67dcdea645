package batch

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/zstd"
)

// scanned is what a Scanner yields for one line.
type scanned struct {
	no     int
	off    int64
	n      int
	raw    string
	line   Line
	err    error
	nilRaw bool
}

func scanAll(t testing.TB, r io.Reader, name string) ([]scanned, *Scanner) {
	t.Helper()
	s := NewScanner(r, name)
	var out []scanned
	for s.Scan() {
		out = append(out, scanned{no: s.LineNo(), off: s.Offset(), n: s.Len(), raw: string(s.Bytes()), line: s.Line(), err: s.LineErr(), nilRaw: s.Bytes() == nil})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return out, s
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestScanner(t *testing.T) {
	long := strings.Repeat("x", MaxLineLen+1)
	huge := strings.Repeat("y", 200_000)    // beyond the read buffer
	input := tok(1) + " " + mid(1) + "\n" + // 1
		strings.Repeat(" ", 69) + "\n" + // 2 blanked
		"\n" + // 3 empty
		tok(4) + " " + mid(4) + "\r\n" + // 4 CRLF
		long + "\n" + // 5
		huge + "\n" + // 6
		"news/a/7\n" + // 7
		tok(8) + " <a\x00b>\n" + // 8
		strings.Repeat("z", MaxLineLen) + "\n" + // 9: at the limit: a path too long, not a long line
		tok(10) + " " + mid(10) // 10: no newline

	check := func(t *testing.T, got []scanned) {
		t.Helper()
		if len(got) != 10 {
			t.Fatalf("got %d lines, want 10", len(got))
		}
		var off int64
		lines := strings.SplitAfter(input, "\n")
		for i, g := range got {
			if g.no != i+1 {
				t.Errorf("line %d: LineNo %d", i+1, g.no)
			}
			if g.off != off {
				t.Errorf("line %d: Offset %d, want %d", i+1, g.off, off)
			}
			if want := len(strings.TrimSuffix(lines[i], "\n")); g.n != want {
				t.Errorf("line %d: Len %d, want %d", i+1, g.n, want)
			}
			off += int64(len(lines[i]))
		}
		if got[0].err != nil || got[0].line.MessageID != mid(1) || !got[0].line.IsToken {
			t.Errorf("line 1: %+v", got[0])
		}
		for _, i := range []int{1, 2} {
			if !errors.Is(got[i].err, ErrBlank) {
				t.Errorf("line %d: err %v, want ErrBlank", i+1, got[i].err)
			}
		}
		wantErr := map[int]string{
			4:  "t.zst:4: carriage return",
			5:  "t.zst:5: line too long (32768 bytes, max 32767), skipped",
			6:  "t.zst:6: line too long (200000 bytes, max 32767), skipped",
			8:  "t.zst:8: NUL byte",
			9:  "t.zst:9: article path longer",
			10: "t.zst:10: incomplete last line",
		}
		for no, want := range wantErr {
			g := got[no-1]
			if g.err == nil || !strings.HasPrefix(g.err.Error(), want) {
				t.Errorf("line %d: err %v, want prefix %q", no, g.err, want)
			}
		}
		if !errors.Is(got[4].err, ErrLongLine) || !errors.Is(got[5].err, ErrLongLine) || !got[4].nilRaw || !got[5].nilRaw {
			t.Errorf("long lines: %v %v raw nil %v %v", got[4].err, got[5].err, got[4].nilRaw, got[5].nilRaw)
		}
		if !errors.Is(got[9].err, ErrPartialLine) || got[9].line != (Line{}) {
			t.Errorf("partial line: %v %+v", got[9].err, got[9].line)
		}
		if got[6].err != nil || got[6].line.Article != "news/a/7" {
			t.Errorf("line 7: %+v", got[6])
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
		comp string
	}{
		{"plain", []byte(input), ""},
		{"zstd", zstdBytes(t, []byte(input)), "zstd"},
		{"gzip", gzipBytes(t, []byte(input)), "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tc.data), iotest.OneByteReader(bytes.NewReader(tc.data))} {
				got, s := scanAll(t, r, "t.zst")
				if s.Err() != nil {
					t.Fatal(s.Err())
				}
				if s.Compressed() != tc.comp {
					t.Errorf("Compressed() = %q, want %q", s.Compressed(), tc.comp)
				}
				check(t, got)
			}
		})
	}
}

func TestScannerEdges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		lines int
	}{
		{"empty input", "", 0},
		{"one newline", "\n", 1},
		{"short input", "ab", 1},
		{"zstd magic only", string(zstdMagic), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, s := scanAll(t, strings.NewReader(tc.in), "in")
			if tc.lines < 0 {
				if s.Err() == nil {
					t.Fatalf("no error for a truncated zstd stream; got %v", got)
				}
				if !strings.Contains(s.Err().Error(), "in") {
					t.Errorf("error %v does not name the input", s.Err())
				}
				return
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			if len(got) != tc.lines {
				t.Errorf("got %d lines, want %d", len(got), tc.lines)
			}
		})
	}
}

func TestScannerReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader(tok(1)+" "+mid(1)+"\n"+tok(2)), iotest.ErrReader(boom))
	got, s := scanAll(t, r, "in")
	if len(got) != 1 || !errors.Is(s.Err(), boom) {
		t.Fatalf("lines %d, err %v", len(got), s.Err())
	}
}

func FuzzScanner(f *testing.F) {
	f.Add([]byte(tok(1) + " " + mid(1) + "\n     \n\n" + tok(2) + "\r\nx\x00y\n\xff\n" + tok(3)))
	f.Add([]byte(strings.Repeat("a", MaxLineLen+10) + "\n" + tok(1) + "\n"))
	f.Add(zstdBytes(f, []byte(tok(1)+" "+mid(1)+"\n  \n")))
	f.Add(gzipBytes(f, []byte("news/a/1\n")))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewScanner(bytes.NewReader(data), "fuzz")
		defer s.Close()
		var off int64
		no := 0
		for s.Scan() {
			no++
			if s.LineNo() != no || s.Offset() != off {
				t.Fatalf("line %d at %d: got LineNo %d Offset %d", no, off, s.LineNo(), s.Offset())
			}
			raw := s.Bytes()
			if raw != nil && len(raw) != s.Len() {
				t.Fatalf("Len %d, Bytes %d", s.Len(), len(raw))
			}
			if len(raw) > MaxLineLen {
				t.Fatalf("kept a %d-byte line", len(raw))
			}
			err := s.LineErr()
			if err == nil {
				if s.Line().String() != string(raw) {
					t.Fatalf("line %q parsed as %q", raw, s.Line().String())
				}
			} else if !errors.Is(err, ErrBlank) {
				var le *LineError
				if !errors.As(err, &le) || le.File != "fuzz" || le.Line != no {
					t.Fatalf("bad line error %#v", err)
				}
			}
			off += int64(s.Len()) + 1
		}
		if s.Compressed() == "" && s.Err() == nil {
			// The whole input was consumed: the last line may lack "\n".
			if off != int64(len(data)) && off != int64(len(data))+1 {
				t.Fatalf("consumed %d of %d bytes", off, len(data))
			}
			if want := bytes.Count(data, []byte("\n")); no != want && no != want+1 {
				t.Fatalf("%d lines, %d newlines", no, want)
			}
		}
	})
}
