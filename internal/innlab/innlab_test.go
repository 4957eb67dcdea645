package innlab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAppendWire(t *testing.T) {
	tests := []struct {
		name, native, wire string
	}{
		{"empty", "", ".\r\n"},
		{"simple", "a: b\n\nbody\n", "a: b\r\n\r\nbody\r\n.\r\n"},
		{"dot lines", ".\n..\n.x\nx.\n", "..\r\n...\r\n..x\r\nx.\r\n.\r\n"},
		{"no final newline", "a\nb", "a\r\nb\r\n.\r\n"},
		{"already CRLF", "a\r\n.b\r\n", "a\r\n..b\r\n.\r\n"},
		{"8-bit", "caf\xe9 \u2713\n", "caf\xe9 \u2713\r\n.\r\n"},
		{"blank lines at end", "x\n\n\n", "x\r\n\r\n\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(WireFormat([]byte(tt.native))); got != tt.wire {
				t.Errorf("WireFormat(%q) = %q, want %q", tt.native, got, tt.wire)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	opt := GenOptions{Count: 400, Seed: 7, Specials: true}
	a, b := Generate(opt), Generate(opt)
	if len(a) != opt.Count {
		t.Fatalf("got %d articles, want %d", len(a), opt.Count)
	}
	other := Generate(GenOptions{Count: 400, Seed: 8})
	ids := map[string]bool{}
	var big, dots, eight, cross int
	for k := range a {
		if a[k].MessageID != b[k].MessageID || !bytes.Equal(a[k].Body, b[k].Body) {
			t.Fatalf("article %d differs between two runs with the same seed", k)
		}
		for _, id := range []string{a[k].MessageID, other[k].MessageID} {
			if ids[id] {
				t.Fatalf("duplicate message-id %s", id)
			}
			ids[id] = true
		}
		art := a[k].Body
		if !bytes.Contains(art, []byte("\nMessage-ID: "+a[k].MessageID+"\n")) {
			t.Errorf("article %d lacks its Message-ID header", k)
		}
		head, body, ok := bytes.Cut(art, []byte("\n\n"))
		if !ok || !bytes.HasPrefix(head, []byte("Path: injector!not-for-mail\n")) || bytes.Contains(head, []byte("peer")) {
			t.Fatalf("article %d: bad headers:\n%s", k, head)
		}
		if len(art) >= 1<<20 {
			big++
		}
		if bytes.Contains(body, []byte("\n.\n")) && bytes.Contains(body, []byte("\n..")) {
			dots++
		}
		if bytes.ContainsFunc(body, func(r rune) bool { return r >= 0x80 }) {
			eight++
		}
		if len(a[k].Newsgroups) > 1 {
			cross++
			want := "\nNewsgroups: " + strings.Join(a[k].Newsgroups, ",") + "\n"
			if !bytes.Contains(art, []byte(want)) {
				t.Errorf("article %d: Newsgroups header does not match %v", k, a[k].Newsgroups)
			}
		}
	}
	if big != 1 || dots == 0 || eight == 0 || cross == 0 {
		t.Errorf("specials: %d of >= 1 MB (want 1), %d with dot lines, %d with 8-bit bytes, %d cross-posted", big, dots, eight, cross)
	}

	// The size distribution, without building 150 MB of articles.
	mopt := GenOptions{Count: 2000, Seed: 1, Mixed: true}
	var small, medium, large int
	for n := range mopt.Count {
		switch size := articleSize(mopt, n, rand.New(rand.NewPCG(1, uint64(n)))); {
		case size < 5000:
			small++
		case size < 110_000:
			medium++
		default:
			large++
		}
	}
	if small < 1200 || medium < 350 || large < 50 || large > 200 {
		t.Errorf("mixed sizes: %d small, %d medium, %d large; want about 1400, 500, 100", small, medium, large)
	}
	for _, a := range Generate(GenOptions{Count: 40, Seed: 1, Mixed: true}) {
		if n := len(a.Body); n < 1000 || n > 2_100_000 {
			t.Errorf("mixed: article of %d bytes", n)
		}
	}
	for _, a := range Generate(GenOptions{Count: 20, Seed: 1, Size: 10_000}) {
		if n := len(a.Body); n < 9000 || n > 11_500 {
			t.Errorf("Size 10000: article of %d bytes", n)
		}
	}
}

// TestSendReceive starts real sender/receiver pairs with different storage
// methods, injects articles with every special case into the sender and
// checks what innd made of them.
func TestSendReceive(t *testing.T) {
	no := false
	tests := []struct {
		name       string
		send, recv Options
	}{
		{"timehash", Options{}, Options{}},
		{"cnfs to nostream", Options{Method: CNFS, CNFSSizeKB: 64 * 1024}, Options{Streaming: &no}},
		{"tradspool to timecaf", Options{Method: TradSpool, Overview: true}, Options{Method: TimeCAF}},
	}
	arts := Generate(GenOptions{Count: 500, Seed: 42, Specials: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sender, receiver := SenderReceiver(t, tt.send, tt.recv)
			if err := sender.Inject(arts); err != nil {
				t.Fatal(err)
			}
			lines, err := sender.FeedLines("peer")
			if err != nil {
				t.Fatal(err)
			}
			checkFeed(t, sender, lines, arts)

			missing, err := sender.Missing([]string{arts[0].MessageID, "<nonesuch@lab.test>", arts[499].MessageID, "<other@lab.test>"})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"<nonesuch@lab.test>", "<other@lab.test>"}; !slices.Equal(missing, want) {
				t.Errorf("Missing = %q, want %q", missing, want)
			}

			// Offering an article again is refused by name.
			err = sender.Inject(arts[3:4])
			var ie *InjectError
			if !errors.As(err, &ie) || len(ie.Rejected) != 1 || ie.Rejected[0].MessageID != arts[3].MessageID ||
				!strings.HasPrefix(ie.Rejected[0].Reply, "439 ") || !strings.Contains(err.Error(), arts[3].MessageID) {
				t.Errorf("re-injecting: got %v, want a 439 InjectError for %s", err, arts[3].MessageID)
			}

			if tt.recv.Streaming != nil && !*tt.recv.Streaming {
				if reply := modeStream(t, receiver.Addr); !strings.HasPrefix(reply, "501") {
					t.Errorf("MODE STREAM on a receiver without streaming: %q, want 501", reply)
				}
			}
			// Into a receiver without streaming, Inject uses IHAVE.
			if err := receiver.Inject(arts[:50]); err != nil {
				t.Fatal(err)
			}
			err = receiver.Inject(arts[49:51])
			if !errors.As(err, &ie) || len(ie.Rejected) != 1 || ie.Rejected[0].MessageID != arts[49].MessageID {
				t.Errorf("re-injecting into the receiver: got %v, want a rejection of %s", err, arts[49].MessageID)
			}
			ids := make([]string, 60)
			for k := range ids {
				ids[k] = arts[k].MessageID
			}
			missing, err = receiver.Missing(ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(missing, ids[51:]) {
				t.Errorf("receiver Missing = %q, want %q", missing, ids[51:])
			}
		})
	}
}

// checkFeed checks that the feed file lists every article once, in order,
// and that sm -R returns the injected bodies byte for byte.
func checkFeed(t *testing.T, inst *Instance, lines []string, arts []Article) {
	t.Helper()
	if len(lines) != len(arts) {
		t.Fatalf("feed file has %d lines, want %d", len(lines), len(arts))
	}
	for k, line := range lines {
		tok, mid, ok := strings.Cut(line, " ")
		if !ok || len(tok) != 38 || tok[0] != '@' || tok[37] != '@' || mid != arts[k].MessageID {
			t.Fatalf("feed line %d = %q, want a token and %s", k+1, line, arts[k].MessageID)
		}
	}
	// One of each kind: plain, dot lines, 8-bit, cross-post, layout, the big one.
	for _, k := range []int{0, 1, 3, 5, 6, BigIndex, 13, len(arts) - 1} {
		tok, _, _ := strings.Cut(lines[k], " ")
		out, err := inst.Command("sm", "-R", tok).Output()
		if err != nil {
			t.Fatalf("sm -R %s: %v", tok, err)
		}
		// innd rewrites Path and adds Xref; the body must be untouched.
		_, gotBody, ok1 := bytes.Cut(out, []byte("\r\n\r\n"))
		_, wantBody, ok2 := bytes.Cut(WireFormat(arts[k].Body), []byte("\r\n\r\n"))
		if !ok1 || !ok2 || !bytes.Equal(gotBody, wantBody) {
			t.Errorf("sm -R %s (article %d, %s): body differs from the injected one (%d vs %d bytes)", tok, k, arts[k].MessageID, len(gotBody), len(wantBody))
		}
		if !bytes.HasPrefix(out, []byte("Path: "+inst.PathHost+"!injector!not-for-mail\r\n")) {
			t.Errorf("sm -R %s: Path is not %s's: %.60q", tok, inst.PathHost, out)
		}
	}
}

// modeStream connects to addr and returns the reply to MODE STREAM.
func modeStream(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if greet, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(greet, "200") {
		t.Fatalf("greeting %q: %v", greet, err)
	}
	fmt.Fprintf(conn, "MODE STREAM\r\n")
	reply, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "QUIT\r\n")
	return strings.TrimSpace(reply)
}

