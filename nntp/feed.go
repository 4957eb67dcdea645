package nntp

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// An Outcome is the final answer for one offer.
type Outcome uint8

// Outcomes. The zero value is not an outcome, so a Result that was never filled in
// cannot pass for Accepted.
const (
	Accepted Outcome = iota + 1 // the peer took it (239, 235)
	Refused                     // the peer has it or does not want it: not sent (438, 435)
	Rejected                    // sent and refused (439, 437): do not retry
	Deferred                    // the peer asks us to retry later (431, 436)
	Missing                     // the article is gone or is not a valid article to send
	Failed                      // reading the article failed: keep it queued
	Unsent                      // no final answer before the connection ended: keep it queued
)

var outcomeNames = [...]string{"invalid", "accepted", "refused", "rejected", "deferred", "missing", "failed", "unsent"}

// String returns the outcome's name in lower case.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", o)
}

// An Offer is one article to feed.
type Offer struct {
	MessageID string // the id offered, "<...>"
	Ref       int64  // the caller's handle for the article, opaque to nntp
}

// A Result is the final answer for one Offer.
type Result struct {
	Offer   Offer
	Outcome Outcome
	Reply   Reply // the reply that decided it (zero for Missing, Failed and most Unsent)
	Size    int   // article bytes sent, for innxmit's accsize and rejsize (0 if not sent)
	Err     error // why, for Missing, Failed and Unsent
	// Verb is the command Reply answers (zero when there is no reply).
	Verb Verb
	// Unexpected is set when Reply's code is not in ReplyTable for Verb: the article
	// is Deferred, and the administrator should hear of the code once.
	Unexpected bool
}

// ErrNoArticle is the error a Feeder's Article wraps when the article no longer exists
// (expired, cancelled, overwritten, wrong message-id); the offer is then Missing.
var ErrNoArticle = errors.New("no such article")

// ErrBadMessageID is the error of a Missing result whose message-id cannot be sent: empty,
// longer than 497 bytes (the NNTP argument limit), or containing spaces or control
// characters.
var ErrBadMessageID = errors.New("message-id not sendable")

// ErrBadArticle is the error of a Failed result whose article bytes are not in wire format
// (they must end with "\r\n.\r\n"): sending them would desynchronize the connection.
var ErrBadArticle = errors.New("article not in wire format")

// A Feeder supplies offers and articles to the feeding engine and receives the results.
// One Feeder may serve several connections at once: its methods may then be called
// concurrently from different connections.
type Feeder interface {
	// NextOffers appends at most max offers to dst and returns it. Returning no
	// offer means there is no more work: the connection drains and the feed ends.
	NextOffers(dst []Offer, max int) []Offer
	// Article returns the article of o in wire format (CRLF lines, dot-stuffed, ending
	// with ".\r\n"). It may use buf's storage; the bytes must stay valid until the next
	// Article call on the same connection. An error wrapping ErrNoArticle makes the offer
	// Missing, any other error Failed.
	Article(o *Offer, buf []byte) ([]byte, error)
	// Done receives final results in batches. The calls for one connection never
	// overlap; results is only valid during the call. Every offer returned by
	// NextOffers reaches Done exactly once.
	Done(results []Result)
}

// CheckMode says when Stream sends CHECK before TAKETHIS.
type CheckMode uint8

// Check modes.
const (
	// Adaptive follows innfeed: CHECK first, and TAKETHIS alone while the peer accepts
	// nearly everything (see Stream).
	Adaptive CheckMode = iota
	// AlwaysCheck sends CHECK before every article.
	AlwaysCheck
	// NeverCheck sends TAKETHIS only, like innxmit -c.
	NeverCheck
)

// String returns the mode's name.
func (m CheckMode) String() string {
	switch m {
	case Adaptive:
		return "adaptive"
	case AlwaysCheck:
		return "always"
	case NeverCheck:
		return "never"
	}
	return fmt.Sprintf("CheckMode(%d)", m)
}

// Stream defaults, used where a StreamConfig field is zero.
const (
	// DefaultWindow caps the commands in flight per connection: what the adaptive
	// window may grow to (about 120 KB of bookkeeping per connection).
	DefaultWindow = 2048
	// DefaultStartWindow is where the adaptive window starts on a short path: the
	// fixed window of earlier versions. A long path starts wider (see startWindow).
	DefaultStartWindow = 128
	// DefaultGrace is short: an interrupted pass must end before an init script or
	// "su -c" kills it (about 2 s), and what is not answered by then stays queued.
	DefaultGrace = time.Second
)

// StreamConfig tunes Stream.
type StreamConfig struct {
	// Window caps the commands in flight (default DefaultWindow). Unless Fixed, the window
	// adapts below the cap to the round trip and the rate the peer takes (see
	// windowCtl), starting at Start. An article that got 238 and waits for its
	// TAKETHIS keeps its slot.
	Window int
	// Fixed keeps Window commands in flight throughout, as earlier versions did.
	Fixed bool
	// Start is the window to begin with; after a connection failure the caller may
	// pass the last window halved. By default it is 128, or more over a long path:
	// the round trip of the commands before the Stream times startRate, up to Window.
	Start int
	// Mode chooses when to CHECK (default Adaptive).
	Mode CheckMode
	// Grace is how long Stream waits for the replies still due once ctx is done
	// (default 1 s); what is not answered by then is Unsent.
	Grace time.Duration

	// Sampled, when set, is told what the connection measured, once per round trip
	// (the adaptive window's samples; none with Fixed). It runs on the reader with the
	// stream's lock held: it must be quick and must not call into the Client.
	Sampled func(StreamSample)

	// trace, in tests, sees each window decision.
	trace func(elapsed time.Duration, window int, rate float64, rttMin time.Duration)
}

