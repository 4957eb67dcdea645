package xmit

import (
	"context"
	"testing"

	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// BenchmarkSendDeferrals is a pass of 5,000 articles to a peer deferring 5 % of them
// (TAKETHIS without CHECK), on the disk of TMPDIR: the cost of making S.defer durable
// before the deferred lines are blanked (docs/BENCHMARKS.md).
func BenchmarkSendDeferrals(b *testing.B) {
	const n = 5000
	srv, err := nntptest.Start("127.0.0.1:0", nntptest.Script{CountOnly: true, Decide: func(st nntptest.Stage, mid string) int {
		if st == nntptest.Takethis && midNumber(mid)%20 == 7 {
			return 431
		}
		return 0
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	for b.Loop() {
		b.StopTimer()
		s := newSite(b, n)
		opt := s.options(srv.Addr)
		opt.Stream.Mode = nntp.NeverCheck
		b.StartTimer()
		st, err := Send(context.Background(), opt)
		if err != nil || st.Deferred != n/20 {
			b.Fatalf("Send: %+v, %v", st, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "art/s")
}
