package linefilter

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHashValue checks the hashfeed value against Diablo's own example (lib/hashfeed.c,
// repeated in nntp-rs's tests): MD5("<>") = 38559c871fba28d992ead51549367f83.
func TestHashValue(t *testing.T) {
	for _, tt := range []struct {
		off  int
		want uint32
	}{{0, 0x49367f83}, {1, 0x1549367f}, {6, 0x28d992ea}, {12, 0x38559c87}} {
		if got := HashValue("<>", tt.off); got != tt.want {
			t.Errorf("HashValue(<>, %d) = %#x, want %#x", tt.off, got, tt.want)
		}
	}
	// 0x49367f83 = 1228308355: mod 10 is 5, bucket 6; mod 7 is 1228308355-7*175472622=1, bucket 2.
	for _, tt := range []struct {
		expr string
		want bool
	}{
		{"6/10", true}, {"5/10", false}, {"1-6/10", true}, {"7-10/10", false}, {"2/7", true}, {"1/7,3/7", false},
		{"1/7,2/7", true}, {"2/7:0", true}, {"2/7_0", true},
		// offset 6: 0x28d992ea = 685347562, mod 4 is 2, bucket 3.
		{"3/4:6", true}, {"3/4_6", true}, {"3/4", 0x49367f83%4+1 == 3},
	} {
		h, err := ParseHashFeed(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if got := h.Match("<>"); got != tt.want {
			t.Errorf("%s matches <>: %v, want %v", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{"", "1", "0/3", "4/3", "3-2/4", "1/0", "1/3:13", "a/3", "1/3:x", "1-/3"} {
		if _, err := ParseHashFeed(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestHashSplit splits 100,000 Message-IDs with filter --hash K/N for every K: the N
// outputs are disjoint and their union is the input, for several N and offsets.
func TestHashSplit(t *testing.T) {
	var in strings.Builder
	const n = 100_000
	for i := range n {
		fmt.Fprintf(&in, "@0300%032X@ <%d.split@example.org>\n", i, i)
	}
	input := in.String()
	for _, tc := range []struct {
		n   int
		off string
	}{{3, ""}, {5, "_12"}} {
		seen := make(map[string]int, n)
		for k := 1; k <= tc.n; k++ {
			h, err := ParseHashFeed(fmt.Sprintf("%d/%d%s", k, tc.n, tc.off))
			if err != nil {
				t.Fatal(err)
			}
			f, err := New(Options{Hash: h})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := f.Filter(&out, strings.NewReader(input), "in"); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			// Each part is near n/N: MD5 spreads evenly.
			if want := n / tc.n; len(lines) < want*9/10 || len(lines) > want*11/10 {
				t.Errorf("%d/%d%s: %d lines, expected about %d", k, tc.n, tc.off, len(lines), want)
			}
			if st := f.Stats(); st.Written+st.Hash != n {
				t.Errorf("%d/%d: counts %+v", k, tc.n, st)
			}
			for _, l := range lines {
				seen[l]++
			}
		}
		if len(seen) != n {
			t.Errorf("N=%d%s: union has %d of %d lines", tc.n, tc.off, len(seen), n)
		}
		for l, c := range seen {
			if c != 1 {
				t.Fatalf("N=%d%s: %s written %d times", tc.n, tc.off, l, c)
			}
		}
	}
}

// TestShaping covers --max-crosspost, --max-hops, --min-age and --hash on lines without
// a Message-ID (read from the article).
func TestShaping(t *testing.T) {
	s := newFakeSpool()
	var lines []string
	add := func(i int, groups, path string, arrival time.Time) string {
		tok := tokAt(i, arrival)
		mid := fmt.Sprintf("<%d@shape>", i)
		a := article(mid, groups, arrival, 500)
		a = bytes.Replace(a, []byte("Path: hub!not-for-mail"), []byte("Path: "+path), 1)
		s.arts[tok] = a
		if !arrival.IsZero() {
			s.arrivals[tok] = arrival
		}
		lines = append(lines, tok+" "+mid)
		return tok
	}
	add(1, "a.b", "x!y!not-for-mail", testNow.Add(-time.Minute))           // young, 3 hops, 1 group
	add(2, "a.b,c.d,e.f", "x!not-for-mail", testNow.Add(-3*time.Hour))     // 3 groups, 2 hops
	add(3, "a.b,c.d", "a!b!c!d!e!not-for-mail", testNow.Add(-2*time.Hour)) // 6 hops
	noArrival := add(4, "a.b", "x!!y", time.Time{})                        // 2 hops (empty entry ignored), age unknown
	input := strings.Join(lines, "\n") + "\n"
	for _, tc := range []struct {
		name string
		opt  Options
		want []int
		st   func(Stats) int64
	}{
		{"crosspost 2", Options{MaxCrosspost: 2}, []int{1, 3, 4}, func(s Stats) int64 { return s.Crosspost }},
		{"hops 3", Options{MaxHops: 3}, []int{1, 2, 4}, func(s Stats) int64 { return s.Hops }},
		{"min age 1h", Options{MinAge: time.Hour}, []int{2, 3, 4}, func(s Stats) int64 { return s.Young }},
		{"min age 1h inverted", Options{MinAge: time.Hour, Invert: true}, []int{1}, func(s Stats) int64 { return s.Young }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Spool, tc.opt.Now = s, testNow
			out, warns, st := run(t, tc.opt, input)
			var want []string
			for _, i := range tc.want {
				want = append(want, lines[i-1])
			}
			if !slices.Equal(out, want) || len(warns) > 0 {
				t.Errorf("got %v (warnings %v), want %v", out, warns, want)
			}
			if got := tc.st(st); got != int64(4-len(tc.want)) && !tc.opt.Invert {
				t.Errorf("count %d, stats %+v", got, st)
			}
		})
	}
	// A line without a Message-ID takes it from the article for --hash.
	h, _ := ParseHashFeed(fmt.Sprintf("%d/2", Bucket("<4@shape>", 2, 0)))
	out, warns, _ := run(t, Options{Hash: h, Spool: s}, noArrival+"\n")
	if len(out) != 1 || len(warns) > 0 {
		t.Errorf("--hash on a token alone: %v %v", out, warns)
	}
	h, _ = ParseHashFeed(fmt.Sprintf("%d/2", 3-Bucket("<4@shape>", 2, 0)))
	if out, _, st := run(t, Options{Hash: h, Spool: s}, noArrival+"\n"); len(out) != 0 || st.Hash != 1 {
		t.Errorf("--hash other bucket on a token alone: %v %+v", out, st)
	}
	// Without a spool, such a line cannot be hashed: reported, not written.
	if out, warns, st := run(t, Options{Hash: h}, noArrival+"\n"); len(out) != 0 || len(warns) != 1 || st.Errors != 1 {
		t.Errorf("--hash without spool on a token alone: %v %v %+v", out, warns, st)
	}
}

func FuzzParseHashFeed(f *testing.F) {
	for _, s := range []string{"1/3", "2-3/4:4", "1/2,4/8", "3/4_6", "1-/3", "0/0", "4294967295/4294967295:12"} {
		f.Add(s, "<a@b>")
	}
	f.Fuzz(func(t *testing.T, expr, mid string) {
		h, err := ParseHashFeed(expr)
		if err != nil {
			return
		}
		// Every accepted entry has 1 <= start <= end <= mod and offset <= 12, so a
		// match never panics, and the union over K of K/N is everything.
		for _, e := range h.entries {
			if e.start < 1 || e.end < e.start || e.end > e.mod || e.offset > 12 {
				t.Fatalf("%q accepted with entry %+v", expr, e)
			}
			n := 0
			for k := uint32(1); k <= min(e.mod, 64); k++ {
				if Bucket(mid, e.mod, int(e.offset)) == k {
					n++
				}
			}
			if e.mod <= 64 && n != 1 {
				t.Fatalf("%s falls in %d buckets of %d", mid, n, e.mod)
			}
		}
		h.Match(mid)
	})
}
