package spoolfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nxmit/internal/innlab"
)

// Tests against spools that a real innd wrote (internal/innlab).

var labMethods = []innlab.Method{innlab.TimeHash, innlab.TradSpool, innlab.CNFS, innlab.TimeCAF}

// labSpool is a running innd whose spool holds injected articles.
type labSpool struct {
	inst  *innlab.Instance
	store *Store
	toks  []Token
	mids  []string
	bytes int64 // total wire size of toks' articles
}

// newLabSpool starts innd with method, injects arts and collects the
// "token message-id" lines of its peer feed.
func newLabSpool(t testing.TB, opt innlab.Options, arts []innlab.Article) *labSpool {
	t.Helper()
	opt.Feeds = append(opt.Feeds, innlab.PeerFeed)
	inst := innlab.StartT(t, opt)
	if err := inst.Inject(arts); err != nil {
		t.Fatalf("inject: %v", err)
	}
	lines, err := inst.FeedLines("peer")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != len(arts) {
		t.Fatalf("%d feed lines for %d articles", len(lines), len(arts))
	}
	ls := &labSpool{inst: inst, store: openTestStore(t, inst.InnConf)}
	for _, l := range lines {
		f := strings.Fields(l)
		tok, err := ParseToken(f[0])
		if err != nil || len(f) != 2 {
			t.Fatalf("feed line %q: %v", l, err)
		}
		ls.toks = append(ls.toks, tok)
		ls.mids = append(ls.mids, f[1])
	}
	// innd's header of a CNFS buffer lags the writes by up to
	// cycbuffupdate articles; a flush writes it out.
	if _, err := inst.Ctlinnd("flush", ""); err != nil {
		t.Fatal(err)
	}
	return ls
}

func (ls *labSpool) sm(args ...string) *exec.Cmd { return ls.inst.Command("sm", args...) }

// TestLabSpools: for each method, 2,000 articles (dot lines, 8-bit bytes,
// cross-posts, one over 1 MB) stored by a real innd read back exactly as
// `sm -R` prints them; cancelled ones are missing.
func TestLabSpools(t *testing.T) {
	for _, m := range labMethods {
		t.Run(string(m), func(t *testing.T) {
			arts := innlab.Generate(innlab.GenOptions{Count: 2000, Seed: 42, Specials: true})
			ls := newLabSpool(t, innlab.Options{Method: m}, arts)
			s := ls.store
			start := time.Now()
			if gone := compareWithSM(t, s, ls.sm("-R"), ls.toks); gone != 0 {
				t.Fatalf("%d articles missing", gone)
			}
			t.Logf("%d articles compared with sm -R in %v", len(ls.toks), time.Since(start).Round(time.Millisecond))
			big := 0
			for i, tok := range ls.toks {
				a, err := s.Retrieve(tok, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(a) >= 1<<20 {
					big++
					checkOpen(t, s, tok, a)
				}
				if err := CheckMessageID(a, ls.mids[i]); err != nil {
					t.Fatalf("%s: %v", tok, err)
				}
				if i%100 == 0 {
					if at, ok := s.Arrival(tok); !ok || time.Since(at) > time.Hour || time.Until(at) > time.Minute {
						t.Fatalf("Arrival(%s) = %v, %v", tok, at, ok)
					}
				}
			}
			if big == 0 {
				t.Fatal("no article of 1 MB or more in the spool")
			}
			// Cancel some: they must read as missing, for sm too.
			var cancelled []Token
			for i := 3; i < len(ls.toks); i += 97 {
				if out, err := ls.inst.Ctlinnd("cancel", ls.mids[i]); err != nil {
					t.Fatalf("ctlinnd cancel %s: %v: %s", ls.mids[i], err, out)
				}
				cancelled = append(cancelled, ls.toks[i])
			}
			if _, err := ls.inst.Ctlinnd("flush", ""); err != nil {
				t.Fatal(err)
			}
			for _, tok := range cancelled {
				if _, err := s.Retrieve(tok, nil); !errors.Is(err, ErrMissing) {
					t.Fatalf("cancelled %s: %v", tok, err)
				}
				if ok, err := s.Exists(tok); ok || err != nil {
					t.Fatalf("Exists(cancelled %s) = %v, %v", tok, ok, err)
				}
			}
			if gone := compareWithSM(t, s, ls.sm("-R"), ls.toks); gone != len(cancelled) {
				t.Fatalf("%d missing after %d cancels", gone, len(cancelled))
			}
		})
	}
}

// TestLabCNFSWrap: innd fills a 2 MiB cycbuff four times over; overwritten
// articles are missing (sm agrees), the rest read exactly, and a stale
// batch line whose block now holds another article fails the Message-ID
// check.
func TestLabCNFSWrap(t *testing.T) {
	arts := innlab.Generate(innlab.GenOptions{Count: 2000, Seed: 43, Size: 4000})
	ls := newLabSpool(t, innlab.Options{Method: innlab.CNFS, CNFSSizeKB: 2048}, arts)
	gone := compareWithSM(t, ls.store, ls.sm("-R"), ls.toks)
	if gone < len(ls.toks)/2 || gone == len(ls.toks) {
		t.Fatalf("%d of %d overwritten; expected the buffer to wrap", gone, len(ls.toks))
	}
	t.Logf("%d of %d articles overwritten", gone, len(ls.toks))
	// Pair an old line's Message-ID with the token now at that place.
	last := ls.toks[len(ls.toks)-1]
	a, err := ls.store.Retrieve(last, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckMessageID(a, ls.mids[0]); !errors.Is(err, ErrMissing) {
		t.Fatalf("wrong Message-ID: %v", err)
	}

	// Wrap again without flushing: innd's header on disk lags, yet the
	// newest 400 articles (one 4 KB block each, 1.6 MB) must all read back.
	more := innlab.Generate(innlab.GenOptions{Count: 600, Seed: 46, Size: 3000})
	if err := ls.inst.Inject(more); err != nil {
		t.Fatal(err)
	}
	lines, err := ls.inst.FeedLines("peer")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines[len(lines)-400:] {
		f := strings.Fields(l)
		tok, err := ParseToken(f[0])
		if err != nil {
			t.Fatal(err)
		}
		a, err := ls.store.Retrieve(tok, nil)
		if err == nil {
			err = CheckMessageID(a, f[1])
		}
		if err != nil {
			t.Fatalf("fresh article %s: %v", l, err)
		}
	}
}

// TestLabConcurrent reads a CNFS and a timecaf spool while innd keeps
// storing into them.
func TestLabConcurrent(t *testing.T) {
	for _, m := range []innlab.Method{innlab.CNFS, innlab.TimeCAF} {
		t.Run(string(m), func(t *testing.T) {
			arts := innlab.Generate(innlab.GenOptions{Count: 1500, Seed: 44})
			ls := newLabSpool(t, innlab.Options{Method: m, CNFSSizeKB: 64 << 10}, arts[:500])
			var wg sync.WaitGroup
			errc := make(chan error, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ls.inst.Inject(arts[500:]); err != nil {
					errc <- err
				}
			}()
			for g := 0; g < 3; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf []byte
					for round := 0; round < 5; round++ {
						for i, tok := range ls.toks {
							a, err := ls.store.Retrieve(tok, buf)
							if err == nil {
								err = CheckMessageID(a, ls.mids[i])
							}
							if err != nil {
								select {
								case errc <- fmt.Errorf("%s: %w", tok, err):
								default:
								}
								return
							}
							buf = a[:0]
						}
					}
				}()
			}
			wg.Wait()
			select {
			case err := <-errc:
				t.Fatal(err)
			default:
			}
		})
	}
}

