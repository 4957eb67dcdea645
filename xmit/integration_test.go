package xmit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/nntp"
	"nxmit/spoolfmt"
)

// takeFeed moves the sender's live feed file aside as a backlog the way nntpsend does
// (rename, then ctlinnd flush so innd closes it), and returns the queue and its lines.
func takeFeed(t testing.TB, sender *innlab.Instance, site string) (batch.Queue, int) {
	t.Helper()
	q := batch.Queue{Dir: sender.Outgoing, Site: site}
	backlog := filepath.Join(q.Dir, q.Name(batch.KindBacklog, time.Now(), false))
	if err := os.Rename(q.FeedPath(), backlog); err != nil {
		t.Fatal(err)
	}
	if out, err := sender.Ctlinnd("flush", site); err != nil {
		t.Fatalf("ctlinnd flush %s: %v: %s", site, err, out)
	}
	return q, countValid(t, backlog)
}

// injectBacklog stores arts in sender and takes its feed file for site peer as a
// backlog, once every article has its line.
func injectBacklog(t testing.TB, sender *innlab.Instance, arts []innlab.Article) batch.Queue {
	t.Helper()
	if err := sender.Inject(arts); err != nil {
		t.Fatal(err)
	}
	q, lines := takeFeed(t, sender, "peer")
	if lines != len(arts) {
		t.Fatalf("feed file has %d lines, want %d", lines, len(arts))
	}
	return q
}

// realDial gives a real innd a minute for each reply: a loaded machine makes it slow.
var realDial = nntp.Config{DialTimeout: 10 * time.Second, ReplyTimeout: time.Minute}

func openStore(t testing.TB, inst *innlab.Instance) *spoolfmt.Store {
	t.Helper()
	conf, err := spoolfmt.LoadInnConf(inst.InnConf)
	if err != nil {
		t.Fatal(err)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestSendToRealINN sends 5,000 articles from a real sender innd's spool, by the tokens in
// its real feed file, to a real receiving innd, and checks the receiver's history.
func TestSendToRealINN(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	no := false
	tests := []struct {
		name      string
		method    innlab.Method
		streaming *bool
	}{
		{"timehash streaming", innlab.TimeHash, nil},
		{"cnfs streaming", innlab.CNFS, nil},
		{"timehash ihave", innlab.TimeHash, &no},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 5000
			sender, receiver := innlab.SenderReceiver(t,
				innlab.Options{Method: tt.method}, innlab.Options{Streaming: tt.streaming})
			arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: int64(100 + i), Specials: true})
			q := injectBacklog(t, sender, arts)
			warns := &warnings{}
			opt := Options{
				Queue:       q,
				Store:       openStore(t, sender),
				Addr:        receiver.Addr,
				Dial:        realDial,
				Connections: 4,
				Warn:        warns.add,
			}
			st, err := Send(context.Background(), opt)
			if err != nil {
				t.Fatalf("Send: %v (warnings %q)", err, warns.all())
			}
			t.Logf("%s", st.StatsLine("receiver"))
			t.Logf("%s", st.DetailLine("receiver"))
			s := &site{t: t, q: q}
			s.checkBalance(st, n)
			if h := opt.Store.Held(); h != 0 {
				t.Errorf("%d article descriptors still held after the pass", h)
			}
			if st.Accepted != n {
				t.Errorf("accepted %d of %d (warnings %q)", st.Accepted, n, warns.all())
			}
			mids := make([]string, n)
			for i, a := range arts {
				mids[i] = a.MessageID
			}
			missing, err := receiver.Missing(mids)
			if err != nil {
				t.Fatal(err)
			}
			if len(missing) > 0 {
				t.Errorf("%d articles not in the receiver's history, e.g. %s", len(missing), missing[0])
			}
			if files, _ := q.Backlogs(); len(files) != 0 {
				t.Errorf("backlogs left: %v", files)
			}

			// A second pass finds nothing to offer and does not even connect.
			st, err = Send(context.Background(), opt)
			if err != nil || st.Offered != 0 || st.Connections != 0 {
				t.Errorf("second pass: %v, offered %d, connections %d", err, st.Offered, st.Connections)
			}

			// Offering the same batch again: the receiver refuses every article (it has
			// them), and the counts still add up.
			again := filepath.Join(q.Dir, q.Name(batch.KindBacklog, time.Now().Add(time.Hour), false))
			var buf []byte
			for _, a := range arts[:200] {
				tok := tokenOf(t, sender, a.MessageID)
				buf = fmt.Appendf(buf, "%s %s\n", tok, a.MessageID)
			}
			if err := os.WriteFile(again, buf, 0o644); err != nil {
				t.Fatal(err)
			}
			opt.Stream.Mode = nntp.AlwaysCheck
			st, err = Send(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			s.checkBalance(st, 200)
			if h := opt.Store.Held(); h != 0 {
				t.Errorf("%d article descriptors still held after the refused pass", h)
			}
			if st.Refused+st.Rejected != 200 {
				t.Errorf("re-offer: refused %d, rejected %d, want 200 together", st.Refused, st.Rejected)
			}
		})
	}
}

func tokenOf(t *testing.T, inst *innlab.Instance, mid string) string {
	t.Helper()
	out, err := inst.Command("grephistory", mid).Output()
	if err != nil {
		t.Fatalf("grephistory %s: %v", mid, err)
	}
	return string(out[:len(out)-1])
}
