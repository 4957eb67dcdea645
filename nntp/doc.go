// Package nntp is nxmit's NNTP feeding client: the greeting, AUTHINFO USER/PASS,
// MODE STREAM, lock-step IHAVE (RFC 3977) and pipelined CHECK/TAKETHIS (RFC 4644) with
// innfeed's adaptive no-CHECK mode.
//
// A Client is one connection. Its simple commands (Authenticate, ModeStream, Quit) are
// lock-step. Stream and IHave run the feeding engine: they pull offers from a Feeder,
// read articles through it, and hand every offer back to it exactly once with its
// Outcome, so that the caller can record each answer in its queue files.
//
// The engine follows innxmit where that is right and innfeed where innxmit is weak: a
// 431 is a deferral for the caller, not an immediate re-CHECK; no-CHECK mode uses
// innfeed's hysteresis; and the writer goes on writing while a separate goroutine reads
// the replies, so innd's Nagle-delayed replies (the stall that holds innxmit to some
// 720 refusals a second) do not slow the feed. Package nntptest provides a scriptable
// peer for tests and benchmarks.
package nntp
