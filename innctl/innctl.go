// Package innctl talks to a running innd through its control channel, the way
// ctlinnd does. nxmit needs one command of it: "flush SITE", which makes innd
// finish writing a site's feed file, close it and open a new one at the
// configured path.
//
// Two implementations of Flusher are provided: Command runs INN's own ctlinnd
// program, and ICC speaks innd's control-socket datagram protocol natively,
// which needs no external program but must be able to create a socket that
// innd (running as news) can send its reply to.
package innctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTimeout is how long a flush waits for innd's reply when the caller
// gives no timeout; nntpsend and send-nntp run "ctlinnd -s -t30 flush SITE".
const DefaultTimeout = 30 * time.Second

// A Flusher asks innd to flush a site's feed.
//
// A nil error means innd answered that the flush is done: every line it had
// for the site is written to the file it had open, that file is closed, and
// innd has opened (or will open, when it buffers the site in memory) a new
// file at the configured path. A reply that the site does not exist gives an
// error for which errors.Is(err, ErrNoSuchSite) holds. Any other failure,
// including no reply within the timeout, leaves it unknown whether innd
// flushed; the flush may simply be retried, since flushing twice is harmless.
type Flusher interface {
	Flush(ctx context.Context, site string) error
}

// ErrNoSuchSite is reported (wrapped) when innd does not know the site: it is
// not, or no longer, in newsfeeds. innd then does nothing, and no longer
// writes to any file of that site.
var ErrNoSuchSite = errors.New("no such site")

// A FlushError reports a flush that failed without an answer from innd that
// says why the site cannot be flushed: innd not running, no reply in time, a
// protocol or permission problem, or ctlinnd failing in some other way. Whether
// innd flushed is unknown. It is temporary: the caller should leave its state
// as it is and retry later.
type FlushError struct {
	Site   string
	Via    string // "ctlinnd" or "icc"
	Reason string // what went wrong, e.g. ctlinnd's message or "no reply within 30s"
	Err    error  // underlying error, if any
}

// Error returns e.g. `ctlinnd flush peer: cannot send "flush" command
// (timeout failure): Connection timed out`.
func (e *FlushError) Error() string {
	s := e.Via + " flush " + e.Site + ": " + e.Reason
	if e.Err != nil && !strings.Contains(e.Reason, e.Err.Error()) {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *FlushError) Unwrap() error { return e.Err }

// Temporary reports true: innd may be restarting, busy or paused; a later
// run retries the flush.
func (e *FlushError) Temporary() bool { return true }

// checkSite refuses site names innd could not receive intact.
func checkSite(site string) error {
	if site == "" {
		// An empty argument means "all sites" to innd: never send it by accident.
		return errors.New("flush: empty site name")
	}
	if strings.ContainsAny(site, "\x00\x01\n") {
		return fmt.Errorf("flush: invalid site name %q", site)
	}
	return nil
}

// timeoutOrDefault returns t, or DefaultTimeout when t is not positive.
func timeoutOrDefault(t time.Duration) time.Duration {
	if t <= 0 {
		return DefaultTimeout
	}
	return t
}