// TestConcurrentStarts starts several instances at once, as parallel tests
// in several packages do, and checks that each gets its own working port and
// that Stop leaves no process and no lease behind.
func TestConcurrentStarts(t *testing.T) {
	Require(t)
	const n = 6
	insts := make([]*Instance, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir, err := TempDir()
			if err != nil {
				errs[k] = err
				return
			}
			insts[k], errs[k] = Start(dir, Options{})
		}()
	}
	wg.Wait()
	ports := map[int]bool{}
	for k, inst := range insts {
		if inst == nil {
			continue
		}
		defer os.RemoveAll(inst.Dir)
		defer inst.Stop()
		if ports[inst.Port] {
			t.Errorf("port %d handed out twice", inst.Port)
		}
		ports[inst.Port] = true
		if errs[k] == nil {
			if reply := modeStream(t, inst.Addr); !strings.HasPrefix(reply, "203") {
				t.Errorf("%s: MODE STREAM = %q", inst.Addr, reply)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	inst := insts[0]
	pid := inst.cmd.Process.Pid
	t0 := time.Now()
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %v", time.Since(t0))
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("innd %d still exists after Stop", pid)
	}
	if err := inst.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if f, err := lockFile(filepath.Join(portLockDir, fmt.Sprint(inst.Port))); err != nil {
		t.Errorf("port lease not released: %v", err)
	} else {
		f.Close()
	}
}

// TestRestart checks that Start on the directory of a stopped instance
// brings it back with its articles.
func TestRestart(t *testing.T) {
	inst := StartT(t, Options{Feeds: []string{PeerFeed}})
	arts := Generate(GenOptions{Count: 20, Seed: 5})
	if err := inst.Inject(arts); err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	again, err := Start(inst.Dir, inst.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	ids := make([]string, len(arts))
	for k, a := range arts {
		ids[k] = a.MessageID
	}
	if missing, err := again.Missing(ids); err != nil || len(missing) > 0 {
		t.Errorf("after restart, Missing = %q, %v", missing, err)
	}
	if lines, err := again.FeedLines("peer"); err != nil || len(lines) != len(arts) {
		t.Errorf("after restart, %d feed lines (%v), want %d", len(lines), err, len(arts))
	}
}

// TestPortTaken checks that an innd that cannot bind its port is reported
// as such, which makes launch retry with another port.
func TestPortTaken(t *testing.T) {
	Require(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir, err := TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	i := &Instance{Dir: dir, InnConf: dir + "/etc/inn.conf", PathRun: dir + "/run", PathDB: dir + "/db",
		PathLog: dir + "/log", PathEtc: dir + "/etc", PathHost: "taken.lab.test",
		opt: Options{Method: TimeHash, Groups: DefaultGroups}}
	if err := i.setup(); err != nil {
		t.Fatal(err)
	}
	err = i.startInnd(ln.Addr().(*net.TCPAddr).Port)
	var be *bindError
	if !errors.As(err, &be) {
		i.kill()
		t.Fatalf("innd on a taken port: %v, want a bindError", err)
	}
}

// TestStopAfterShutdown checks that an innd shut down by the test itself is
// not an error for Stop.
func TestStopAfterShutdown(t *testing.T) {
	inst := StartT(t, Options{})
	if _, err := inst.Ctlinnd("shutdown", "test"); err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(); err != nil {
		t.Errorf("Stop after ctlinnd shutdown: %v", err)
	}
}

func TestAddDomain(t *testing.T) {
	tests := []struct{ in, out string }{
		{"pathhost: x\n", "pathhost: x\ndomain: lab.test\n"},
		{"pathhost: x", "pathhost: x\ndomain: lab.test\n"},
		{"#domain:\n", "#domain:\ndomain: lab.test\n"},
		{"domain: example.org\n", "domain: example.org\n"},
		{"  domain:   example.org\n", "  domain:   example.org\n"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "inn.conf")
		if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := addDomain(path); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != tt.out {
			t.Errorf("addDomain(%q) = %q, want %q", tt.in, got, tt.out)
		}
	}
}

func TestStartErrors(t *testing.T) {
	Require(t)
	if _, err := Start(t.TempDir(), Options{Method: "nosuch"}); err == nil {
		t.Error("Start with an unknown method succeeded")
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("x", 40))
	if _, err := Start(long, Options{Method: CNFS}); err == nil || !strings.Contains(err.Error(), "63") {
		t.Errorf("Start with a long CNFS path: %v, want an error about 63 characters", err)
	}
}

// BenchmarkInjectMixed measures injecting 20,000 mixed-size articles (about
// 1.5 GB) into a fresh timehash innd.
func BenchmarkInjectMixed(b *testing.B) {
	opt := GenOptions{Count: 20_000, Seed: 1, Mixed: true}
	var size int64
	for a := range GenerateSeq(opt) {
		size += int64(len(a.Body))
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		inst := StartT(b, Options{})
		b.StartTimer()
		if err := inst.InjectSeq(GenerateSeq(opt)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		inst.Stop()
		os.RemoveAll(inst.Dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(opt.Count*b.N)/b.Elapsed().Seconds(), "articles/s")
	b.SetBytes(size)
}

// TestSweep checks that TempDir directories of dead processes are removed
// and those of live ones are kept.
func TestSweep(t *testing.T) {
	mine, err := TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(mine)
	dead, err := TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dead)
	if err := os.WriteFile(filepath.Join(dead, ownerName), []byte("999999999 12345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sweep(filepath.Dir(dead))
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory of a dead process survived the sweep: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("directory of this process was swept: %v", err)
	}
}

// TestStartInTestTempDir checks that Start works below t.TempDir(), whose
// directories are 0700 and so not traversable by news at first.
func TestStartInTestTempDir(t *testing.T) {
	Require(t)
	inst, err := Start(filepath.Join(t.TempDir(), "inst"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	if inst.PathHost != "inst.lab.test" {
		t.Errorf("PathHost = %q, want inst.lab.test", inst.PathHost)
	}
	if err := inst.Inject(Generate(GenOptions{Count: 3, Seed: 99})); err != nil {
		t.Fatal(err)
	}
}
