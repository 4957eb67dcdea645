package nntp_test

import (
	"context"
	"fmt"
	"log"

	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// sliceFeeder feeds a fixed list of articles and prints the results.
type sliceFeeder struct {
	mids []string
	next int
}

func (f *sliceFeeder) NextOffers(dst []nntp.Offer, max int) []nntp.Offer {
	for ; max > 0 && f.next < len(f.mids); max-- {
		dst = append(dst, nntp.Offer{MessageID: f.mids[f.next], Ref: int64(f.next)})
		f.next++
	}
	return dst
}

func (f *sliceFeeder) Article(o *nntp.Offer, buf []byte) ([]byte, error) {
	if o.MessageID == "<gone@example>" {
		return nil, nntp.ErrNoArticle
	}
	return append(buf, "Message-ID: "+o.MessageID+"\r\nSubject: hello\r\n\r\nbody\r\n.\r\n"...), nil
}

func (f *sliceFeeder) Done(results []nntp.Result) {
	for _, r := range results {
		fmt.Println(r.Offer.MessageID, r.Outcome)
	}
}

func ExampleClient_Stream() {
	srv, err := nntptest.Start("127.0.0.1:0", nntptest.Script{
		Decide: func(st nntptest.Stage, mid string) int {
			if st == nntptest.Check && mid == "<dup@example>" {
				return 438
			}
			return 0
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := nntp.Dial(context.Background(), srv.Addr, nntp.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit()
	if ok, err := c.ModeStream(); err != nil || !ok {
		log.Fatal("no streaming: ", err)
	}
	f := &sliceFeeder{mids: []string{"<a@example>", "<dup@example>", "<gone@example>"}}
	st, err := c.Stream(context.Background(), f, nntp.StreamConfig{Window: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("offered %d accepted %d refused %d missing %d\n", st.Offered, st.Accepted, st.Refused, st.Missing)
	// Output:
	// <a@example> accepted
	// <dup@example> refused
	// <gone@example> missing
	// offered 3 accepted 1 refused 1 missing 1
}
