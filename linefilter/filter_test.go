package linefilter

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/spoolfmt"
	"nxmit/wildmat"
)

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fakeSpool holds articles by token text or path.
type fakeSpool struct {
	mu       sync.Mutex
	arts     map[string][]byte
	arrivals map[string]time.Time
	broken   map[string]bool // reading fails (not missing)
	delay    bool
	reads    int
}

func newFakeSpool() *fakeSpool {
	return &fakeSpool{arts: map[string][]byte{}, arrivals: map[string]time.Time{}, broken: map[string]bool{}}
}

func (s *fakeSpool) get(key string, buf []byte) ([]byte, error) {
	if s.delay {
		time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.broken[key] {
		return nil, &fs.PathError{Op: "open", Path: key, Err: fs.ErrPermission}
	}
	a, ok := s.arts[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, spoolfmt.ErrMissing)
	}
	return append(buf[:0], a...), nil
}

func (s *fakeSpool) Retrieve(tok spoolfmt.Token, buf []byte) ([]byte, error) {
	return s.get(tok.String(), buf)
}
func (s *fakeSpool) RetrieveFile(path string, buf []byte) ([]byte, error) { return s.get(path, buf) }
func (s *fakeSpool) Exists(tok spoolfmt.Token) (bool, error) {
	_, err := s.get(tok.String(), nil)
	if errors.Is(err, spoolfmt.ErrMissing) {
		return false, nil
	}
	return err == nil, err
}
func (s *fakeSpool) Arrival(tok spoolfmt.Token) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrivals[tok.String()]
	return t, ok
}

// tokAt is a timehash token arriving at t, or a CNFS-like token (no arrival) when t is
// zero.
func tokAt(i int, t time.Time) string {
	if t.IsZero() {
		return fmt.Sprintf("@0300%032X@", i)
	}
	return fmt.Sprintf("@0200%08X%04X%020d@", uint32(t.Unix()), i, 0)
}

