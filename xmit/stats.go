package xmit

import (
	"fmt"
	"time"

	"nxmit/audit"
)

// Stats counts what one send pass did. Every line taken from a backlog ends in exactly one
// of Accepted, Refused, Rejected, Missing, Deferred, Requeued, Filtered or Malformed, or it
// is still queued (Unsent, or Held by a delay) when the pass stops.
type Stats struct {
	Offered  int64 // CHECK, TAKETHIS without CHECK, and IHAVE commands, counted as innxmit does
	Accepted int64 // 239 / 235
	Refused  int64 // 438 / 435: the peer has it
	Rejected int64 // 439 / 437
	Missing  int64 // no longer in the spool (expired, cancelled, overwritten, wrong id)
	Deferred int64 // 431 / 436: written to S.defer for a later retry
	Requeued int64 // the article could not be read now (I/O error): also written to S.defer
	// Malformed lines were reported with file:line and quarantined in S.bad.
	Malformed int64
	// Duplicates are lines whose article (same token, path or Message-ID) was already
	// taken in the pass: blanked without an offer.
	Duplicates int64
	// Unsent lines were taken but not finished when the pass stopped; they stay queued.
	Unsent int64
	// Filtered lines were excluded by the site's feed shaping (hashfeed, max-crosspost,
	// max-hops, max-size): final, never sent to this site.
	Filtered int64
	// Held lines were younger than the site's delay: each stopped the reading of its
	// backlog, and it and the rest of that backlog stay queued for a later pass.
	Held int64
	// Queued is the exact number of lines still to send in the backlogs after the pass:
	// the Unsent ones and those never read (a stopped or bounded pass).
	Queued int64

	AcceptedBytes int64 // accsize: wire bytes of accepted articles
	RejectedBytes int64 // rejsize

	// Host is the peer's host:port that the pass connected to last (a site may have
	// several); empty when no connection was made.
	Host string

	Connections int // connections that were established, reconnects included
	NoCheck     int // times a connection entered no-CHECK mode
	// MaxWindow is the largest window a streaming connection had: with Connections, it
	// bounds the offers a crash can leave unanswered (to be offered again).
	MaxWindow int
	// PeakConnections is the most connections the pass had at once: it grows above
	// the configured connections while the peer keeps up (Options.MaxConnections).
	PeakConnections int

	User, System, Elapsed time.Duration
}

// Done returns how many lines reached a final answer (everything but Unsent and Malformed),
// duplicates of the pass included.
func (s Stats) Done() int64 {
	return s.Accepted + s.Refused + s.Rejected + s.Missing + s.Deferred + s.Requeued + s.Filtered + s.Duplicates
}

// Rate returns the articles per second that reached a final answer.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Done()) / s.Elapsed.Seconds()
}

// StatsLine is innxmit's statistics line, field for field, so innreport counts nxmit.
func (s Stats) StatsLine(host string) string {
	return fmt.Sprintf("%s stats offered %d accepted %d refused %d rejected %d missing %d accsize %d rejsize %d",
		host, s.Offered, s.Accepted, s.Refused, s.Rejected, s.Missing, s.AcceptedBytes, s.RejectedBytes)
}

// TimesLine is innxmit's resource line.
func (s Stats) TimesLine(host string) string {
	return fmt.Sprintf("%s times user %.3f system %.3f elapsed %.3f",
		host, s.User.Seconds(), s.System.Seconds(), s.Elapsed.Seconds())
}

// DetailLine is nxmit's own line with what innxmit's format has no room for (fields added
// later go at its end, so parsers of the older line keep working). Its "queued" is
// Queued: every line still to send in the backlogs after the pass, read or not.
func (s Stats) DetailLine(host string) string {
	line := fmt.Sprintf("%s nxmit deferred %d requeued %d malformed %d queued %d connections %d nocheck %d rate %.1f filtered %d held %d window %d peakconnections %d",
		host, s.Deferred, s.Requeued, s.Malformed, s.Queued, s.Connections, s.NoCheck, s.Rate(), s.Filtered, s.Held, s.MaxWindow, s.PeakConnections)
	if s.Host != "" {
		// The lines are labelled by site; a site with several hosts says which one took
		// the articles.
		line += " host " + s.Host
	}
	return line
}

// Counts returns the pass's answers by outcome, for the site's running totals.
func (s Stats) Counts() audit.Counts {
	return audit.Counts{Accepted: s.Accepted, Refused: s.Refused, Rejected: s.Rejected, Missing: s.Missing,
		Deferred: s.Deferred, Requeued: s.Requeued, Malformed: s.Malformed, Filtered: s.Filtered,
		AcceptedBytes: s.AcceptedBytes, RejectedBytes: s.RejectedBytes}
}
