package xmit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"nxmit/internal/innlab"

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

// BenchmarkSendfileSpools sends the large articles of a real innd's CNFS and timecaf
// spools (24 of about 256 KB and 8 of about 1 MB) to an in-process sink over one plain
// TCP connection, from the buffer or CAF file with sendfile, and through the copy (a
// rate limit too high to wait, which turns sendfile off): the process's CPU per MB
// sent (docs/BENCHMARKS.md). The sink's CPU, the same for both, is counted too.
func BenchmarkSendfileSpools(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("no sendfile here")
	}
	for _, method := range []innlab.Method{innlab.CNFS, innlab.TimeCAF} {
		sender := innlab.StartT(b, innlab.Options{Method: method, CNFSSizeKB: 64 * 1024, Feeds: []string{innlab.PeerFeed}})
		arts := innlab.Generate(innlab.GenOptions{Count: 24, Seed: 1411, Size: 256 << 10})
		arts = append(arts, innlab.Generate(innlab.GenOptions{Count: 8, Seed: 1412, Size: 1 << 20})...)
		if err := sender.Inject(arts); err != nil {
			b.Fatal(err)
		}
		q, n := takeFeed(b, sender, "peer")
		backlogs, err := filepath.Glob(filepath.Join(q.Dir, q.Site+".*")) // the backlog takeFeed made
		if err != nil || len(backlogs) != 1 {
			b.Fatalf("backlogs %q, %v", backlogs, err)
		}
		lines, err := os.ReadFile(backlogs[0])
		if err != nil {
			b.Fatal(err)
		}
		store := openStore(b, sender)
		srv, err := nntptest.Start("127.0.0.1:0", nntptest.Script{CountOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		for _, fast := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/sendfile=%v", method, fast), func(b *testing.B) {
				opt := Options{Queue: q, Store: store, Addr: srv.Addr, Connections: 1,
					Dial:   nntp.Config{DialTimeout: 5 * time.Second, ReplyTimeout: time.Minute},
					Stream: nntp.StreamConfig{Mode: nntp.NeverCheck}}
				if !fast {
					opt.Dial.Limiter = nntp.NewRateLimiter(1 << 50)
				}
				var cpu time.Duration
				var bytes int64
				for b.Loop() {
					if err := os.WriteFile(backlogs[0], lines, 0o644); err != nil {
						b.Fatal(err)
					}
					before, sent := cpuTime(), nntp.SentFromFiles()
					st, err := Send(context.Background(), opt)
					cpu += cpuTime() - before
					if err != nil || st.Accepted != int64(n) {
						b.Fatalf("Send: %+v, %v", st, err)
					}
					if got := nntp.SentFromFiles() - sent; fast != (got == int64(n)) {
						b.Fatalf("%d of %d articles sent from the spool's files (sendfile %v)", got, n, fast)
					}
					bytes += st.AcceptedBytes
				}
				b.ReportMetric(cpu.Seconds()*1e3/(float64(bytes)/(1<<20)), "cpu-ms/MB")
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
