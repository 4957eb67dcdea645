package nntp

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// A peer is untrusted: it must not keep a connection (and the articles offered on it)
// hostage. The size of a reply line is bounded by the read buffer (readBufferSize; a
// longer line is a ProtocolError, MaxReplyLine the longest accepted), and its time by
// the reply timeout counted from when the client starts waiting for it, not from the
// last byte received: a peer trickling one byte a second would otherwise reset a
// per-read deadline for ever.

// startLine starts the clock of one reply line: every read until endLine must finish
// within the reply timeout from now.
func (d *deadlineConn) startLine() {
	d.line.Store(time.Now().Add(d.readTimeout).UnixNano())
}

// endLine stops the clock started by startLine.
func (d *deadlineConn) endLine() { d.line.Store(0) }

// readTimeoutNow is how long the next read may take: the reply timeout, cut to what is
// left of the current line's.
func (d *deadlineConn) readTimeoutNow() time.Duration {
	if l := d.line.Load(); l != 0 {
		return min(d.readTimeout, time.Until(time.Unix(0, l)))
	}
	return d.readTimeout
}

// tooLong is the error for a reply line over MaxReplyLine bytes. Only its start is kept:
// the peer's bytes are not ours to carry around, nor to print at length.
func tooLong(line []byte) error {
	return &ProtocolError{Line: string(line[:min(len(line), 200)]),
		Msg: "reply line too long (over " + strconv.Itoa(MaxReplyLine) + " bytes)"}
}

// lineTimeout says what a read deadline means for a reply line: the peer did not
// complete it in time, whether it sent nothing or trickled part of it.
func lineTimeout(err error, got int) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return fmt.Errorf("no complete reply line in time (%d bytes of it received): %w", got, err)
}
