package xmit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
	"nxmit/spoolfmt"
)

// site is a queue with articles stored as files under a scratch patharticles, so the send
// pass runs without INN (the real-INN tests are in integration_test.go).
type site struct {
	t     testing.TB
	q     batch.Queue
	store *spoolfmt.Store
	mids  []string
	warns *warnings
}

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }
func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

// newSite writes n articles and one backlog "peer.B.<hex>" listing them as "path <mid>".
// extra lines are appended to the backlog verbatim.
func newSite(t testing.TB, n int, extra ...string) *site {
	t.Helper()
	dir := t.TempDir()
	arts := filepath.Join(dir, "articles")
	out := filepath.Join(dir, "outgoing")
	for _, d := range []string{arts, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf, err := spoolfmt.ParseInnConf(strings.NewReader(
		"pathnews: "+dir+"\npatharticles: "+arts+"\npathoutgoing: "+out+"\n"), "test inn.conf")
	if err != nil {
		t.Fatal(err)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := &site{t: t, q: batch.Queue{Dir: out, Site: "peer"}, store: store, warns: &warnings{}}
	var lines strings.Builder
	for i := 0; i < n; i++ {
		mid := fmt.Sprintf("<%d.xmit@test>", i)
		body := fmt.Sprintf("Path: x!not-for-mail\nFrom: t@test\nNewsgroups: lab.test\nSubject: %d\nMessage-ID: %s\n\nline\n.dot line\n%s\n",
			i, mid, strings.Repeat("x", i%300))
		name := fmt.Sprintf("a%d", i)
		if err := os.WriteFile(filepath.Join(arts, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		s.mids = append(s.mids, mid)
		fmt.Fprintf(&lines, "%s %s\n", name, mid)
	}
	for _, l := range extra {
		lines.WriteString(l + "\n")
	}
	if lines.Len() == 0 {
		return s
	}
	if _, err := s.q.Create(batch.KindBacklog, false, func(w io.Writer) error {
		_, err := io.WriteString(w, lines.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *site) options(addr string) Options {
	return Options{
		Queue:       s.q,
		Store:       s.store,
		Addr:        addr,
		Dial:        nntp.Config{DialTimeout: 5 * time.Second, ReplyTimeout: 5 * time.Second},
		Connections: 3,
		Stream:      nntp.StreamConfig{Window: 16, Grace: time.Second},
		Backoff:     10 * time.Millisecond,
		Warn:        s.warns.add,
	}
}

// queued counts the lines still queued for the site: non-blank lines of its backlogs, and
// the lines of its deferral files.
func (s *site) queued() (backlog, deferred int) {
	s.t.Helper()
	files, err := s.q.Backlogs()
	if err != nil {
		s.t.Fatal(err)
	}
	for _, f := range files {
		backlog += countValid(s.t, f.Path)
	}
	defs, err := s.q.Deferrals()
	if err != nil {
		s.t.Fatal(err)
	}
	for _, f := range defs {
		deferred += countLines(s.t, f.Path, false)
	}
	if _, err := os.Stat(s.q.DeferPath()); err == nil {
		s.t.Errorf("%s left behind", s.q.DeferPath())
	}
	return backlog, deferred
}

// countValid counts the lines of a backlog that are still to send (not blank, not malformed).
func countValid(t testing.TB, path string) int {
	t.Helper()
	b, err := batch.OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	for {
		rec, err := b.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Err == nil {
			n++
		}
	}
}

func countLines(t testing.TB, path string, skipBlank bool) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if skipBlank && strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		n++
	}
	return n
}

// checkBalance asserts the invariant of every pass over valid lines: each is accepted,
// refused, rejected, missing, deferred or requeued (both then in a deferral file), or
// still queued in a backlog.
func (s *site) checkBalance(st Stats, valid int) {
	s.t.Helper()
	backlog, deferred := s.queued()
	if got := st.Done() + int64(backlog); got != int64(valid) {
		s.t.Errorf("accounted %d lines (done %d, still queued %d), want %d: %+v",
			got, st.Done(), backlog, valid, st)
	}
	if int64(deferred) != st.Deferred+st.Requeued {
		s.t.Errorf("deferral files hold %d lines, stats say deferred %d + requeued %d", deferred, st.Deferred, st.Requeued)
	}
	if int64(backlog) < st.Unsent {
		s.t.Errorf("backlogs hold %d lines, fewer than the %d unsent", backlog, st.Unsent)
	}
}

func TestSendOutcomes(t *testing.T) {
	decide := func(stage nntptest.Stage, mid string) int {
		var n int
		fmt.Sscanf(mid, "<%d.", &n)
		switch {
		case n%10 == 1 && (stage == nntptest.Check || stage == nntptest.IHave):
			return map[nntptest.Stage]int{nntptest.Check: 438, nntptest.IHave: 435}[stage]
		case n%10 == 2 && (stage == nntptest.Check || stage == nntptest.IHave):
			return map[nntptest.Stage]int{nntptest.Check: 431, nntptest.IHave: 436}[stage]
		case n%10 == 3 && (stage == nntptest.Takethis || stage == nntptest.IHaveArticle):
			return map[nntptest.Stage]int{nntptest.Takethis: 439, nntptest.IHaveArticle: 437}[stage]
		}
		return 0
	}
	tests := []struct {
		name   string
		script nntptest.Script
		check  nntp.CheckMode
		n      int
		extra  []string
		want   Stats
	}{
		{name: "sink", n: 500, want: Stats{Accepted: 500}},
		{name: "mixed answers", n: 500, check: nntp.AlwaysCheck, script: nntptest.Script{Decide: decide},
			want: Stats{Accepted: 350, Refused: 50, Deferred: 50, Rejected: 50}},
		{name: "ihave", n: 200, script: nntptest.Script{NoStream: true, Decide: decide},
			want: Stats{Accepted: 140, Refused: 20, Deferred: 20, Rejected: 20}},
		{name: "missing and malformed", n: 100,
			extra: []string{"nosuchfile <gone@test>", "a1 no-angle-brackets", "@0202AB@ <short@test>",
				"@020000000000000000000000000000000000@ <expired@test>"},
			want: Stats{Accepted: 100, Missing: 2, Malformed: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, tt.n, tt.extra...)
			srv := nntptest.NewServer(t, tt.script)
			opt := s.options(srv.Addr)
			opt.Stream.Mode = tt.check
			st, err := Send(context.Background(), opt)
			if err != nil {
				t.Fatalf("Send: %v (warnings %q)", err, s.warns.all())
			}
			got := Stats{Accepted: st.Accepted, Refused: st.Refused, Rejected: st.Rejected,
				Missing: st.Missing, Deferred: st.Deferred, Malformed: st.Malformed}
			if got != tt.want {
				t.Errorf("stats %+v, want %+v", got, tt.want)
			}
			s.checkBalance(st, tt.n+len(tt.extra)-int(tt.want.Malformed))
			if st.Accepted > 0 && st.AcceptedBytes == 0 {
				t.Error("accsize is 0")
			}
			// The accepted articles arrived in wire format, byte for byte.
			for i, mid := range s.mids {
				if decide(nntptest.Check, mid) != 0 || decide(nntptest.Takethis, mid) != 0 {
					continue
				}
				if tt.script.Decide == nil || i%10 > 3 {
					art, ok := srv.Article(mid)
					want, err := s.store.RetrieveFile(fmt.Sprintf("a%d", i), nil)
					if err != nil {
						t.Fatal(err)
					}
					if !ok || string(art) != string(want) {
						t.Fatalf("article %s: received %q, want %q", mid, art, want)
					}
				}
			}
		})
	}
}

func TestSendSecondRunOffersNothing(t *testing.T) {
	s := newSite(t, 50)
	srv := nntptest.NewServer(t, nntptest.Script{})
	if _, err := Send(context.Background(), s.options(srv.Addr)); err != nil {
		t.Fatal(err)
	}
	before := srv.Stats().Connections
	st, err := Send(context.Background(), s.options(srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	if st.Offered != 0 || srv.Stats().Connections != before {
		t.Errorf("second pass offered %d, connected %d times", st.Offered, srv.Stats().Connections-before)
	}
}

// Faults of the peer: each connection's failure leaves its unanswered lines queued, and
// they go out on a reconnected connection; nothing is lost or counted twice. The peer
// fails every connection, but each only after settling articles, so the pass ends with
// everything delivered however many reconnections that takes.
func TestSendPeerFaults(t *testing.T) {
	tests := []struct {
		name   string
		script nntptest.Script
	}{
		{"400 mid-stream", nntptest.Script{FailAt: 40}},
		{"disconnect mid-article", nntptest.Script{CutArticleAt: 30}},
		{"wrong message-id", nntptest.Script{WrongIDAt: 25}},
		{"garbage reply", nntptest.Script{GarbageAt: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 300
			s := newSite(t, n)
			tt.script.Dedupe = true
			srv := nntptest.NewServer(t, tt.script)
			opt := s.options(srv.Addr)
			// Every connection fails at its N-th command, after settling articles:
			// the default 3 reconnections in a row must not end the pass.
			opt.Connections = 1
			opt.Stream.Mode = nntp.NeverCheck
			st, err := Send(context.Background(), opt)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			s.checkBalance(st, n)
			if st.Accepted+st.Rejected+st.Refused != n {
				t.Errorf("accepted %d + rejected %d + refused %d, want %d", st.Accepted, st.Rejected, st.Refused, n)
			}
			if got := len(srv.Articles()); got != n {
				t.Errorf("peer has %d articles, want %d", got, n)
			}
			if len(s.warns.all()) == 0 {
				t.Error("no warning about the failed connections")
			}
		})
	}
}

// A peer that stops answering: the pass gives up after its reconnects, and every line
// that was not answered is still queued.
func TestSendStallLeavesQueued(t *testing.T) {
	const n = 200
	s := newSite(t, n)
	srv := nntptest.NewServer(t, nntptest.Script{StallAt: 50})
	opt := s.options(srv.Addr)
	opt.Dial.ReplyTimeout = 300 * time.Millisecond
	opt.Reconnects = 1
	opt.Connections = 2
	st, err := Send(context.Background(), opt)
	var inc *IncompleteError
	if !errors.As(err, &inc) || !inc.Temporary() {
		t.Fatalf("Send: %v, want an IncompleteError", err)
	}
	s.checkBalance(st, n)
	if st.Unsent == 0 {
		t.Error("nothing left queued")
	}
}

func TestSendUnreachable(t *testing.T) {
	s := newSite(t, 10)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Send(context.Background(), s.options(addr))
	var ue *UnreachableError
	if !errors.As(err, &ue) || !ue.Temporary() {
		t.Fatalf("Send: %v, want a temporary UnreachableError", err)
	}
	if b, d := s.queued(); b != 10 || d != 0 {
		t.Errorf("queue after failed connect: %d backlog lines, %d deferred; want 10, 0", b, d)
	}
	// A throttled innd greets with 400: temporary too; 502 is not.
	for code, temp := range map[int]bool{400: true, 502: false} {
		srv := nntptest.NewServer(t, nntptest.Script{Greeting: code})
		_, err := Send(context.Background(), s.options(srv.Addr))
		if !errors.As(err, &ue) || ue.Temporary() != temp {
			t.Errorf("greeting %d: %v, want temporary=%v", code, err, temp)
		}
	}
}

func TestSendLimits(t *testing.T) {
	const n = 300
	s := newSite(t, n)
	srv := nntptest.NewServer(t, nntptest.Script{})
	opt := s.options(srv.Addr)
	opt.MaxArticles = 100
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != 100 {
		t.Errorf("accepted %d, want 100", st.Accepted)
	}
	if b, _ := s.queued(); b != n-100 {
		t.Errorf("%d lines still queued, want %d", b, n-100)
	}

	// A stop (SIGTERM, --max-time) while the peer answers slowly: no new offers, the
	// answers in flight are awaited for the grace period, the rest stays queued.
	slow := nntptest.NewServer(t, nntptest.Script{Delay: 50 * time.Millisecond})
	opt = s.options(slow.Addr)
	opt.Connections = 1
	opt.Stream.Window = 4
	opt.MaxTime = 500 * time.Millisecond
	st, err = Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted == 0 || st.Accepted >= n-100 {
		t.Errorf("accepted %d in 500ms at 50ms per round trip of 4: %+v %q", st.Accepted, st, s.warns.all())
	}
	s.checkBalance(st, n-100)
}

func TestSendLocked(t *testing.T) {
	s := newSite(t, 1)
	l, err := s.q.Lock(batch.SendLock, "test holder")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	// flock locks conflict between open file descriptions, even in one process.
	_, err = Send(context.Background(), s.options("127.0.0.1:1"))
	var le *batch.LockedError
	if !errors.As(err, &le) || !le.Temporary() || !strings.Contains(err.Error(), "test holder") {
		t.Fatalf("Send with the lock held: %v", err)
	}
}

func TestSendCompressedBacklog(t *testing.T) {
	s := newSite(t, 0)
	var lines strings.Builder
	s2 := newSite(t, 120)
	// Move s2's articles under s's queue as a compressed backlog.
	files, _ := s2.q.Backlogs()
	data, err := os.ReadFile(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	lines.Write(data)
	os.Remove(files[0].Path)
	s.store = s2.store
	if _, err := s.q.Create(batch.KindBacklog, true, func(w io.Writer) error {
		_, err := io.WriteString(w, lines.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := nntptest.NewServer(t, nntptest.Script{})
	opt := s.options(srv.Addr)
	opt.MaxArticles = 70
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != 70 {
		t.Fatalf("first pass accepted %d, want 70", st.Accepted)
	}
	opt.MaxArticles = 0
	st, err = Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != 50 {
		t.Errorf("second pass accepted %d, want the remaining 50", st.Accepted)
	}
	if b, d := s.queued(); b != 0 || d != 0 {
		t.Errorf("left queued: %d, %d", b, d)
	}
	ents, _ := os.ReadDir(s.q.Dir)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left in the outgoing directory: %s", e.Name())
		}
	}
}

// A peer that defers everything (a paused innd) stops the pass early instead of moving
// the whole backlog into S.defer; what was not offered stays in the backlog.
func TestSendStopsWhenEverythingIsDeferred(t *testing.T) {
	const n = 2000
	s := newSite(t, n)
	srv := nntptest.NewServer(t, nntptest.Script{Decide: func(stage nntptest.Stage, mid string) int {
		if stage == nntptest.Check {
			return 431
		}
		return 0
	}})
	opt := s.options(srv.Addr)
	opt.Stream.Mode = nntp.AlwaysCheck
	opt.MaxDeferRun = 100
	st, err := Send(context.Background(), opt)
	var de *DeferringError
	if !errors.As(err, &de) || !de.Temporary() {
		t.Fatalf("Send: %v, want a DeferringError", err)
	}
	if st.Deferred < 100 || st.Deferred > 100+3*16+3*32 {
		t.Errorf("deferred %d, want about 100 (plus what was in flight)", st.Deferred)
	}
	s.checkBalance(st, n)
}

// A backlog of garbage is reported line by line only up to a bound, then summed up.
func TestSendMalformedWarningsBounded(t *testing.T) {
	var junk []string
	for i := 0; i < 500; i++ {
		junk = append(junk, fmt.Sprintf("junk line %d", i))
	}
	s := newSite(t, 10, junk...)
	srv := nntptest.NewServer(t, nntptest.Script{})
	st, err := Send(context.Background(), s.options(srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	if st.Malformed != 500 || st.Accepted != 10 {
		t.Errorf("malformed %d, accepted %d; want 500, 10", st.Malformed, st.Accepted)
	}
	w := s.warns.all()
	if len(w) != maxMalformedShown+1 || !strings.Contains(w[len(w)-1], "480 more malformed lines not shown (500 in all, quarantined in "+s.q.BadPath()+")") {
		t.Errorf("%d warnings, last %q", len(w), w[len(w)-1])
	}
	s.checkBalance(st, 10)
	// The backlog is gone, its malformed lines are not: S.bad has each with FILE:LINE.
	if n, err := batch.CountBad(s.q.BadPath()); err != nil || n != 500 {
		t.Errorf("S.bad holds %d lines (%v), want 500", n, err)
	}
	data, _ := os.ReadFile(s.q.BadPath())
	if first, _, _ := strings.Cut(string(data), "\n"); !strings.Contains(first, ".B.") || !strings.Contains(first, ":11\t") || !strings.HasSuffix(first, "\tjunk line 0") {
		t.Errorf("S.bad starts %q, want FILE:LINE, the reason and the line", first)
	}
}

// TestSendAuthFailure: a peer that wants credentials nxmit lacks (480), or refuses the
// ones given (481), ends the pass at once with a non-temporary AuthError: no reconnects
// (a handful of AUTHINFO or feeding commands, not one per retry), and the queue is
// untouched.
func TestSendAuthFailure(t *testing.T) {
	tests := []struct {
		name       string
		user, pass string
		noStream   bool
		code       int
	}{
		{"no credentials, streaming", "", "", false, 480},
		{"no credentials, IHAVE", "", "", true, 480},
		{"wrong password", "feeder", "wrong", false, 481},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 50
			s := newSite(t, n)
			srv := nntptest.NewServer(t, nntptest.Script{User: "feeder", Pass: "right"})
			opt := s.options(srv.Addr)
			opt.User, opt.Password, opt.NoStream = tt.user, tt.pass, tt.noStream
			opt.Connections = 2
			opt.Reconnects = 10
			opt.Backoff = 10 * time.Millisecond
			st, err := Send(context.Background(), opt)
			var ae *AuthError
			var ne *nntp.Error
			if !errors.As(err, &ae) || ae.Temporary() || !errors.As(err, &ne) || ne.Reply.Code != tt.code {
				t.Fatalf("Send: %v, want a permanent AuthError with %d", err, tt.code)
			}
			if ae.User != tt.user {
				t.Errorf("AuthError.User %q, want %q", ae.User, tt.user)
			}
			if c := srv.Stats().Connections; c > opt.Connections {
				t.Errorf("%d connections made, want at most %d (no reconnects)", c, opt.Connections)
			}
			s.checkBalance(st, n)
			if b, d := s.queued(); b != n || d != 0 {
				t.Errorf("queue: %d backlog lines, %d deferred; want %d, 0", b, d, n)
			}
		})
	}
}

// TestIsAuthFailure: which replies end a pass as an authentication problem.
func TestIsAuthFailure(t *testing.T) {
	e := func(op string, code int) error { return &nntp.Error{Op: op, Reply: nntp.Reply{Code: code}} }
	tests := []struct {
		err  error
		want bool
	}{
		{e("CHECK <a@b>", 480), true},
		{e("IHAVE <a@b>", 480), true},
		{e("MODE STREAM", 480), true},
		{e("AUTHINFO PASS", 481), true},
		{e("AUTHINFO USER", 482), true},
		{e("AUTHINFO USER", 502), true},
		{fmt.Errorf("authenticate as x: %w", e("AUTHINFO PASS", 481)), true},
		{e("AUTHINFO USER", 400), false}, // the peer is closing: temporary
		{e("greeting", 502), false},      // refused for good, but not about credentials
		{e("IHAVE <a@b>", 436), false},
		{e("CHECK <a@b>", 481), false},
		{errors.New("nntp: AUTHINFO: empty user or password"), false},
	}
	for _, tt := range tests {
		if got := isAuthFailure(tt.err); got != tt.want {
			t.Errorf("isAuthFailure(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
