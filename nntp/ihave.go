package nntp

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// IHave feeds articles lock-step with IHAVE (RFC 3977), for peers that refuse streaming.
// Each article is read before its IHAVE (its bytes are needed anyway), so a missing
// article is reported Missing without a command.
//
// Each reply settles its article by ReplyTable: 435 is Refused and 436 Deferred; after
// 335 the article is sent, and 235 is Accepted, 437 Rejected and 436 Deferred; 5xx is
// Refused at the offer and Rejected after the article, and a code in no row Deferred.
// Only the ConnectionCodes (400 from a throttled peer, 480) and broken lines fail the
// connection, with the current offer Unsent. A peer whose first RefuseRun answers are
// all 5xx fails the connection with a *RefusingError, those offers Unsent.
//
// The reporting contract is Stream's: every offer taken reaches Done exactly once, and
// when ctx is done IHave takes no new offers, gives the exchange in progress up to
// DefaultGrace, and returns an error wrapping ctx's cause.
func (c *Client) IHave(ctx context.Context, f Feeder) (FeedStats, error) {
	var st FeedStats
	if c.broken != nil {
		return st, c.broken
	}
	// When ctx ends, the exchange in progress gets DefaultGrace to finish.
	var mu sync.Mutex
	over, interrupted := false, false
	unhook := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !over {
			interrupted = true
			c.dc.interrupt(time.Now().Add(DefaultGrace))
		}
	})
	defer func() {
		unhook()
		mu.Lock()
		over = true
		mu.Unlock()
		if interrupted && c.broken == nil {
			c.dc.clearLimit()
		}
	}()

	offers := make([]Offer, 0, pullBatch)
	results := make([]Result, 0, pullBatch)
	done := func() {
		st.count(results)
		if len(results) > 0 {
			f.Done(results)
		}
		results = results[:0]
	}
	// 5xx answers are held until the peer answers something else (see Stream).
	var held []Result
	proven := false
	release := func(err error, unsent bool) {
		for _, h := range held {
			if unsent {
				h.Outcome, h.Err, h.Size = Unsent, err, 0
				st.Offered-- // never answered for good: no offer for innreport's %Acc
			} else {
				h.Outcome, h.Size = Deferred, 0
			}
			results = append(results, h)
		}
		held = nil
	}
	for {
		if err := context.Cause(ctx); err != nil {
			release(err, true)
			done()
			return st, fmt.Errorf("nntp: feed stopped: %w", err)
		}
		offers = f.NextOffers(offers[:0], pullBatch)
		if len(offers) == 0 {
			release(nil, false)
			done()
			return st, nil
		}
		for i := range offers {
			o := &offers[i]
			if ctx.Err() != nil {
				for _, o := range offers[i:] {
					results = append(results, Result{Offer: o, Outcome: Unsent})
				}
				break
			}
			before := st.IHaves
			r, err := c.ihave(f, o, &st)
			sent := st.IHaves > before
			if err == nil && r.Reply.Code != 0 && !proven {
				if isRefusal(r.Reply) {
					held = append(held, r)
					if len(held) < RefuseRun {
						continue
					}
					err = c.fail(&RefusingError{Reply: r.Reply, Verb: r.Verb})
					held[len(held)-1].Outcome = Unsent
					r = held[len(held)-1]
					held = held[:len(held)-1]
				} else {
					proven = true
					results = append(results, held...)
					held = nil
				}
			}
			if err != nil {
				release(err, true)
				r.Outcome, r.Err, r.Size = Unsent, err, 0
			}
			if sent && r.Outcome == Unsent {
				st.Offered-- // never answered for good: no offer for innreport's %Acc
			}
			results = append(results, r)
			if err != nil {
				for _, o := range offers[i+1:] {
					results = append(results, Result{Offer: o, Outcome: Unsent, Err: err})
				}
				done()
				if cause := context.Cause(ctx); cause != nil {
					return st, fmt.Errorf("nntp: feed stopped (%v): %w", err, cause)
				}
				return st, err
			}
		}
		done()
	}
}

// ihave offers one article. A non-nil error means the connection failed; the result is
// then Unsent.
func (c *Client) ihave(f Feeder, o *Offer, st *FeedStats) (Result, error) {
	art, res := c.article(f, o)
	if res != nil {
		return *res, nil
	}
	op := "IHAVE " + o.MessageID
	st.Offered++
	st.IHaves++
	r, err := c.cmd(op, op, "")
	if err != nil {
		return Result{Offer: *o, Outcome: Unsent, Err: err}, err
	}
	set, err := Settle(VerbIHave, o.MessageID, r)
	if err != nil {
		err = c.fail(err)
		return Result{Offer: *o, Outcome: Unsent, Reply: r, Err: err}, err
	}
	if set.Outcome != 0 {
		return Result{Offer: *o, Outcome: set.Outcome, Reply: r, Verb: VerbIHave, Unexpected: set.Unexpected}, nil
	}

	c.bw.Write(art)
	if err := c.bw.Flush(); err != nil {
		err = c.fail(&ConnError{Op: "send article " + o.MessageID, Err: err})
		return Result{Offer: *o, Outcome: Unsent, Err: err}, err
	}
	r, err = c.readReply(op)
	if err != nil {
		err = c.fail(err)
		return Result{Offer: *o, Outcome: Unsent, Err: err}, err
	}
	set, err = Settle(VerbIHaveArticle, o.MessageID, r)
	if err != nil {
		err = c.fail(err)
		return Result{Offer: *o, Outcome: Unsent, Reply: r, Err: err}, err
	}
	if set.Outcome == 0 { // a second 335
		set = Settlement{Outcome: Deferred, Unexpected: true}
	}
	res2 := Result{Offer: *o, Outcome: set.Outcome, Reply: r, Verb: VerbIHaveArticle, Unexpected: set.Unexpected}
	if set.Outcome == Accepted || set.Outcome == Rejected {
		res2.Size = len(art)
	}
	return res2, nil
}
