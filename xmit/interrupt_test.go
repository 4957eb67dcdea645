package xmit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// A stopped pass (SIGTERM: the caller's context; --max-time; --max-articles) stops
// offering, waits at most the grace for the answers in flight, and says exactly what it
// left: Queued is every line still in the backlogs, read or not, and Offered counts only
// the offers answered for good. A signal makes it an InterruptedError (exit 75); the
// bounds end it normally.
func TestSendStopped(t *testing.T) {
	const n = 800
	tests := []struct {
		name        string
		delay       time.Duration
		limit       func(*Options)
		cancelAfter time.Duration
		interrupted bool
	}{
		{name: "SIGTERM", delay: 150 * time.Millisecond, cancelAfter: 700 * time.Millisecond, interrupted: true},
		{name: "max-time", delay: 150 * time.Millisecond, limit: func(o *Options) { o.MaxTime = 700 * time.Millisecond }},
		{name: "max-articles", delay: time.Millisecond, limit: func(o *Options) { o.MaxArticles = 150 }},
	}
	for _, tt := range tests {
		for _, ihave := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ihave=%v", tt.name, ihave), func(t *testing.T) {
				// Two backlogs, so that one is never opened.
				s := newSite(t, n)
				if _, err := s.q.Create(batch.KindBacklog, false, func(w io.Writer) error {
					_, err := io.WriteString(w, "a1 <second.1@test>\na2 <second.2@test>\n")
					return err
				}); err != nil {
					t.Fatal(err)
				}
				// Answers come late after their command: much is in flight at the stop.
				srv := nntptest.NewServer(t, nntptest.Script{Delay: tt.delay, NoStream: ihave})
				opt := s.options(srv.Addr)
				opt.Stream.Mode = nntp.NeverCheck
				opt.Stream.Grace = 0 // the default
				if tt.limit != nil {
					tt.limit(&opt)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var stopped time.Time
				if tt.cancelAfter > 0 {
					time.AfterFunc(tt.cancelAfter, func() { stopped = time.Now(); cancel() })
				}
				st, err := Send(ctx, opt)
				var ie *InterruptedError
				if tt.interrupted {
					if !errors.As(err, &ie) || !ie.Temporary() {
						t.Fatalf("Send: %v, want an InterruptedError, temporary", err)
					}
					// The grace is 1 s; an init script or su -c kills after about 2 s.
					if d := time.Since(stopped); d > 1900*time.Millisecond {
						t.Errorf("the stop took %v, want about the 1 s grace at most", d)
					} else {
						t.Logf("the stop took %v", d)
					}
					if !strings.Contains(err.Error(), fmt.Sprintf("%d lines still queued", st.Queued)) {
						t.Errorf("error %q does not say how many lines are queued", err)
					}
				} else if err != nil {
					t.Fatalf("a bounded pass is a normal pass: %v", err)
				}
				s.checkBalance(st, n+2)
				backlog, _ := s.queued()
				if st.Queued != int64(backlog) || backlog == 0 {
					t.Errorf("Queued = %d, but %d lines are still queued (%+v)", st.Queued, backlog, st)
				}
				t.Logf("queued %d, offered %d, accepted %d, unsent %d", st.Queued, st.Offered, st.Accepted, st.Unsent)
				if answered := st.Accepted + st.Refused + st.Rejected + st.Deferred; st.Offered != answered {
					t.Errorf("Offered = %d, want the %d answered", st.Offered, answered)
				}
				if !strings.Contains(st.DetailLine("peer"), fmt.Sprintf(" queued %d ", backlog)) {
					t.Errorf("detail line %q, want queued %d", st.DetailLine("peer"), backlog)
				}
			})
		}
	}
}

// Rest and CountQueued count exactly what a later pass would offer, compressed or not.
func TestSendQueuedCountCompressed(t *testing.T) {
	const n = 500
	s := newSite(t, 0)
	var lines strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&lines, "a%d <%d.z@test>\n", i, i)
	}
	path, err := s.q.Create(batch.KindBacklog, true, func(w io.Writer) error {
		_, err := io.WriteString(w, lines.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := batch.CountQueued(path); err != nil || c != n {
		t.Fatalf("CountQueued = %d, %v; want %d", c, err, n)
	}
	b, err := batch.OpenBacklog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < 120; i++ {
		rec, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			b.Done(rec)
		}
	}
	if c, err := b.Rest(); err != nil || c != n-120 {
		t.Fatalf("Rest = %d, %v; want %d", c, err, n-120)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The checkpoint: 60 done, so 440 left.
	if c, err := batch.CountQueued(path); err != nil || c != n-60 {
		t.Fatalf("CountQueued after a checkpoint = %d, %v; want %d", c, err, n-60)
	}
}