// article makes a wire-format article of about size bytes.
func article(mid, groups string, date time.Time, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Path: hub!not-for-mail\r\nFrom: a@example.org\r\nNewsgroups: %s\r\nSubject: test\r\nMessage-ID: %s\r\n", groups, mid)
	if !date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	}
	b.WriteString("\r\n")
	for b.Len() < size-3 {
		b.WriteString("body\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

type fixture struct {
	spool *fakeSpool
	lines []string // line i+1 of the input
}

// newFixture builds six articles:
//
//	1 timehash, comp.lang.go, 1000 bytes, arrived 1h ago
//	2 timehash, alt.binaries.x + comp.lang.go, 5000 bytes, arrived 2 days ago
//	3 missing
//	4 article path, misc.test, 2000 bytes, Date 3 days ago
//	5 token without arrival, junk, 1500 bytes, Date 1h ago
//	6 unreadable
func newFixture() *fixture {
	s := newFakeSpool()
	f := &fixture{spool: s}
	add := func(key, mid, groups string, arrival, date time.Time, size int) {
		if groups != "" {
			s.arts[key] = article(mid, groups, date, size)
		}
		if !arrival.IsZero() {
			s.arrivals[key] = arrival
		}
		if strings.HasPrefix(key, "@") {
			f.lines = append(f.lines, key+" "+mid)
		} else {
			f.lines = append(f.lines, key)
		}
	}
	add(tokAt(1, testNow.Add(-time.Hour)), "<1@x>", "comp.lang.go", testNow.Add(-time.Hour), testNow.Add(-time.Hour), 1000)
	add(tokAt(2, testNow.Add(-48*time.Hour)), "<2@x>", "alt.binaries.x, comp.lang.go", testNow.Add(-48*time.Hour), time.Time{}, 5000)
	add(tokAt(3, testNow.Add(-time.Hour)), "<3@x>", "", time.Time{}, time.Time{}, 0)
	add("news/test/4", "<4@x>", "misc.test", time.Time{}, testNow.Add(-72*time.Hour), 2000)
	add(tokAt(5, time.Time{}), "<5@x>", "junk", time.Time{}, testNow.Add(-time.Hour), 1500)
	t6 := tokAt(6, testNow)
	s.broken[t6] = true
	f.lines = append(f.lines, t6+" <6@x>")
	return f
}

func (f *fixture) input() string { return strings.Join(f.lines, "\n") + "\n" }

func run(t *testing.T, opt Options, input string) (out []string, warnings []string, st Stats) {
	t.Helper()
	opt.Warn = func(err error) { warnings = append(warnings, err.Error()) }
	if opt.Now.IsZero() {
		opt.Now = testNow
	}
	flt, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := flt.Filter(&w, strings.NewReader(input), "in"); err != nil {
		t.Fatal(err)
	}
	if s := w.String(); s != "" {
		out = strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	}
	return out, warnings, flt.Stats()
}

func TestFilterSpoolTests(t *testing.T) {
	fx := newFixture()
	g := func(e string) *wildmat.Expr { return wildmat.MustCompilePoison(e) }
	tests := []struct {
		name string
		opt  Options
		want []int // fixture line numbers written
	}{
		{"exists", Options{Exists: true}, []int{1, 2, 4, 5}},
		{"exists inverted", Options{Exists: true, Invert: true}, []int{3}},
		{"groups", Options{Groups: g("comp.*")}, []int{1, 2}},
		{"groups poison", Options{Groups: g("comp.*,@alt.binaries.*")}, []int{1}},
		{"groups negation only stops a group", Options{Groups: g("*,!alt.binaries.*")}, []int{1, 2, 4, 5}},
		{"groups all but junk", Options{Groups: g("*,!junk")}, []int{1, 2, 4}},
		{"min size", Options{MinSize: 1600}, []int{2, 4}},
		{"max size", Options{MaxSize: 1600}, []int{1, 5}},
		{"size range", Options{MinSize: 1200, MaxSize: 2500}, []int{4, 5}},
		// 1: token arrival 1h; 2: token arrival 2d; 4: path, Date 3d; 5: no arrival, Date 1h.
		{"max age", Options{MaxAge: 24 * time.Hour}, []int{1, 5}},
		{"max age inverted", Options{MaxAge: 24 * time.Hour, Invert: true}, []int{2, 3, 4}},
		{"max age long", Options{MaxAge: 100 * time.Hour}, []int{1, 2, 4, 5}},
		{"combined", Options{Exists: true, Groups: g("*,!junk"), MaxSize: 2500, MaxAge: 80 * time.Hour}, []int{1, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.Spool = fx.spool
			out, warnings, st := run(t, tt.opt, fx.input())
			var want []string
			for _, i := range tt.want {
				want = append(want, fx.lines[i-1])
			}
			if !slices.Equal(out, want) {
				t.Errorf("wrote:\n%s\nwant:\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
			}
			// Line 6 cannot be read: reported, never written, even inverted.
			if len(warnings) != 1 || !strings.Contains(warnings[0], "permission denied") || st.Errors != 1 {
				t.Errorf("warnings %q, stats %+v", warnings, st)
			}
			if st.Lines != 6 || st.Written != int64(len(want)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFilterLines(t *testing.T) {
	fx := newFixture()
	in := strings.Join([]string{
		fx.lines[0],
		"",
		strings.Repeat(" ", 20),
		fx.lines[0],        // duplicate
		fx.lines[1] + "\r", // CRLF: malformed
		"@0201 <x@y>",      // short token
		fx.lines[1],        // first good copy of line 2
		strings.Repeat("z", 40000),
		"\xff\xfe <a@b>",
		tokAt(9, testNow) + " <1@X>", // same Message-ID as line 1, domain case differs
	}, "\n") + "\n" + fx.lines[3] // last line without newline: dropped
	for _, spool := range []bool{false, true} {
		t.Run(fmt.Sprintf("spool=%v", spool), func(t *testing.T) {
			opt := Options{Dedupe: true}
			if spool {
				opt.Exists, opt.Spool, opt.Workers = true, fx.spool, 3
			}
			out, warnings, st := run(t, opt, in)
			if want := []string{fx.lines[0], fx.lines[1]}; !slices.Equal(out, want) {
				t.Errorf("wrote %q, want %q", out, want)
			}
			wantWarn := []string{"in:5:", "in:6:", "in:8:", "in:9:", "in:11:"}
			if len(warnings) != len(wantWarn) {
				t.Fatalf("warnings:\n%s", strings.Join(warnings, "\n"))
			}
			for i, w := range wantWarn {
				if !strings.HasPrefix(warnings[i], w) {
					t.Errorf("warning %q, want prefix %q", warnings[i], w)
				}
			}
			// With the spool, line 10's article is missing: the tests come first, and
			// Dedupe applies to what would be written.
			dups, missing := int64(2), int64(0)
			if spool {
				dups, missing = 1, 1
			}
			if st.Lines != 11 || st.Blank != 2 || st.Malformed != 5 || st.Duplicates != dups || st.Missing != missing || st.Written != 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// Many lines through several workers come out in input order.
func TestFilterParallelOrder(t *testing.T) {
	s := newFakeSpool()
	s.delay = true
	var in strings.Builder
	var want []string
	for i := range 5000 {
		tok := tokAt(i, testNow.Add(-time.Minute))
		line := fmt.Sprintf("%s <%d@x>", tok, i)
		in.WriteString(line + "\n")
		if i%3 != 0 {
			s.arts[tok] = article(fmt.Sprintf("<%d@x>", i), "misc.test", time.Time{}, 300)
			want = append(want, line)
		}
	}
	out, _, st := run(t, Options{Exists: true, Spool: s, Workers: 16}, in.String())
	if !slices.Equal(out, want) {
		t.Fatalf("order or content differs: %d lines, want %d", len(out), len(want))
	}
	if st.Missing != 1667 {
		t.Errorf("stats %+v", st)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("broken pipe")
	}
	return len(p), nil
}

// A closed pipe downstream stops the filter with an error, without hanging.
func TestFilterWriteError(t *testing.T) {
	s := newFakeSpool()
	var in strings.Builder
	for i := range 100000 {
		tok := tokAt(i, testNow)
		s.arts[tok] = []byte("x")
		fmt.Fprintf(&in, "%s <%d@x>\n", tok, i)
	}
	for _, opt := range []Options{{}, {Exists: true, Spool: s}} {
		flt, _ := New(opt)
		err := flt.Filter(&failWriter{n: 100000}, strings.NewReader(in.String()), "in")
		if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("err = %v", err)
		}
	}
}

func TestNewChecks(t *testing.T) {
	for _, opt := range []Options{
		{Exists: true},
		{MinSize: 10, MaxSize: 5, Spool: newFakeSpool()},
		{MaxAge: -time.Second, Spool: newFakeSpool()},
	} {
		if _, err := New(opt); err == nil {
			t.Errorf("New(%+v): no error", opt)
		}
	}
}

func TestHeader(t *testing.T) {
	art := []byte("Path: x\r\nnewsgroups: a.b,\r\n\tc.d , e.f\r\nSubject: s\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nNewsgroups: body.only\r\n.\r\n")
	if g := Newsgroups(art); !slices.Equal(g, []string{"a.b", "c.d", "e.f"}) {
		t.Errorf("Newsgroups = %q", g)
	}
	native := bytes.ReplaceAll(art, []byte("\r\n"), []byte("\n"))
	if g := Newsgroups(native); !slices.Equal(g, []string{"a.b", "c.d", "e.f"}) {
		t.Errorf("native Newsgroups = %q", g)
	}
	if _, ok := Header(art, "Xref"); ok {
		t.Error("found a missing header")
	}
	if _, ok := Header([]byte("Subject: x\r\n\r\nXref: y\r\n"), "Xref"); ok {
		t.Error("read a header from the body")
	}
	if v, _ := Header([]byte("Path2: no\r\nPath: yes\r\n"), "Path"); v != "yes" {
		t.Errorf("Path = %q", v)
	}
	dates := []struct {
		v    string
		want time.Time
	}{
		{"Tue, 24 Nov 2026 12:00:00 +0000", testNow},
		{"24 Nov 2026 12:00:00 GMT", testNow},
		{"Tue, 24 Nov 2026 13:00:00 +0100 (CET)", testNow},
		{"Tuesday, 24-Nov-26 12:00:00 UTC", testNow},
		{"Tue Nov 24 12:00:00 2026", testNow},
	}
	for _, d := range dates {
		got, ok := Date([]byte("Date: " + d.v + "\r\n\r\n"))
		if !ok || !got.Equal(d.want) {
			t.Errorf("Date(%q) = %v, %v", d.v, got, ok)
		}
	}
	if _, ok := Date([]byte("Date: yesterday\r\n\r\n")); ok {
		t.Error("parsed a bad date")
	}
}

// FuzzFilter: whatever comes in, what goes out parses, is unique with Dedupe, and every
// malformed line is reported with the input's name and its line number.
func FuzzFilter(f *testing.F) {
	fx := newFixture()
	f.Add([]byte(fx.input()), false)
	f.Add([]byte(fx.input()+fx.input()), true)
	f.Add([]byte(fx.lines[0]+"\r\n\x00\n"+strings.Repeat("y", 33000)+"\n\xe9\n   \n"), true)
	f.Fuzz(func(t *testing.T, data []byte, spool bool) {
		var warnings []error
		opt := Options{Dedupe: true, Now: testNow, Warn: func(err error) { warnings = append(warnings, err) }}
		if spool {
			opt.Exists, opt.Spool, opt.Workers = true, fx.spool, 2
		}
		flt, err := New(opt)
		if err != nil {
			t.Fatal(err)
		}
		var w bytes.Buffer
		if err := flt.Filter(&w, bytes.NewReader(data), "fuzz"); err != nil {
			return // a corrupt compressed stream
		}
		st := flt.Stats()
		seen := batch.NewIDSet()
		out := bytes.Split(w.Bytes(), []byte("\n"))
		for _, b := range out[:len(out)-1] {
			l, err := batch.ParseLine(b)
			if err != nil {
				t.Fatalf("wrote bad line %q: %v", b, err)
			}
			if !seen.Add(l) {
				t.Fatalf("wrote %q twice", b)
			}
		}
		if int64(len(out)-1) != st.Written {
			t.Fatalf("wrote %d lines, counted %d", len(out)-1, st.Written)
		}
		if int64(len(warnings)) != st.Malformed+st.Errors {
			t.Fatalf("%d warnings for %+v", len(warnings), st)
		}
		for _, e := range warnings {
			var le *batch.LineError
			if errors.As(e, &le) && (le.File != "fuzz" || le.Line < 1 || int64(le.Line) > st.Lines) {
				t.Fatalf("warning %q: bad file:line", e)
			}
		}
	})
}
