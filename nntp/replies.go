package nntp

import (
	"fmt"
	"strings"
)

// A Verb is the feeding command a reply answers, as the reply table tells them apart.
type Verb uint8

// Verbs of the reply table.
const (
	VerbCheck        Verb = iota + 1 // CHECK <mid>
	VerbTakethis                     // TAKETHIS <mid> and its article
	VerbIHave                        // IHAVE <mid>, before the article
	VerbIHaveArticle                 // the article sent after a 335
)

// String returns the command's name.
func (v Verb) String() string {
	switch v {
	case VerbCheck:
		return "CHECK"
	case VerbTakethis:
		return "TAKETHIS"
	case VerbIHave:
		return "IHAVE"
	case VerbIHaveArticle:
		return "IHAVE article"
	}
	return fmt.Sprintf("Verb(%d)", v)
}

// A ReplyRule is one row of the reply table: what a code answering a command does to
// the article it answers.
type ReplyRule struct {
	Verb Verb
	Code int
	// Outcome is the article's final answer; zero for 238 and 335, which ask for the
	// article.
	Outcome Outcome
	// Why says where the row comes from (RFC, innd, innxmit).
	Why string
}

// ReplyTable lists every reply that settles an article, by command. Each reply settles
// the one article it answers; only the replies of ConnectionCodes end a connection.
// A 5xx code not listed is handled as the 500 of its command. Any other code settles its
// article as Deferred and is Unexpected: the article is kept for a later pass and the
// caller warns once per code.
//
// The rows follow RFC 3977 and RFC 4644, and what innd, innxmit (2.6, 2.7), Diablo and
// nntp-rs answer (see docs/RELIABILITY.md, "Reply codes").
var ReplyTable = []ReplyRule{
	{VerbCheck, 238, 0, "RFC 4644: send it"},
	{VerbCheck, 431, Deferred, "RFC 4644: try later (innd paused, or the id in progress elsewhere)"},
	{VerbCheck, 438, Refused, "RFC 4644: not wanted (innd: duplicate, bad message-id)"},
	{VerbCheck, 500, Refused, "not understood for this article; innxmit counts 501 refused"},
	{VerbCheck, 501, Refused, "syntax error about the message-id; innxmit: refused"},
	{VerbCheck, 502, Refused, "not permitted for this article"},
	{VerbCheck, 503, Refused, "not supported for this article"},

	{VerbTakethis, 239, Accepted, "RFC 4644: transferred"},
	{VerbTakethis, 439, Rejected, "RFC 4644: rejected, do not retry"},
	{VerbTakethis, 431, Deferred, "innxmit treats 431 as try later for either command"},
	{VerbTakethis, 436, Deferred, "the IHAVE try-later code, as innxmit"},
	{VerbTakethis, 500, Rejected, "INN issue #40: innxmit 2.7 drops an article answered 500/501"},
	{VerbTakethis, 501, Rejected, "INN issue #40: innxmit 2.7 drops an article answered 500/501"},
	{VerbTakethis, 502, Rejected, "not permitted for this article; the reply is logged"},
	{VerbTakethis, 503, Rejected, "not supported for this article; the reply is logged"},

	{VerbIHave, 335, 0, "RFC 3977: send it"},
	{VerbIHave, 435, Refused, "RFC 3977: not wanted (innd: duplicate, bad message-id)"},
	{VerbIHave, 436, Deferred, "RFC 3977: try later (innd paused, id in progress)"},
	{VerbIHave, 500, Refused, "not understood for this article"},
	{VerbIHave, 501, Refused, "innxmit: refused"},
	{VerbIHave, 502, Refused, "not permitted for this article"},
	{VerbIHave, 503, Refused, "not supported for this article"},

	{VerbIHaveArticle, 235, Accepted, "RFC 3977: transferred"},
	{VerbIHaveArticle, 436, Deferred, "RFC 3977: transfer failed, try later (innd: cannot store)"},
	{VerbIHaveArticle, 437, Rejected, "RFC 3977: rejected, do not retry"},
	{VerbIHaveArticle, 500, Rejected, "INN issue #40"},
	{VerbIHaveArticle, 501, Rejected, "innxmit: rejected"},
	{VerbIHaveArticle, 502, Rejected, "not permitted for this article"},
	{VerbIHaveArticle, 503, Rejected, "not supported for this article"},
}

