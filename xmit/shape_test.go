package xmit

import (
	"context"
	"slices"
	"testing"
	"time"

	"nxmit/internal/innlab"
	"nxmit/linefilter"
)

// TestSendDelayedFeed sends a backlog of articles that arrived 3 s apart in two groups
// to a real innd with a site delay of 2 s: the first pass sends the older group and
// nothing of the younger, which stays queued; a pass after the delay sends the rest.
// Nothing is lost or offered twice.
func TestSendDelayedFeed(t *testing.T) {
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{}, innlab.Options{})
	old := innlab.Generate(innlab.GenOptions{Count: 40, Seed: 1701})
	young := innlab.Generate(innlab.GenOptions{Count: 40, Seed: 1702})
	if err := sender.Inject(old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := sender.Inject(young); err != nil {
		t.Fatal(err)
	}
	q, lines := takeFeed(t, sender, "peer")
	if lines != 80 {
		t.Fatalf("feed has %d lines", lines)
	}
	store := openStore(t, sender)
	shape, err := linefilter.New(linefilter.Options{MinAge: 2 * time.Second, Spool: store})
	if err != nil {
		t.Fatal(err)
	}
	warns := &warnings{}
	opt := Options{Queue: q, Store: store, Addr: receiver.Addr, Shape: shape, Warn: warns.add,
		Dial: realDial}
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatalf("first pass: %v %q", err, warns.all())
	}
	s := &site{t: t, q: q}
	s.checkBalance(st, 80)
	if st.Accepted != 40 || st.Held != 1 || st.Filtered != 0 {
		t.Fatalf("first pass: %+v", st)
	}
	// The held line and the rest of its backlog are still queued, and counted so.
	if st.Queued != 40 {
		t.Errorf("first pass: Queued = %d, want the 40 held back", st.Queued)
	}
	mids := func(arts []innlab.Article) []string {
		var m []string
		for _, a := range arts {
			m = append(m, a.MessageID)
		}
		return m
	}
	if missing, err := receiver.Missing(mids(old)); err != nil || len(missing) != 0 {
		t.Errorf("older articles not sent: %v %v", missing, err)
	}
	if missing, err := receiver.Missing(mids(young)); err != nil || len(missing) != 40 {
		t.Errorf("%d younger articles sent before their delay (%v)", 40-len(missing), err)
	}

	time.Sleep(2 * time.Second)
	shape, _ = linefilter.New(linefilter.Options{MinAge: 2 * time.Second, Spool: store}) // a new pass, a new now
	opt.Shape = shape
	st, err = Send(context.Background(), opt)
	if err != nil {
		t.Fatalf("second pass: %v %q", err, warns.all())
	}
	s.checkBalance(st, 40)
	if st.Accepted != 40 || st.Refused != 0 || st.Held != 0 {
		t.Errorf("second pass: %+v (an article offered twice is refused)", st)
	}
	if missing, err := receiver.Missing(slices.Concat(mids(old), mids(young))); err != nil || len(missing) != 0 {
		t.Errorf("lost: %v %v", missing, err)
	}
	if files, _ := q.Backlogs(); len(files) != 0 {
		t.Errorf("backlogs left: %v", files)
	}
}

// TestSendShapedFeed sends with a hashfeed and crosspost limit: the excluded articles
// are counted filtered and blanked, the others accepted, and the counts add up.
func TestSendShapedFeed(t *testing.T) {
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{}, innlab.Options{})
	arts := innlab.Generate(innlab.GenOptions{Count: 200, Seed: 1703, Specials: true})
	if err := sender.Inject(arts); err != nil {
		t.Fatal(err)
	}
	q, lines := takeFeed(t, sender, "peer")
	store := openStore(t, sender)
	h, _ := linefilter.ParseHashFeed("1-2/3")
	shape, err := linefilter.New(linefilter.Options{Hash: h, MaxCrosspost: 2, Spool: store})
	if err != nil {
		t.Fatal(err)
	}
	var want, wantOut []string
	for _, a := range arts {
		if h.Match(a.MessageID) && len(a.Newsgroups) <= 2 {
			want = append(want, a.MessageID)
		} else {
			wantOut = append(wantOut, a.MessageID)
		}
	}
	warns := &warnings{}
	opt := Options{Queue: q, Store: store, Addr: receiver.Addr, Shape: shape, Warn: warns.add,
		Dial: realDial}
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatalf("%v %q", err, warns.all())
	}
	s := &site{t: t, q: q}
	s.checkBalance(st, lines)
	if st.Accepted != int64(len(want)) || st.Filtered != int64(len(wantOut)) {
		t.Errorf("accepted %d filtered %d, want %d and %d: %+v", st.Accepted, st.Filtered, len(want), len(wantOut), st)
	}
	if missing, _ := receiver.Missing(want); len(missing) != 0 {
		t.Errorf("not sent: %v", missing)
	}
	if missing, _ := receiver.Missing(wantOut); len(missing) != len(wantOut) {
		t.Errorf("%d excluded articles were sent", len(wantOut)-len(missing))
	}
	if files, _ := q.Backlogs(); len(files) != 0 {
		t.Errorf("backlogs left: %v", files)
	}
}
