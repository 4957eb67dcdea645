package nntp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// decideBy returns a Decide function answering code for the ids whose number (the N in
// "<N.test@...>") is in a set, per stage.
func decideBy(rules map[nntptest.Stage]map[int]int) func(nntptest.Stage, string) int {
	return func(st nntptest.Stage, mid string) int {
		var n int
		fmt.Sscanf(mid, "<%d.", &n)
		return rules[st][n]
	}
}

func TestStreamOutcomes(t *testing.T) {
	const n = 300
	tests := []struct {
		name    string
		window  int
		mode    CheckMode
		rules   map[nntptest.Stage]map[int]int
		missing []int
		broken  []int
		badID   []int
		want    map[Outcome]int
		checks  int64 // -1: do not check
	}{
		{name: "sink adaptive", want: map[Outcome]int{Accepted: n}, checks: -1},
		{name: "sink always check", mode: AlwaysCheck, want: map[Outcome]int{Accepted: n}, checks: n},
		{name: "sink never check", mode: NeverCheck, want: map[Outcome]int{Accepted: n}, checks: 0},
		{name: "window 1", window: 1, mode: AlwaysCheck, want: map[Outcome]int{Accepted: n}, checks: n},
		{name: "window 3", window: 3, want: map[Outcome]int{Accepted: n}, checks: -1},
		{
			name: "mixed answers", mode: AlwaysCheck,
			rules: map[nntptest.Stage]map[int]int{
				nntptest.Check:    {1: 438, 2: 431, 3: 438, 50: 431, 299: 438},
				nntptest.Takethis: {4: 439, 5: 439, 100: 439},
			},
			missing: []int{6, 7, 200},
			broken:  []int{8},
			badID:   []int{9},
			want:    map[Outcome]int{Accepted: n - 13, Refused: 3, Deferred: 2, Rejected: 3, Missing: 4, Failed: 1},
			checks:  n - 1,
		},
		{
			name: "never check with missing", mode: NeverCheck,
			rules:   map[nntptest.Stage]map[int]int{nntptest.Takethis: {4: 439}},
			missing: []int{0, 6, 299},
			broken:  []int{1},
			want:    map[Outcome]int{Accepted: n - 5, Rejected: 1, Missing: 3, Failed: 1},
			checks:  0,
		},
		{
			// innd's 501 for a CHECK it cannot parse: refused, as innxmit does.
			name: "501 to CHECK", mode: AlwaysCheck,
			rules:  map[nntptest.Stage]map[int]int{nntptest.Check: {10: 501}},
			want:   map[Outcome]int{Accepted: n - 1, Refused: 1},
			checks: n,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, nntptest.Script{Decide: decideBy(tt.rules)})
			f := newTestFeeder(t, n, 1500)
			for _, i := range tt.missing {
				f.missing[f.mids[i]] = true
			}
			for _, i := range tt.broken {
				f.broken[f.mids[i]] = true
			}
			for _, i := range tt.badID {
				f.mids[i] = "<bad id@x>"
			}
			c := streamClient(t, srv, Config{})
			st, err := c.Stream(context.Background(), f, StreamConfig{Window: tt.window, Mode: tt.mode})
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			out := f.check(st)
			if got := countOutcomes(out); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
			for _, i := range append(tt.missing, tt.broken...) {
				if _, ok := srv.Article(f.mids[i]); ok {
					t.Errorf("%s: missing or unreadable, but something was sent", f.mids[i])
				}
			}
			for _, i := range tt.missing {
				if out[f.mids[i]] != Missing {
					t.Errorf("%s: %v, want missing", f.mids[i], out[f.mids[i]])
				}
			}
			checkReceived(t, f, srv, out)
			if tt.checks >= 0 && st.Checks != tt.checks {
				t.Errorf("Checks = %d, want %d", st.Checks, tt.checks)
			}
			ss := srv.Stats()
			if int64(ss.Commands["CHECK"]) != st.Checks || int64(ss.Commands["TAKETHIS"]) != st.Takethis {
				t.Errorf("server saw %d CHECK %d TAKETHIS, client counted %d and %d",
					ss.Commands["CHECK"], ss.Commands["TAKETHIS"], st.Checks, st.Takethis)
			}
			// innxmit's offered: every CHECK plus the TAKETHIS sent without one. An
			// article found missing after its 238 gets no TAKETHIS.
			afterCheck := int64(ss.Wanted)
			if tt.mode == AlwaysCheck {
				afterCheck -= int64(len(tt.missing) + len(tt.broken))
			}
			if direct := st.Takethis - afterCheck; st.Offered != st.Checks+direct {
				t.Errorf("Offered = %d, want %d CHECK + %d direct TAKETHIS", st.Offered, st.Checks, direct)
			}
			if ss.Accepted != int(st.Accepted) || ss.Rejected != int(st.Rejected) {
				t.Errorf("server accepted %d rejected %d; client %d %d", ss.Accepted, ss.Rejected, st.Accepted, st.Rejected)
			}
			if err := c.Quit(); err != nil {
				t.Errorf("Quit: %v", err)
			}
		})
	}
}

