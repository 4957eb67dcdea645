package nntp

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// benchFeeder offers n distinct ids that all share one article, so memory stays flat
// whatever b.N is.
type benchFeeder struct {
	n, next int
	art     []byte
	done    atomic.Int64
}

func (f *benchFeeder) NextOffers(dst []Offer, max int) []Offer {
	for ; max > 0 && f.next < f.n; max-- {
		dst = append(dst, Offer{MessageID: "<" + strconv.Itoa(f.next) + ".bench@nntp.example>", Ref: int64(f.next)})
		f.next++
	}
	return dst
}

func (f *benchFeeder) Article(o *Offer, buf []byte) ([]byte, error) { return f.art, nil }

func (f *benchFeeder) Done(results []Result) { f.done.Add(int64(len(results))) }

const benchArticleSize = 2048

func benchStream(b *testing.B, script nntptest.Script, cfg StreamConfig) {
	script.CountOnly = true
	c := streamClient(b, nntptest.NewServer(b, script), Config{})
	f := &benchFeeder{n: b.N, art: wireArticle("<bench@nntp.example>", 0, benchArticleSize-5)}
	b.SetBytes(int64(len(f.art)))
	b.ReportAllocs()
	b.ResetTimer()
	st, err := c.Stream(context.Background(), f, cfg)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if st.Accepted != int64(b.N) || f.done.Load() != int64(b.N) {
		b.Fatalf("accepted %d of %d", st.Accepted, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "articles/s")
}

// BenchmarkStream feeds 2 KB articles to the in-process sink over loopback.
func BenchmarkStream(b *testing.B) {
	for _, mode := range []CheckMode{Adaptive, AlwaysCheck, NeverCheck} {
		for _, w := range []int{1, 16, 128, 512} {
			b.Run(fmt.Sprintf("mode=%v/window=%d", mode, w), func(b *testing.B) {
				benchStream(b, nntptest.Script{}, StreamConfig{Window: w, Mode: mode})
			})
		}
	}
}

// BenchmarkStreamRTT50ms is BenchmarkStream with every reply 50 ms late, as over a long
// link: throughput is then about window/RTT.
func BenchmarkStreamRTT50ms(b *testing.B) {
	for _, w := range []int{16, 128, 512, 2048} {
		b.Run(fmt.Sprintf("window=%d", w), func(b *testing.B) {
			benchStream(b, nntptest.Script{Delay: 50 * time.Millisecond}, StreamConfig{Window: w})
		})
	}
}

// BenchmarkIHave is the lock-step fallback against the same sink.
func BenchmarkIHave(b *testing.B) {
	srv, err := nntptest.Start("127.0.0.1:0", nntptest.Script{CountOnly: true, NoStream: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c, err := Dial(context.Background(), srv.Addr, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	f := &benchFeeder{n: b.N, art: wireArticle("<bench@nntp.example>", 0, benchArticleSize-5)}
	b.SetBytes(int64(len(f.art)))
	b.ReportAllocs()
	b.ResetTimer()
	st, err := c.IHave(context.Background(), f)
	b.StopTimer()
	if err != nil || st.Accepted != int64(b.N) {
		b.Fatalf("IHave = %+v, %v", st, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "articles/s")
}

// BenchmarkStreamAdaptive is the default (adaptive) window against sinks answering 0,
// 10, 50 and 200 ms late: its rate against the round trip.
func BenchmarkStreamAdaptive(b *testing.B) {
	for _, d := range []time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%v", d), func(b *testing.B) {
			benchStream(b, nntptest.Script{Delay: d}, StreamConfig{})
		})
	}
}
