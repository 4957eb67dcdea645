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
// 435 is Refused and 436 Deferred; after 335 the article is sent, and 235 is Accepted,
// 437 Rejected and 436 Deferred. innxmit's 501 is taken as Refused at the offer and
// Rejected after the article. Any other reply (400 or 403 from a throttled or broken
// peer, 480, 500, 502) fails the connection with the current offer Unsent.
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
	for {
		if err := context.Cause(ctx); err != nil {
			return st, fmt.Errorf("nntp: feed stopped: %w", err)
		}
		offers = f.NextOffers(offers[:0], pullBatch)
		if len(offers) == 0 {
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
			r, err := c.ihave(f, o, &st)
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
	switch r.Code {
	case 335:
	case 435, 501:
		return Result{Offer: *o, Outcome: Refused, Reply: r}, nil
	case 436:
		return Result{Offer: *o, Outcome: Deferred, Reply: r}, nil
	default:
		err := c.fail(replyError(op, r))
		return Result{Offer: *o, Outcome: Unsent, Reply: r, Err: err}, err
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
	switch r.Code {
	case 235:
		return Result{Offer: *o, Outcome: Accepted, Reply: r, Size: len(art)}, nil
	case 437, 501:
		return Result{Offer: *o, Outcome: Rejected, Reply: r, Size: len(art)}, nil
	case 436:
		return Result{Offer: *o, Outcome: Deferred, Reply: r}, nil
	}
	err = c.fail(replyError(op, r))
	return Result{Offer: *o, Outcome: Unsent, Reply: r, Err: err}, err
}