func TestStreamEmpty(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{})
	c := streamClient(t, srv, Config{})
	f := newTestFeeder(t, 0, 0)
	st, err := c.Stream(context.Background(), f, StreamConfig{})
	if err != nil || st.Taken() != 0 || f.calls != 0 {
		t.Fatalf("Stream of nothing = %+v, %v (Done called %d times)", st, err, f.calls)
	}
	// And the client is still usable for a second feed.
	f = newTestFeeder(t, 10, 100)
	st, err = c.Stream(context.Background(), f, StreamConfig{})
	if err != nil || st.Accepted != 10 {
		t.Fatalf("second Stream = %+v, %v", st, err)
	}
	f.check(st)
}

// With a window of 1 the hysteresis can be checked to the article against innfeed's
// arithmetic: the filter crosses 95% of 50 at the 149th consecutive 239, and a run of
// 439s takes it back under 90%.
func TestStreamNoCheckHysteresis(t *testing.T) {
	const n = 400
	rejected := func(i int) bool { return i >= 300 && i < 310 }
	rules := map[nntptest.Stage]map[int]int{nntptest.Takethis: {}}
	for i := 0; i < n; i++ {
		if rejected(i) {
			rules[nntptest.Takethis][i] = 439
		}
	}
	srv := nntptest.NewServer(t, nntptest.Script{Decide: decideBy(rules)})
	f := newTestFeeder(t, n, 300)
	c := streamClient(t, srv, Config{})
	st, err := c.Stream(context.Background(), f, StreamConfig{Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.check(st)

	var want FeedStats
	filter, noCheck := 0.0, false
	for i := 0; i < n; i++ {
		if !noCheck {
			want.Checks++
		}
		if rejected(i) {
			filter *= 1 - 1/50.0
		} else {
			filter = filter*(1-1/50.0) + 1
		}
		if !noCheck && filter > 47.5 {
			noCheck = true
			want.NoCheckEntered++
		} else if noCheck && filter < 45 {
			noCheck = false
			want.NoCheckExited++
		}
	}
	if st.Checks != want.Checks || st.NoCheckEntered != want.NoCheckEntered || st.NoCheckExited != want.NoCheckExited {
		t.Errorf("checks %d entered %d exited %d; want %d %d %d",
			st.Checks, st.NoCheckEntered, st.NoCheckExited, want.Checks, want.NoCheckEntered, want.NoCheckExited)
	}
	if want.NoCheckEntered != 2 || want.NoCheckExited != 1 {
		t.Errorf("the test no longer exercises both transitions: %+v", want)
	}
	if st.Offered != n || st.Accepted != n-10 || st.Rejected != 10 {
		t.Errorf("stats %+v", st)
	}
}

func TestStreamNoCheckPipelined(t *testing.T) {
	const n = 2000
	srv := nntptest.NewServer(t, nntptest.Script{})
	f := newTestFeeder(t, n, 500)
	c := streamClient(t, srv, Config{})
	st, err := c.Stream(context.Background(), f, StreamConfig{Window: 64})
	if err != nil {
		t.Fatal(err)
	}
	out := f.check(st)
	checkReceived(t, f, srv, out)
	t.Logf("%d results in %d Done calls", n, f.calls)
	if st.NoCheckEntered != 1 || st.NoCheckExited != 0 {
		t.Errorf("entered %d exited %d", st.NoCheckEntered, st.NoCheckExited)
	}
	if st.Checks < 149 || st.Checks > 149+64 || st.Takethis != n || st.Offered != n {
		t.Errorf("stats %+v", st)
	}
}

func TestStreamFaults(t *testing.T) {
	const n = 200
	tests := []struct {
		name   string
		script nntptest.Script
		mode   CheckMode
		cfg    Config
		temp   bool
		check  func(t *testing.T, err error)
		min    int // at least this many accepted
	}{
		// The 400 comes before any TAKETHIS is answered: nothing accepted.
		{name: "400 after 50 commands", script: nntptest.Script{FailAt: 51}, temp: true,
			check: wantCode(400)},
		{name: "400 on a TAKETHIS", script: nntptest.Script{FailAt: 100}, mode: NeverCheck, temp: true, min: 99,
			check: wantCode(400)},
		{name: "480 on TAKETHIS", script: nntptest.Script{Decide: decideBy(map[nntptest.Stage]map[int]int{nntptest.Takethis: {20: 480}})},
			check: wantCode(480)},
		{name: "cut in an article", script: nntptest.Script{CutArticleAt: 150}, temp: true,
			check: wantErr[*ConnError]()},
		{name: "cut in a no-check article", script: nntptest.Script{CutArticleAt: 20}, mode: NeverCheck, temp: true,
			check: wantErr[*ConnError]()},
		{name: "wrong id", script: nntptest.Script{WrongIDAt: 30}, check: wantProto("out of order")},
		{name: "wrong id on TAKETHIS", script: nntptest.Script{WrongIDAt: 30}, mode: NeverCheck, min: 29,
			check: wantProto("out of order")},
		{name: "garbage", script: nntptest.Script{GarbageAt: 30}, check: wantProto("malformed")},
		{name: "stall", script: nntptest.Script{StallAt: 40}, cfg: Config{ReplyTimeout: 300 * time.Millisecond}, temp: true,
			check: wantTimeout},
		{name: "stall without reading", script: nntptest.Script{StopReadingAt: 1}, mode: NeverCheck,
			cfg: Config{ReplyTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}, temp: true,
			check: wantTimeout},
		{name: "streaming refused", script: nntptest.Script{NoStream: true}, check: wantErr[*RefusingError]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, tt.script)
			f := newTestFeeder(t, n, 2000)
			c := dial(t, srv, tt.cfg)
			c.ModeStream()
			start := time.Now()
			st, err := c.Stream(context.Background(), f, StreamConfig{Mode: tt.mode})
			if err == nil {
				t.Fatalf("Stream succeeded: %+v", st)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Stream took %v to fail", d)
			}
			if isTemporary(err) != tt.temp {
				t.Errorf("Temporary(%v) = %v, want %v", err, isTemporary(err), tt.temp)
			}
			tt.check(t, err)
			out := f.check(st)
			checkReceived(t, f, srv, out)
			cnt := countOutcomes(out)
			if cnt[Unsent] == 0 {
				t.Errorf("nothing Unsent after a failure: %v", cnt)
			}
			if cnt[Accepted] < tt.min {
				t.Errorf("accepted %d, want at least %d", cnt[Accepted], tt.min)
			}
			for ref, r := range f.results {
				if r.Outcome == Unsent && r.Err == nil {
					t.Errorf("offer %d Unsent without an error", ref)
					break
				}
			}
			// The client is dead and says so.
			if _, err2 := c.Stream(context.Background(), f, StreamConfig{}); err2 == nil {
				t.Error("second Stream on a failed client succeeded")
			}
		})
	}
}

