package nntp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxReplyLine is the longest reply line the client accepts, without its CRLF. NNTP
// replies are short (RFC 3977 allows 512 octets); a longer line means the peer is not
// speaking NNTP, and reading on would only buffer garbage.
const MaxReplyLine = 4096

// A Reply is one NNTP status line.
type Reply struct {
	Code int    // three-digit status code, 100 to 599
	Text string // the rest of the line after "NNN " (may be empty)
}

// String returns the reply as it appeared on the wire, without CRLF.
func (r Reply) String() string {
	if r.Text == "" {
		return strconv.Itoa(r.Code)
	}
	return strconv.Itoa(r.Code) + " " + r.Text
}

// MessageID returns the first word of the reply text, which is where the streaming
// replies (238, 239, 431, 438, 439) name their message-id.
func (r Reply) MessageID() string {
	if i := strings.IndexByte(r.Text, ' '); i >= 0 {
		return r.Text[:i]
	}
	return r.Text
}

// ParseReply parses one reply line without its line ending. The line must start with a
// three-digit code from 100 to 599, followed by the end of the line or a space and text.
// Anything else is a *ProtocolError.
func ParseReply(line string) (Reply, error) {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return Reply{}, &ProtocolError{Line: line, Msg: "malformed reply"}
	}
	code := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return Reply{Code: code}, nil
	}
	if line[3] != ' ' {
		return Reply{}, &ProtocolError{Line: line, Msg: "malformed reply"}
	}
	return Reply{Code: code, Text: line[4:]}, nil
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// An Error is a well-formed reply that the operation did not expect, such as a 400 when
// the peer is throttled, a 502 when it does not want us, or a 480 for missing
// authentication.
type Error struct {
	Op    string // the command or step, e.g. "greeting", "AUTHINFO PASS", "TAKETHIS <mid>"
	Reply Reply
}

func (e *Error) Error() string {
	return fmt.Sprintf("nntp: %s: %s", e.Op, e.Reply)
}

// Temporary reports whether a later attempt may succeed: true for 4xx replies, except 480
// and 481, which say our credentials are missing or wrong and need an administrator.
func (e *Error) Temporary() bool {
	c := e.Reply.Code
	return c >= 400 && c < 500 && c != 480 && c != 481
}

// A ProtocolError means the peer broke the protocol: a garbage or over-long line, a reply
// naming another message-id than the command it answers, or a code that makes no sense
// for that command. It is not temporary: the same peer is likely to do it again.
type ProtocolError struct {
	Op   string // the command whose reply was bad ("" when parsing alone)
	Line string // the offending line, possibly truncated
	Msg  string // what was wrong
}

func (e *ProtocolError) Error() string {
	line := e.Line
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	if e.Op == "" {
		return fmt.Sprintf("nntp: protocol error: %s: %q", e.Msg, line)
	}
	return fmt.Sprintf("nntp: %s: protocol error: %s: %q", e.Op, e.Msg, line)
}

// A ConnError is a failure of the connection itself: dialing, reading, writing, a
// timeout, or the peer closing it. It is always temporary.
type ConnError struct {
	Op  string
	Err error
}

func (e *ConnError) Error() string { return fmt.Sprintf("nntp: %s: %v", e.Op, e.Err) }

// Unwrap returns the underlying network error.
func (e *ConnError) Unwrap() error { return e.Err }

// Temporary reports true: a new connection may well work.
func (e *ConnError) Temporary() bool { return true }

// Timeout reports whether the failure was a deadline expiring.
func (e *ConnError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// replyError classifies a reply that op did not expect: an error-class reply (4xx, 5xx)
// becomes an *Error, anything else a *ProtocolError.
func replyError(op string, r Reply) error {
	if r.Code >= 400 {
		return &Error{Op: op, Reply: r}
	}
	return &ProtocolError{Op: op, Line: r.String(), Msg: "unexpected reply"}
}
