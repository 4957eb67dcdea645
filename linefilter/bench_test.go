package linefilter

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nxmit/spoolfmt"
)

// benchInput writes a 1,000,000-line feed file (one line in ten a duplicate) into a
// temporary directory and returns its path.
func benchInput(b *testing.B, n int) string {
	p := filepath.Join(b.TempDir(), "feed")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		k := i
		if i%10 == 9 {
			k = i - 5
		}
		fmt.Fprintf(w, "%s <%d.%x@bench.example.org>\n", tokAt(k&0xffff, testNow.Add(-time.Duration(k)*time.Second)), k, k*7919)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return p
}

// BenchmarkFilter1M measures lines per second through "nxmit filter" on a
// 1,000,000-line input: de-duplication alone, and with a spool test (--max-age on
// timehash tokens, answered from the token without reading articles).
func BenchmarkFilter1M(b *testing.B) {
	const n = 1_000_000
	path := benchInput(b, n)
	info, _ := os.Stat(path)
	for _, bc := range []struct {
		name string
		opt  Options
	}{
		{"dedupe", Options{Dedupe: true}},
		{"dedupe+max-age", Options{Dedupe: true, MaxAge: 400 * time.Hour, Spool: tokenArrivals{newFakeSpool()}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(info.Size())
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				bc.opt.Now = testNow
				flt, err := New(bc.opt)
				if err != nil {
					b.Fatal(err)
				}
				if err := flt.Filter(io.Discard, f, path); err != nil {
					b.Fatal(err)
				}
				f.Close()
				if st := flt.Stats(); st.Written != 900_000 {
					b.Fatalf("stats %+v", st)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// tokenArrivals answers Arrival from the token, as spoolfmt.Store does for timehash.
type tokenArrivals struct{ *fakeSpool }

func (tokenArrivals) Arrival(tok spoolfmt.Token) (time.Time, bool) { return tok.Arrival() }