func wantCode(code int) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var ne *Error
		if !errors.As(err, &ne) || ne.Reply.Code != code {
			t.Errorf("error %v; want *Error %d", err, code)
		}
	}
}

func wantProto(msg string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var pe *ProtocolError
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, msg) {
			t.Errorf("error %v; want *ProtocolError %q", err, msg)
		}
	}
}

func wantErr[E error]() func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e E
		if !errors.As(err, &e) {
			t.Errorf("error %v (%T); want %T", err, err, e)
		}
	}
}

func wantTimeout(t *testing.T, err error) {
	t.Helper()
	var ce *ConnError
	if !errors.As(err, &ce) || !ce.Timeout() {
		t.Errorf("error %v; want a timeout", err)
	}
}

// A peer that reads slowly pushes back on the writer; the reader must keep reading
// replies meanwhile, and every byte must arrive intact.
func TestStreamSlowReader(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{SlowRead: 200 * time.Microsecond})
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetWriteBuffer(8192)
	c, err := NewClient(conn, Config{ReplyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ModeStream()
	f := newTestFeeder(t, 80, 16000)
	st, err := c.Stream(context.Background(), f, StreamConfig{Window: 32})
	if err != nil {
		t.Fatal(err)
	}
	out := f.check(st)
	checkReceived(t, f, srv, out)
	if st.Accepted != 80 {
		t.Errorf("accepted %d", st.Accepted)
	}
}

// With a 50 ms round trip, the pipeline must keep many commands in flight: 1000
// articles lock-step would take 100 s.
func TestStreamRoundTrip(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{Delay: 50 * time.Millisecond})
	f := newTestFeeder(t, 1000, 1000)
	c := streamClient(t, srv, Config{})
	start := time.Now()
	st, err := c.Stream(context.Background(), f, StreamConfig{Window: 128})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	f.check(st)
	if st.Accepted != 1000 {
		t.Errorf("accepted %d", st.Accepted)
	}
	// CHECK+TAKETHIS for the first ~150 (2 RTT per window), then 128 per RTT: ~1 s.
	if d > 4*time.Second {
		t.Errorf("1000 articles at 50 ms RTT took %v", d)
	}
}