// BenchmarkRetrieve reads a spool of 2,000 mixed-size articles (70% 1-4 KB,
// 25% 10-100 KB, 5% 0.5-2 MB) written by innd, one op being one pass over
// all tokens:
//
//   - <method>: Store.Retrieve into a reused buffer (the bytes are copied
//     into it once);
//   - <method>-sm: one `sm -R` process over the same tokens, its output to
//     /dev/null (sm maps the article and never touches its bytes);
//   - <method>-sm-pipe: the same, its output drained through a pipe, which
//     is closer to innxmit writing to a socket.
//
// Besides articles/s and MB/s it reports CPU time per article (user+system,
// of this process or of sm), which is steadier than wall time on a busy
// machine.
func BenchmarkRetrieve(b *testing.B) {
	arts := innlab.Generate(innlab.GenOptions{Count: 2000, Seed: 45, Mixed: true})
	for _, m := range labMethods {
		ls := newLabSpool(b, innlab.Options{Method: m}, arts)
		var buf []byte
		for _, tok := range ls.toks {
			a, err := ls.store.Retrieve(tok, buf)
			if err != nil {
				b.Fatal(err)
			}
			ls.bytes += int64(len(a))
			buf = a[:0]
		}
		report := func(b *testing.B, cpu time.Duration) {
			n := float64(b.N * len(ls.toks))
			b.ReportMetric(n/b.Elapsed().Seconds(), "articles/s")
			b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/article")
		}
		b.Run(string(m), func(b *testing.B) {
			b.SetBytes(ls.bytes)
			var buf []byte
			before := cpuTime()
			for b.Loop() {
				for _, tok := range ls.toks {
					a, err := ls.store.Retrieve(tok, buf)
					if err != nil {
						b.Fatal(err)
					}
					buf = a[:0]
				}
			}
			report(b, cpuTime()-before)
		})
		var in bytes.Buffer
		for _, tok := range ls.toks {
			in.WriteString(tok.String() + "\n")
		}
		for _, pipe := range []bool{false, true} {
			name := string(m) + "-sm"
			if pipe {
				name += "-pipe"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(ls.bytes)
				var cpu time.Duration
				for b.Loop() {
					cmd := ls.sm("-R")
					cmd.Stdin = bytes.NewReader(in.Bytes())
					var stderr bytes.Buffer
					cmd.Stderr = &stderr
					var n int64
					if pipe {
						out, err := cmd.StdoutPipe()
						if err != nil {
							b.Fatal(err)
						}
						if err := cmd.Start(); err != nil {
							b.Fatal(err)
						}
						n, _ = io.Copy(io.Discard, out)
					} else if err := cmd.Start(); err != nil { // stdout: /dev/null
						b.Fatal(err)
					}
					if err := cmd.Wait(); err != nil || stderr.Len() > 0 || pipe && n != ls.bytes {
						b.Fatalf("sm -R: %v, %d bytes: %.200s", err, n, stderr.Bytes())
					}
					cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				}
				report(b, cpu)
			})
		}
	}
}

// cpuTime is the user+system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