// A StreamSample is what a streaming connection measured over one round trip, for a
// caller that adapts the number of connections (StreamConfig.Sampled).
type StreamSample struct {
	Window int // the window after the sample
	Cap    int // StreamConfig.Window: the most the window may grow to
	// Limited says whether the writer waited for a free slot during the sample: the
	// window, not the backlog or the Feeder, held the connection back.
	Limited  bool
	Rate     float64       // replies per second over the round trip
	RTT      time.Duration // the least round trip seen lately
	Answered int           // replies in the sample
	Deferred int           // ... of which deferrals (431, 436)
}

// FeedStats counts what one Stream or IHave call did on its connection.
type FeedStats struct {
	// Offered counts CHECKs, TAKETHIS sent without a CHECK, and IHAVEs, the way innxmit
	// counts its "offered" figure, less the offers whose article got no final answer
	// (Unsent after being offered): innreport's %Acc divides by it.
	Offered  int64
	Checks   int64 // CHECK commands
	Takethis int64 // TAKETHIS commands, after a 238 or without CHECK
	IHaves   int64 // IHAVE commands

	// Results by Outcome; their sum is the number of offers taken from the Feeder.
	Accepted, Refused, Rejected, Deferred, Missing, Failed, Unsent int64
	// Article bytes of accepted and rejected articles (innxmit's accsize and rejsize).
	AcceptedSize, RejectedSize int64

	NoCheckEntered int // times the connection went to TAKETHIS only
	NoCheckExited  int // times it came back to CHECK

	// Window is the window at the end of the Stream, MaxWindow the largest it had:
	// the commands a crash could leave unanswered on this connection.
	Window, MaxWindow int
}

// Answered returns the number of articles the peer settled with an answer of its own:
// accepted, refused, rejected or deferred.
func (s FeedStats) Answered() int64 {
	return s.Accepted + s.Refused + s.Rejected + s.Deferred
}

// Taken returns the number of offers taken from the Feeder: the sum of the outcomes.
func (s FeedStats) Taken() int64 {
	return s.Accepted + s.Refused + s.Rejected + s.Deferred + s.Missing + s.Failed + s.Unsent
}

// Add adds o's counts to s, to total several connections.
func (s *FeedStats) Add(o FeedStats) {
	s.Offered += o.Offered
	s.Checks += o.Checks
	s.Takethis += o.Takethis
	s.IHaves += o.IHaves
	s.Accepted += o.Accepted
	s.Refused += o.Refused
	s.Rejected += o.Rejected
	s.Deferred += o.Deferred
	s.Missing += o.Missing
	s.Failed += o.Failed
	s.Unsent += o.Unsent
	s.AcceptedSize += o.AcceptedSize
	s.RejectedSize += o.RejectedSize
	s.NoCheckEntered += o.NoCheckEntered
	s.NoCheckExited += o.NoCheckExited
	s.Window += o.Window
	s.MaxWindow = max(s.MaxWindow, o.MaxWindow)
}

// count adds a batch of results to s.
func (s *FeedStats) count(results []Result) {
	for i := range results {
		r := &results[i]
		switch r.Outcome {
		case Accepted:
			s.Accepted++
			s.AcceptedSize += int64(r.Size)
		case Refused:
			s.Refused++
		case Rejected:
			s.Rejected++
			s.RejectedSize += int64(r.Size)
		case Deferred:
			s.Deferred++
		case Missing:
			s.Missing++
		case Failed:
			s.Failed++
		default:
			s.Unsent++
		}
	}
}

// maxMessageID is the longest argument NNTP allows (RFC 3977: 497 octets).
const maxMessageID = 497

func validMessageID(mid string) bool {
	return mid != "" && len(mid) <= maxMessageID && checkArg(mid) == nil
}

// maxKeptBuffer bounds the article buffer a connection keeps between articles, so one
// huge article does not pin its size for the rest of the feed.
const maxKeptBuffer = 8 << 20

// article fetches o's article for sending. On failure it returns the Missing or Failed
// result to report instead.
func (c *Client) article(f Feeder, o *Offer) ([]byte, *Result) {
	if !validMessageID(o.MessageID) {
		return nil, &Result{Offer: *o, Outcome: Missing, Err: fmt.Errorf("%w: %q", ErrBadMessageID, o.MessageID)}
	}
	art, err := f.Article(o, c.abuf[:0])
	if res := c.keepArticle(o, art, err); res != nil {
		return nil, res
	}
	return art, nil
}

// keepArticle checks an article the Feeder returned for o (with err), and keeps a
// buffer that fits it for the next. A failure returns the Missing or Failed result.
func (c *Client) keepArticle(o *Offer, art []byte, err error) *Result {
	if err != nil {
		out := Failed
		if errors.Is(err, ErrNoArticle) {
			out = Missing
		}
		return &Result{Offer: *o, Outcome: out, Err: err}
	}
	if !bytes.HasSuffix(art, []byte("\r\n.\r\n")) {
		return &Result{Offer: *o, Outcome: Failed, Err: fmt.Errorf("%s: %w", o.MessageID, ErrBadArticle)}
	}
	// Keep a buffer of our own that fits the articles seen so far; the returned slice
	// may belong to the Feeder, so it is never adopted.
	if n := len(art); n > cap(c.abuf) && n <= maxKeptBuffer {
		c.abuf = make([]byte, 0, n+n/4)
	}
	return nil
}
