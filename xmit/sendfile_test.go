package xmit

import (
	"bytes"
	"context"
	"testing"

	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
	"nxmit/spoolfmt"
)

// TestSendfileToRealINN sends articles of mixed sizes from a timehash, a CNFS and a
// timecaf spool to a real innd storing them in CNFS: those of at least
// nntp.SendfileMin go from their files (a CNFS buffer, a CAF file: a range of it) with
// sendfile, and the receiver stores the bodies byte for byte.
func TestSendfileToRealINN(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	for _, method := range []innlab.Method{innlab.TimeHash, innlab.CNFS, innlab.TimeCAF} {
		t.Run(string(method), func(t *testing.T) {
			const n = 200
			sender, receiver := innlab.SenderReceiver(t,
				innlab.Options{Method: method, CNFSSizeKB: 64 * 1024}, innlab.Options{Method: innlab.CNFS, CNFSSizeKB: 64 * 1024})
			arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: 714, Mixed: true, Specials: true})
			q := injectBacklog(t, sender, arts)
			p := sendFromSpool(t, sender, q, receiver.Addr, n)
			if p.st.Accepted != n {
				t.Errorf("accepted %d of %d (warnings %q)", p.st.Accepted, n, p.warns)
			}
			recv := openStore(t, receiver)
			large := 0
			for _, a := range arts {
				want := storedArticle(t, p.store, sender, a.MessageID)
				if len(want) >= nntp.SendfileMin {
					large++
				}
				got := storedArticle(t, recv, receiver, a.MessageID)
				// innd prepends to Path and writes its own Xref: compare the bodies.
				if !bytes.Equal(body(got), body(want)) {
					t.Fatalf("%s: the receiver's body differs (%d bytes, sent %d)", a.MessageID, len(body(got)), len(body(want)))
				}
			}
			if large == 0 {
				t.Fatal("no article large enough for sendfile: the test proves nothing")
			}
			if p.fromFiles != int64(large) {
				t.Errorf("%d articles sent from their files, want the %d of at least %d bytes", p.fromFiles, large, nntp.SendfileMin)
			}
		})
	}
}

// TestSendfileSharedSpools sends the articles of a real innd's CNFS and timecaf spools,
// above and below nntp.SendfileMin, to nntptest: the peer receives each once, byte for
// byte the stored article, those of at least SendfileMin sent as ranges of the buffer
// or CAF file with sendfile, and every line is accounted for.
func TestSendfileSharedSpools(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	for _, method := range []innlab.Method{innlab.CNFS, innlab.TimeCAF} {
		t.Run(string(method), func(t *testing.T) {
			sender := innlab.StartT(t, innlab.Options{Method: method, CNFSSizeKB: 32 * 1024, Feeds: []string{innlab.PeerFeed}})
			arts := innlab.Generate(innlab.GenOptions{Count: 30, Seed: 1401, Size: 3000, Specials: true})
			arts = append(arts, innlab.Generate(innlab.GenOptions{Count: 8, Seed: 1402, Size: nntp.SendfileMin + 8000})...)
			arts = append(arts, innlab.Generate(innlab.GenOptions{Count: 4, Seed: 1403, Size: nntp.SendfileMin - 8000})...)
			n := len(arts)
			q := injectBacklog(t, sender, arts)
			srv := nntptest.NewServer(t, nntptest.Script{Dedupe: true})
			p := sendFromSpool(t, sender, q, srv.Addr, n)
			if p.st.Accepted != int64(n) || len(p.warns) != 0 {
				t.Errorf("accepted %d of %d (warnings %q)", p.st.Accepted, n, p.warns)
			}
			if ps := srv.Stats(); ps.Articles != n || ps.Refused+ps.Rejected != 0 {
				t.Errorf("the peer received %d articles, refused %d and rejected %d as duplicates; want each of the %d once",
					ps.Articles, ps.Refused, ps.Rejected, n)
			}
			large, small := 0, 0
			for _, a := range arts {
				want := storedArticle(t, p.store, sender, a.MessageID)
				if len(want) >= nntp.SendfileMin {
					large++
				} else {
					small++
				}
				if got, ok := srv.Article(a.MessageID); !ok || !bytes.Equal(got, want) {
					t.Errorf("%s: the peer received %d bytes that are not the %d stored", a.MessageID, len(got), len(want))
				}
			}
			if large < 8 || small < 30 {
				t.Fatalf("%d articles of at least %d bytes and %d below: the test proves too little", large, nntp.SendfileMin, small)
			}
			if p.fromFiles != int64(large) {
				t.Errorf("%d articles sent from their files, want the %d of at least %d bytes", p.fromFiles, large, nntp.SendfileMin)
			}
		})
	}
}

// spoolPass is what sendFromSpool's pass did.
type spoolPass struct {
	st        Stats
	store     *spoolfmt.Store // the sender's spool, as the pass read it
	warns     []string
	fromFiles int64 // articles sent from their files (sendfile)
}

// sendFromSpool runs one pass of q, queued from sender's spool, to addr on two
// connections. It fails the test unless the pass ends without error, every one of the n
// lines is accounted for, and no article descriptor or file is left held.
func sendFromSpool(t *testing.T, sender *innlab.Instance, q batch.Queue, addr string, n int) spoolPass {
	t.Helper()
	warns := &warnings{}
	opt := Options{
		Queue:       q,
		Store:       openStore(t, sender),
		Addr:        addr,
		Dial:        realDial,
		Connections: 2,
		Warn:        warns.add,
	}
	before := nntp.SentFromFiles()
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatalf("Send: %v (warnings %q)", err, warns.all())
	}
	s := &site{t: t, q: q}
	s.checkBalance(st, n)
	if h := opt.Store.Held(); h != 0 {
		t.Errorf("%d article descriptors or files still held after the pass", h)
	}
	return spoolPass{st: st, store: opt.Store, warns: warns.all(), fromFiles: nntp.SentFromFiles() - before}
}

func body(art []byte) []byte {
	if i := bytes.Index(art, []byte("\r\n\r\n")); i >= 0 {
		return art[i:]
	}
	return nil
}

// storedArticle returns the article mid as inst's spool stores it, read through store.
func storedArticle(t *testing.T, store *spoolfmt.Store, inst *innlab.Instance, mid string) []byte {
	t.Helper()
	tok, err := spoolfmt.ParseToken(tokenOf(t, inst, mid))
	if err != nil {
		t.Fatal(err)
	}
	art, err := store.Retrieve(tok, nil)
	if err != nil {
		t.Fatalf("%s in %s's spool: %v", mid, inst.Dir, err)
	}
	return art
}
