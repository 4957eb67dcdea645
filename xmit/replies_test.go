package xmit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// answers counts, per message-id, the final answers a peer gave (any code but 238 and
// 335) and the articles it accepted.
type answers struct {
	mu       sync.Mutex
	finals   map[string]int
	accepted map[string]int
}

func newAnswers() *answers {
	return &answers{finals: map[string]int{}, accepted: map[string]int{}}
}

func (a *answers) decide(d func(nntptest.Stage, string) int) func(nntptest.Stage, string) int {
	return func(st nntptest.Stage, mid string) int {
		code := d(st, mid)
		eff := code
		if eff == 0 {
			eff = map[nntptest.Stage]int{nntptest.Check: 238, nntptest.Takethis: 239, nntptest.IHave: 335, nntptest.IHaveArticle: 235}[st]
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if eff != 238 && eff != 335 {
			a.finals[mid]++
		}
		if eff == 239 || eff == 235 {
			a.accepted[mid]++
		}
		return code
	}
}

// noneTwice fails if an article was answered twice within a pass.
func (a *answers) noneTwice(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for mid, n := range a.finals {
		if n > 1 {
			t.Errorf("%s answered %d times in one pass: offered again after its answer", mid, n)
		}
	}
	a.finals = map[string]int{}
}

func midNumber(mid string) int {
	var n int
	fmt.Sscanf(mid, "<%d.", &n)
	return n
}

// A peer deferring 5 % of TAKETHIS in no-CHECK mode (innxmit's 431 "try later" to either
// command) gets every article exactly once, over two passes, with no connection dropped.
func TestSendTakethisDeferralsKeepTheConnection(t *testing.T) {
	for _, code := range []int{431, 436} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			const n = 2000
			s := newSite(t, n)
			pass := 1
			var mu sync.Mutex
			a := newAnswers()
			srv := nntptest.NewServer(t, nntptest.Script{Decide: a.decide(func(st nntptest.Stage, mid string) int {
				mu.Lock()
				defer mu.Unlock()
				if pass == 1 && st == nntptest.Takethis && midNumber(mid)%20 == 7 {
					return code
				}
				return 0
			})})
			opt := s.options(srv.Addr)
			opt.Stream.Mode = nntp.NeverCheck
			st, err := Send(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			s.checkBalance(st, n)
			a.noneTwice(t)
			if st.Deferred != n/20 || st.Accepted != n-n/20 {
				t.Errorf("accepted %d deferred %d, want %d and %d", st.Accepted, st.Deferred, n-n/20, n/20)
			}
			if got := srv.Stats().Connections; got != opt.Connections {
				t.Errorf("%d connections for %d: a deferral dropped one", got, opt.Connections)
			}
			if st.Offered != n {
				t.Errorf("offered %d, want %d (no re-offers)", st.Offered, n)
			}
			if w := s.warns.all(); len(w) != 0 {
				t.Errorf("warnings: %q", w)
			}
			// The next pass sends the deferred ones.
			mu.Lock()
			pass = 2
			mu.Unlock()
			if _, err := s.q.Requeue(batch.RequeueOptions{Now: time.Now().Add(24 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			st2, err := Send(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			a.noneTwice(t)
			if st2.Accepted != n/20 {
				t.Errorf("second pass accepted %d, want %d", st2.Accepted, n/20)
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, mid := range s.mids {
				if a.accepted[mid] != 1 {
					t.Errorf("%s accepted %d times, want exactly once", mid, a.accepted[mid])
				}
			}
		})
	}
}

// One article answered with a code outside the usual set (a 503 or 501 to TAKETHIS, a
// 436 to CHECK) settles that article only: the other 199 go in the same pass, on the
// same connections, and the administrator hears of the code once.
func TestSendOddReplySettlesOneArticle(t *testing.T) {
	tests := []struct {
		stage nntptest.Stage
		code  int
		mode  nntp.CheckMode
		want  func(Stats) int64
	}{
		{nntptest.Takethis, 503, nntp.NeverCheck, func(s Stats) int64 { return s.Rejected }},
		{nntptest.Takethis, 501, nntp.AlwaysCheck, func(s Stats) int64 { return s.Rejected }},
		{nntptest.Check, 436, nntp.AlwaysCheck, func(s Stats) int64 { return s.Deferred }},
		{nntptest.Check, 403, nntp.AlwaysCheck, func(s Stats) int64 { return s.Deferred }},
		{nntptest.Takethis, 235, nntp.NeverCheck, func(s Stats) int64 { return s.Deferred }},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d to %s", tt.code, tt.stage), func(t *testing.T) {
			const n = 200
			s := newSite(t, n)
			a := newAnswers()
			srv := nntptest.NewServer(t, nntptest.Script{Decide: a.decide(func(st nntptest.Stage, mid string) int {
				if st == tt.stage && midNumber(mid) == 77 {
					return tt.code
				}
				return 0
			})})
			opt := s.options(srv.Addr)
			opt.Stream.Mode = tt.mode
			var logged []string
			opt.LogRejected = func(l batch.Line, r nntp.Reply) { logged = append(logged, r.String()) }
			st, err := Send(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			s.checkBalance(st, n)
			a.noneTwice(t)
			if st.Accepted != n-1 || tt.want(st) != 1 {
				t.Errorf("accepted %d, want %d, and the odd one settled: %+v", st.Accepted, n-1, st)
			}
			if got := srv.Stats().Connections; got != opt.Connections {
				t.Errorf("%d connections for %d", got, opt.Connections)
			}
			w := s.warns.all()
			if len(w) != 1 || !strings.Contains(w[0], fmt.Sprint(tt.code)) || !strings.Contains(w[0], "<77.xmit@test>") || !strings.Contains(w[0], ":78:") {
				t.Errorf("warnings %q, want one naming the code, the article and its FILE:LINE", w)
			}
			if st.Rejected == 1 && len(logged) != 1 {
				t.Errorf("rejections logged: %q", logged)
			}
		})
	}
}

// Many articles answered with one unexpected code give one warning, then a count.
func TestSendOddRepliesWarnOncePerCode(t *testing.T) {
	const n = 300
	s := newSite(t, n)
	srv := nntptest.NewServer(t, nntptest.Script{Decide: func(st nntptest.Stage, mid string) int {
		if st == nntptest.Check && midNumber(mid)%10 == 3 {
			return 436
		}
		if st == nntptest.Check && midNumber(mid)%10 == 4 {
			return 502
		}
		return 0
	}})
	opt := s.options(srv.Addr)
	opt.Stream.Mode = nntp.AlwaysCheck
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	s.checkBalance(st, n)
	if st.Deferred != n/10 || st.Refused != n/10 {
		t.Errorf("deferred %d refused %d, want %d each", st.Deferred, st.Refused, n/10)
	}
	w := strings.Join(s.warns.all(), "\n")
	if c := strings.Count(w, "\n") + 1; c != 4 ||
		!strings.Contains(w, "peer answered 436 to CHECK 30 times this pass") ||
		!strings.Contains(w, "peer answered 502 to CHECK 30 times this pass") {
		t.Errorf("warnings:\n%s", w)
	}
}

// A peer that answers 5xx to everything (nntp-rs read-only: 500 to MODE STREAM and to
// IHAVE; a peer answering 502 to every offer) stops the pass with everything queued and
// one error saying what it answers; it is not temporary.
func TestSendRefusingPeerKeepsEverything(t *testing.T) {
	all := func(code int) func(nntptest.Stage, string) int {
		return func(st nntptest.Stage, mid string) int { return code }
	}
	says := func(line string) func(nntptest.Stage, int, string) string {
		return func(nntptest.Stage, int, string) string { return line }
	}
	tests := []struct {
		name    string
		script  nntptest.Script
		noCheck bool
	}{
		{"500 to MODE STREAM and IHAVE", nntptest.Script{NoStream: true, Decide: all(500)}, false},
		{"502 to every CHECK", nntptest.Script{Decide: all(502)}, false},
		{"502 to every TAKETHIS", nntptest.Script{Decide: all(502)}, true},
		// Replies as written in the sources of nntp-rs (read-only) and of a Go NNTP
		// server library (docs/RELIABILITY.md, "Reply codes").
		{"nntp-rs read-only", nntptest.Script{NoStream: true, ModeStreamReply: "500 Unknown command",
			Decide: all(500), Text: says("500 Unknown command")}, false},
		{"503 TAKETHIS unimplemented", nntptest.Script{Decide: all(503), Text: says("503 TAKETHIS unimplemented")}, true},
		{"503 IHAVE unimplemented", nntptest.Script{NoStream: true, Decide: all(503), Text: says("503 IHAVE unimplemented")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 500
			s := newSite(t, n)
			srv := nntptest.NewServer(t, tt.script)
			opt := s.options(srv.Addr)
			if tt.noCheck {
				opt.Stream.Mode = nntp.NeverCheck
			}
			st, err := Send(context.Background(), opt)
			var re *RefusingError
			if !errors.As(err, &re) || re.Temporary() {
				t.Fatalf("Send: %v, want a RefusingError, not temporary", err)
			}
			if !strings.Contains(err.Error(), "peer answers \"50") {
				t.Errorf("error %q does not say what the peer answers", err)
			}
			s.checkBalance(st, n)
			if backlog, deferred := s.queued(); backlog != n || deferred != 0 {
				t.Errorf("still queued %d in backlogs, %d deferred; want all %d in the backlog", backlog, deferred, n)
			}
			if st.Rejected+st.Refused != 0 {
				t.Errorf("rejected %d refused %d: the queue was emptied", st.Rejected, st.Refused)
			}
			if got := srv.Stats().Connections; got != opt.Connections {
				t.Errorf("%d connections: reconnected to a refusing peer", got)
			}
			if w := s.warns.all(); len(w) != 0 {
				t.Errorf("warnings %q; the error alone should say it", w)
			}
		})
	}
}

// An article the peer defers on every pass (431 to CHECK or TAKETHIS, whichever it
// gets) never holds back the others, which all go in the first pass; it stays queued
// through every send→requeue cycle, and S.deferrals counts each cycle (status shows it);
// once delivered, the next requeue forgets it.
func TestSendDeferredEveryPassIsCounted(t *testing.T) {
	const n, stuck, cycles = 60, 7, 3
	s := newSite(t, n)
	stuckMid := s.mids[stuck]
	var mu sync.Mutex
	deferring := true
	a := newAnswers()
	srv := nntptest.NewServer(t, nntptest.Script{Decide: a.decide(func(st nntptest.Stage, mid string) int {
		mu.Lock()
		defer mu.Unlock()
		if deferring && mid == stuckMid && (st == nntptest.Check || st == nntptest.Takethis) {
			return 431
		}
		return 0
	})})
	opt := s.options(srv.Addr)
	requeue := func() {
		t.Helper()
		if _, err := s.q.Requeue(batch.RequeueOptions{Now: time.Now().Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	valid := n
	for cycle := 1; cycle <= cycles; cycle++ {
		st, err := Send(context.Background(), opt)
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		s.checkBalance(st, valid)
		a.noneTwice(t)
		if st.Deferred != 1 || st.Accepted != int64(valid-1) {
			t.Errorf("cycle %d: accepted %d deferred %d, want %d and 1", cycle, st.Accepted, st.Deferred, valid-1)
		}
		valid = 1
		requeue()
		if backlog, deferred := s.queued(); backlog != 1 || deferred != 0 {
			t.Fatalf("cycle %d: after requeue %d lines in backlogs, %d in deferral files, want the stuck one in a backlog", cycle, backlog, deferred)
		}
		d, err := s.q.ReadDeferrals()
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != 1 || d[0] != (batch.DeferralCount{Key: stuckMid, Count: cycle}) {
			t.Errorf("cycle %d: S.deferrals %+v, want %s counted %d", cycle, d, stuckMid, cycle)
		}
		if r, h := d.Repeated(); cycle > 1 && (r != 1 || h != cycle) {
			t.Errorf("cycle %d: repeated %d, highest %d", cycle, r, h)
		}
	}
	a.mu.Lock()
	for i, mid := range s.mids {
		if want := 1; i == stuck {
			want = 0
			if a.accepted[mid] != want {
				t.Errorf("%s (deferred every pass) accepted %d times", mid, a.accepted[mid])
			}
		} else if a.accepted[mid] != want {
			t.Errorf("%s accepted %d times, want once", mid, a.accepted[mid])
		}
	}
	a.mu.Unlock()

	// The peer takes it at last: the count goes with it.
	mu.Lock()
	deferring = false
	mu.Unlock()
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	s.checkBalance(st, 1)
	if st.Accepted != 1 {
		t.Errorf("last pass accepted %d, want 1", st.Accepted)
	}
	requeue()
	if _, err := os.Stat(s.q.DeferralsPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("S.deferrals still there with nothing deferred queued: %v", err)
	}
}
