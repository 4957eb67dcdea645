package batch

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// naiveGrep is the obvious line-by-line search Grep must agree with.
func naiveGrep(data []byte, needle string) []int64 {
	var out []int64
	for i, l := range strings.SplitAfter(string(data), "\n") {
		if strings.Contains(strings.TrimSuffix(l, "\n"), needle) {
			out = append(out, int64(i+1))
		}
	}
	return out
}

func grepLines(t testing.TB, data []byte, needle string) []int64 {
	var got []int64
	err := Grep(bytes.NewReader(data), []byte(needle), func(n int64, line []byte) bool {
		if !bytes.Contains(line, []byte(needle)) || bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("line %d %q does not hold %q", n, line, needle)
		}
		got = append(got, n)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestGrep(t *testing.T) {
	var big strings.Builder
	for i := range 300000 { // several chunks
		fmt.Fprintf(&big, "@0201000000%02X000000000000000000000000@ <%d.x@test>\n", i%256, i)
	}
	tests := []struct {
		name, data, needle string
	}{
		{"first and last", "<a@b>\nx\n<a@b>", "<a@b>"},
		{"twice on a line", "<a@b> <a@b>\n\n<a@b>\n", "<a@b>"},
		{"none", "abc\n", "zz"},
		{"big", big.String(), "<123456.x@test>"},
		{"big many", big.String(), "0000000000000000000000000@ <29"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := grepLines(t, []byte(tt.data), tt.needle)
			want := naiveGrep([]byte(tt.data), tt.needle)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("lines %v, want %v", got, want)
			}
		})
	}
}

func FuzzGrep(f *testing.F) {
	f.Add([]byte("a\nbab\n\nb"), "b")
	f.Add([]byte("xx\nx"), "x")
	f.Fuzz(func(t *testing.T, data []byte, needle string) {
		if needle == "" || strings.Contains(needle, "\n") {
			return
		}
		got := grepLines(t, data, needle)
		want := naiveGrep(data, needle)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("lines %v, want %v", got, want)
		}
	})
}

func TestFindAndPending(t *testing.T) {
	dir := t.TempDir()
	q := Queue{Dir: dir, Site: "peer"}
	lines := "@020100000010000000000000000000000000@ <a@x>\n" +
		"                                              \n" +
		"@020100000020000000000000000000000000@ <b@x>\n" +
		"bad line with <b@x> in it\n" +
		"@020100000030000000000000000000000000@ <c@x>\n"
	for _, compress := range []bool{false, true} {
		path, err := q.Create(KindBacklog, compress, func(w io.Writer) error {
			_, err := io.WriteString(w, lines)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		hits, err := Find(path, "<b@x>")
		if err != nil || len(hits) != 1 || hits[0].Line != 3 || hits[0].Done {
			t.Errorf("compressed %v: Find <b@x>: %+v, %v", compress, hits, err)
		}
		hits, _ = Find(path, "@020100000030000000000000000000000000@")
		if len(hits) != 1 || hits[0].Line != 5 {
			t.Errorf("compressed %v: Find token: %+v", compress, hits)
		}
		var pend []int
		if err := Pending(path, func(n int, l Line) bool { pend = append(pend, n); return true }); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(pend) != "[1 3 5]" {
			t.Errorf("compressed %v: pending lines %v, want [1 3 5]", compress, pend)
		}
		if compress {
			// Record lines 1-3 as done the way send does, and look again.
			b, err := OpenBacklog(path)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				rec, err := b.Next()
				if err != nil {
					t.Fatal(err)
				}
				if rec.Err == nil {
					b.Done(rec)
				}
			}
			b.Sync()
			b.Close()
			hits, _ = Find(path, "<b@x>")
			if len(hits) != 1 || !hits[0].Done {
				t.Errorf("after progress: %+v, want done", hits)
			}
		}
		os.Remove(path)
		time.Sleep(time.Second) // the next file gets its own name second
	}
	if hits, err := Find(filepath.Join(dir, "none"), "x"); hits != nil || err != nil {
		t.Errorf("missing file: %v %v", hits, err)
	}
}
