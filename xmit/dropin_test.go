package xmit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// dropIn writes a backlog by hand, as an administrator would, with the given mtime.
func (s *site) dropIn(name, content string, mtime time.Time) string {
	s.t.Helper()
	p := filepath.Join(s.q.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// A backlog dropped in by hand whose last line is cut and that was modified within the
// minute is still being written: the pass leaves it whole for the next one. Older, the
// cut line is malformed and quarantined with the rest of the file sent.
func TestSendDroppedInBacklog(t *testing.T) {
	for _, fresh := range []bool{true, false} {
		t.Run(fmt.Sprintf("fresh=%v", fresh), func(t *testing.T) {
			s := newSite(t, 20)
			mtime := time.Now().Add(-2 * time.Minute)
			if fresh {
				mtime = time.Now().Add(-5 * time.Second)
			}
			content := "a1 <1.xmit@test>\na2 <2.xmit@test>\na3 <3.xm"
			p := s.dropIn("peer.B.hand", content, mtime)
			srv := nntptest.NewServer(t, nntptest.Script{Dedupe: true})
			st, err := Send(context.Background(), s.options(srv.Addr))
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(p)
			if fresh {
				if err != nil || string(data) != content {
					t.Fatalf("the file being written was touched: %q, %v", data, err)
				}
				if st.Queued != 2 {
					t.Errorf("Queued = %d, want its 2 complete lines", st.Queued)
				}
				if w := strings.Join(s.warns.all(), "\n"); !strings.Contains(w, "peer.B.hand: last line incomplete") {
					t.Errorf("warnings %q", w)
				}
				return
			}
			if err == nil {
				t.Errorf("an old backlog with a cut last line stayed: %q", data)
			}
			bad, _ := os.ReadFile(s.q.BadPath())
			if !strings.Contains(string(bad), "peer.B.hand:3\t") || !strings.HasSuffix(string(bad), "\ta3 <3.xm\n") {
				t.Errorf("S.bad = %q, want the cut line with FILE:LINE", bad)
			}
			// Its two complete lines duplicate the site's first backlog: offered once.
			if st.Duplicates != 2 || st.Accepted != 20 {
				t.Errorf("accepted %d duplicates %d, want 20 and 2", st.Accepted, st.Duplicates)
			}
		})
	}
}

// Bad lines of a pass: a Message-ID with a space is malformed with FILE:LINE (not
// blanked as missing without a word); a path naming no file is missing; the same
// article twice in one pass, in any line form, is offered once.
func TestSendBadAndRepeatedLines(t *testing.T) {
	s := newSite(t, 10,
		"a3 <x y@test>",           // line 11: a space in the Message-ID
		"no/such/file <n@test>",   // line 12: the path names no file
		"no/such/file2",           // line 13: the same, without Message-ID
		"a4 <4.xmit@test>",        // line 14: again
		"a5",                      // line 15: again, path only
		"a1 <1.xmit@test>",        // line 16: again
		"elsewhere <2.xmit@test>", // line 17: same Message-ID, another path
	)
	a := newAnswers()
	srv := nntptest.NewServer(t, nntptest.Script{Decide: a.decide(func(nntptest.Stage, string) int { return 0 })})
	st, err := Send(context.Background(), s.options(srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	a.noneTwice(t)
	if st.Accepted != 10 || st.Malformed != 1 || st.Missing != 2 || st.Duplicates != 4 {
		t.Errorf("%+v: want 10 accepted, 1 malformed, 2 missing, 4 duplicates", st)
	}
	if st.Offered != 10 {
		t.Errorf("offered %d, want 10", st.Offered)
	}
	w := strings.Join(s.warns.all(), "\n")
	if !strings.Contains(w, ":11: Message-ID \"<x y@test>\" contains a space") {
		t.Errorf("warnings %q, want the space reported with FILE:LINE", w)
	}
	s.checkBalance(st, 16)
}