func TestStreamCancel(t *testing.T) {
	t.Run("drains within grace", func(t *testing.T) {
		srv := nntptest.NewServer(t, nntptest.Script{Delay: 20 * time.Millisecond})
		f := newTestFeeder(t, 5000, 500)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f.onTake = func(taken int) {
			if taken >= 300 {
				cancel()
			}
		}
		c := streamClient(t, srv, Config{})
		st, err := c.Stream(ctx, f, StreamConfig{Window: 64, Grace: 5 * time.Second})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Stream = %v; want context.Canceled", err)
		}
		f.check(st)
		if taken := f.taken(); taken > 300+pullBatch+64 {
			t.Errorf("%d offers taken after the stop at 300", taken)
		}
		if st.Unsent > pullBatch+64 {
			t.Errorf("%d unsent after a drain", st.Unsent)
		}
		// Every reply came in: the connection is still good.
		if ok, err := c.ModeStream(); !ok || err != nil {
			t.Fatalf("client unusable after a clean stop: %v %v", ok, err)
		}
		if err := c.Quit(); err != nil {
			t.Error(err)
		}
	})
	t.Run("grace expires", func(t *testing.T) {
		// Replies stop at the 100th command; the stop comes later.
		srv := nntptest.NewServer(t, nntptest.Script{StallAt: 100})
		f := newTestFeeder(t, 5000, 500)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		c := streamClient(t, srv, Config{})
		start := time.Now()
		st, err := c.Stream(ctx, f, StreamConfig{Window: 64, Grace: 200 * time.Millisecond, Mode: AlwaysCheck})
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("stop took %v with a 200 ms grace", d)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stream = %v; want context.DeadlineExceeded", err)
		}
		out := f.check(st)
		if cnt := countOutcomes(out); cnt[Unsent] == 0 || cnt[Accepted] == 0 {
			t.Errorf("outcomes %v", cnt)
		}
		// Offers never answered for good are not offers (innreport's %Acc): with CHECK
		// always, one offer per article that got its final answer.
		if answered := st.Accepted + st.Refused + st.Rejected + st.Deferred; st.Offered != answered {
			t.Errorf("Offered = %d, want the %d answered (%+v)", st.Offered, answered, st)
		}
		if _, err := c.ModeStream(); err == nil {
			t.Error("client still usable with replies outstanding")
		}
	})
	t.Run("writer blocked", func(t *testing.T) {
		// The peer neither reads nor answers: the stop must interrupt a blocked write.
		srv := nntptest.NewServer(t, nntptest.Script{StopReadingAt: 1})
		f := newTestFeeder(t, 2000, 20000)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		c := streamClient(t, srv, Config{})
		start := time.Now()
		st, err := c.Stream(ctx, f, StreamConfig{Mode: NeverCheck, Grace: 200 * time.Millisecond})
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("stop took %v", d)
		} else {
			t.Logf("stop took %v", d)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stream = %v", err)
		}
		out := f.check(st)
		if cnt := countOutcomes(out); cnt[Unsent] != len(out) {
			t.Errorf("outcomes %v; want all unsent", cnt)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		srv := nntptest.NewServer(t, nntptest.Script{})
		f := newTestFeeder(t, 10, 100)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c := streamClient(t, srv, Config{})
		st, err := c.Stream(ctx, f, StreamConfig{})
		if !errors.Is(err, context.Canceled) || f.taken() != 0 {
			t.Fatalf("Stream = %+v, %v; %d taken", st, err, f.taken())
		}
	})
}

