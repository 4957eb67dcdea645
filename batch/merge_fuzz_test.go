package batch

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzMergeInput feeds arbitrary bytes to merge's input handling (the reader that skips
// done lines and innfeed checkpoints, then de-duplication): whatever comes in, every
// line written parses, no key is written twice, and every line read is accounted for.
func FuzzMergeInput(f *testing.F) {
	good := mqLine(1) + "\n" + mqLine(2) + "\n"
	seeds := []string{
		good,
		good + good, // duplicates
		mqLine(1) + "\n" + strings.Repeat(" ", len(mqLine(2))) + "\n" + mqLine(3) + "\n", // blanked
		mqLine(1) + "\r\n" + mqLine(2) + "\r\n",                                          // CRLF
		mqTok(1) + " <1\x00@x>\n" + mqLine(2) + "\n",                                     // NUL
		strings.Repeat("x", 33000) + "\n" + mqLine(4) + "\n",                             // overlong
		strings.Repeat("y", 70000) + mqLine(5) + "\n",                                    // overlong, past the buffer
		mqTok(6) + " <6.\xe9\xff@example.org>\n",                                         // not UTF-8
		"68                  \n" + good + mqLine(3) + "\n",                               // innfeed checkpoint
		"99999999  \n" + good,                                                            // checkpoint past the end
		good + mqLine(7)[:20],                                                            // partial last line
		"\n\n \n",
		"news/test/1\nnews/test/1 <a@b>\n/abs/path <a@B>\n" + mqTok(8) + "\n",
	}
	var zb bytes.Buffer
	zw, _ := zstd.NewWriter(&zb)
	zw.Write([]byte(good + mqLine(3) + "\n"))
	zw.Close()
	seeds = append(seeds, zb.String(), zb.String()[:zb.Len()/2])
	var gb bytes.Buffer
	gw := gzip.NewWriter(&gb)
	gw.Write([]byte(good))
	gw.Close()
	seeds = append(seeds, gb.String())
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newInputReader(bytes.NewReader(data), "fuzz", true)
		defer r.close()
		var out bytes.Buffer
		var is InputStats
		var warned int64
		_, err := copyLines(&out, r, nil, NewIDSet(), &is, func(err error) {
			var le *LineError
			if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("warning %q is not a fuzz:LINE: *LineError", err)
			}
			warned++
		}, nil)
		compressed := compression(data) != ""
		if err != nil {
			if !compressed {
				t.Fatalf("plain input: %v", err)
			}
			return // a broken compressed stream is an error, reported as such
		}
		if warned != is.Malformed {
			t.Fatalf("%d warnings, %d malformed", warned, is.Malformed)
		}
		if sum := is.Blank + is.Resumed + is.Malformed + is.Duplicates + is.Written; sum != is.Lines {
			t.Fatalf("lines %d != blank+resumed+malformed+dup+written %d: %+v", is.Lines, sum, is)
		}
		seen := NewIDSet()
		inLines := map[string]bool{}
		if !compressed {
			for _, l := range bytes.Split(data, []byte("\n")) {
				inLines[string(l)] = true
			}
		}
		lines := bytes.Split(out.Bytes(), []byte("\n"))
		if len(lines[len(lines)-1]) != 0 {
			t.Fatal("output does not end in a newline")
		}
		lines = lines[:len(lines)-1]
		if int64(len(lines)) != is.Written {
			t.Fatalf("%d lines out, %d counted", len(lines), is.Written)
		}
		for _, b := range lines {
			l, err := ParseLine(b)
			if err != nil {
				t.Fatalf("wrote a bad line %q: %v", b, err)
			}
			if !seen.Add(l) {
				t.Fatalf("wrote %q twice", b)
			}
			if !compressed && !inLines[string(b)] {
				t.Fatalf("wrote %q, which is not an input line", b)
			}
		}
	})
}