// ConnectionCodes are the replies that concern the connection rather than the article
// they answer: they end the connection and leave its unanswered offers queued. 400 is
// innd throttled or closing; 401, 480, 481 and 483 say the session itself (capability,
// authentication, privacy) must change first.
var ConnectionCodes = []int{400, 401, 480, 481, 483}

// idCodes are the streaming replies whose text must start with the message-id of the
// command they answer (RFC 4644).
var idCodes = map[int]bool{238: true, 239: true, 431: true, 438: true, 439: true}

// A Settlement is what one reply did to the article it answers.
type Settlement struct {
	Outcome Outcome // zero: the peer wants the article (238, 335)
	// Unexpected is set for a code the table does not list for the command: the
	// article is Deferred, and the caller should tell the administrator.
	Unexpected bool
}

type ruleKey struct {
	verb Verb
	code int
}

var rules = func() map[ruleKey]Outcome {
	m := make(map[ruleKey]Outcome, len(ReplyTable))
	for _, r := range ReplyTable {
		m[ruleKey{r.Verb, r.Code}] = r.Outcome
	}
	return m
}()

// Settle returns what reply r does to the article of a command v for message-id mid.
// A reply that concerns the connection (a code of ConnectionCodes, or a reply naming
// another message-id) returns an error: *Error for the former, *ProtocolError for the
// latter. The streaming codes of RFC 4644 must name mid; any other reply may name it
// or not (innd's "436 Retry later", "500 What?") but must not name another id.
func Settle(v Verb, mid string, r Reply) (Settlement, error) {
	op := v.String() + " " + mid
	for _, c := range ConnectionCodes {
		if r.Code == c {
			return Settlement{}, &Error{Op: op, Reply: r}
		}
	}
	if v == VerbCheck || v == VerbTakethis {
		id := r.MessageID()
		if idCodes[r.Code] && id != mid || strings.HasPrefix(id, "<") && id != mid {
			return Settlement{}, &ProtocolError{Op: op, Line: r.String(), Msg: "reply out of order"}
		}
	}
	if out, ok := rules[ruleKey{v, r.Code}]; ok {
		return Settlement{Outcome: out}, nil
	}
	if r.Code >= 500 {
		return Settlement{Outcome: rules[ruleKey{v, 500}]}, nil
	}
	return Settlement{Outcome: Deferred, Unexpected: true}, nil
}

// isRefusal reports whether a settled reply is a 5xx: a peer that answers nothing
// else (read-only, or not configured for us) must not have the queue emptied as
// rejected, so the feeding engine holds such answers until the connection has had
// another one (see RefusingError).
func isRefusal(r Reply) bool { return r.Code >= 500 }

// RefuseRun is the number of 5xx answers with no other answer before them on a
// connection after which the peer is taken to refuse everything.
const RefuseRun = 8

// A RefusingError means the peer answered its first RefuseRun offers on a connection
// with 5xx codes and nothing else: it is read-only, or not configured for us. The
// articles stay queued; a person must act, so it is not temporary.
type RefusingError struct {
	Reply Reply // the last 5xx answer
	Verb  Verb
}

func (e *RefusingError) Error() string {
	return fmt.Sprintf("nntp: peer answers %d offers in a row with 5xx and nothing else (last: %s to %s); not configured to take our articles?",
		RefuseRun, e.Reply, e.Verb)
}

// Temporary reports false: a person must fix the peer's configuration.
func (e *RefusingError) Temporary() bool { return false }