// Cancelling at random points, with random faults, must never lose or repeat a result.
func TestStreamExactlyOnceStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress")
	}
	scripts := []nntptest.Script{
		{},
		{Delay: time.Millisecond},
		{FailAt: 77},
		{CutArticleAt: 60},
		{WrongIDAt: 90},
		{GarbageAt: 33},
		{StallAt: 120},
		{Decide: decideBy(map[nntptest.Stage]map[int]int{nntptest.Check: {3: 431, 9: 438}, nntptest.Takethis: {5: 439}})},
	}
	for i := 0; i < 48; i++ {
		sc := scripts[i%len(scripts)]
		mode := CheckMode(i % 3)
		cancelAt := 50 + (i*37)%300
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			srv := nntptest.NewServer(t, sc)
			f := newTestFeeder(t, 400, 700+i*50)
			f.missing[f.mids[i%50]] = true
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.onTake = func(taken int) {
				if taken >= cancelAt {
					cancel()
				}
			}
			c := streamClient(t, srv, Config{ReplyTimeout: 200 * time.Millisecond})
			st, _ := c.Stream(ctx, f, StreamConfig{Window: 1 + i*7%100, Mode: mode, Grace: 100 * time.Millisecond})
			out := f.check(st)
			checkReceived(t, f, srv, out)
		})
	}
}

// Several connections share one Feeder, as xmit runs them.
func TestStreamConnectionsShareFeeder(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{Dedupe: true})
	f := newTestFeeder(t, 3000, 800)
	type res struct {
		st  FeedStats
		err error
	}
	ch := make(chan res)
	for i := 0; i < 4; i++ {
		c := streamClient(t, srv, Config{})
		go func() {
			st, err := c.Stream(context.Background(), f, StreamConfig{Window: 16 << i})
			ch <- res{st, err}
		}()
	}
	var total FeedStats
	for i := 0; i < 4; i++ {
		r := <-ch
		if r.err != nil {
			t.Error(r.err)
		}
		total.Add(r.st)
	}
	f.overlap.Store(false) // Done may run concurrently across connections
	out := f.check(total)
	checkReceived(t, f, srv, out)
	if total.Accepted != 3000 {
		t.Errorf("accepted %d", total.Accepted)
	}
}

func TestStreamFeederOverdelivers(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{})
	f := newTestFeeder(t, 100, 100)
	f.extra = 5
	c := streamClient(t, srv, Config{})
	st, err := c.Stream(context.Background(), f, StreamConfig{Window: 8})
	if err != nil {
		t.Fatal(err)
	}
	out := f.check(st)
	if cnt := countOutcomes(out); cnt[Unsent] != 5 || cnt[Accepted] != 95 {
		t.Errorf("outcomes %v", cnt)
	}
}

// Informational 1xx replies are skipped, as innxmit does.
func TestStream1xxIgnored(t *testing.T) {
	addr := rawPeer(t, "203 ok", "100 hello\r\n238 <0.test@nntp.example>", "111 x\r\n239 <0.test@nntp.example>")
	c, err := Dial(context.Background(), addr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ModeStream()
	f := newTestFeeder(t, 1, 100)
	st, err := c.Stream(context.Background(), f, StreamConfig{Mode: AlwaysCheck})
	if err != nil || st.Accepted != 1 {
		t.Fatalf("Stream = %+v, %v", st, err)
	}
	f.check(st)
}

// An article that is not in wire format would desynchronize the stream: it is Failed
// and not sent.
func TestStreamBadArticle(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{})
	f := newTestFeeder(t, 20, 300)
	f.articles[f.mids[3]] = []byte("Subject: x\n\nno CRLF, no dot\n")
	f.articles[f.mids[4]] = nil
	c := streamClient(t, srv, Config{})
	st, err := c.Stream(context.Background(), f, StreamConfig{Mode: NeverCheck})
	if err != nil {
		t.Fatal(err)
	}
	out := f.check(st)
	if out[f.mids[3]] != Failed || out[f.mids[4]] != Failed || st.Accepted != 18 {
		t.Errorf("outcomes %v", countOutcomes(out))
	}
	if !errors.Is(f.results[3].Err, ErrBadArticle) {
		t.Errorf("error %v", f.results[3].Err)
	}
}
