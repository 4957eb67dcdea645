// Package reliability holds nxmit's reliability suite: tests that try hard to make nxmit
// lose, duplicate or silently drop articles, and check that it does none of these.
//
// It has no code of its own: everything is in its _test.go files, which drive the real
// nxmit binary (built once per test process) against real innd instances
// (internal/innlab), a scripted peer with injected faults (nntp/nntptest), small
// size-limited file systems, and each other. The scenarios, what must hold in each and
// the figures measured are in docs/RELIABILITY.md.
//
// The suite has two modes. By default (and in CI) it is sized to take a few minutes in
// all on a 2-core machine, yet already meets the issue that asked for it: the crash soak
// kills `nxmit send` 50 times during a 20,000-article transmission (2 KB articles), the
// compressed-backlog soak 20 times during 5,000, and the concurrency test runs for 60
// seconds. NXMIT_SOAK=full makes it longer and harder: 200 kills during 20,000 articles
// of a real feed's sizes (1 KB to 2 MB, 1.5 GB in all), 100 kills of the compressed
// soak over 20,000, and 5 minutes of concurrent send, rotate, requeue and merge:
//
//	NXMIT_SOAK=full go test -run 'Soak|Concurrent' -timeout 60m -v ./reliability
//
// NXMIT_SOAK_SEED=N replays the random choices of a run (each test logs its seed), and
// NXMIT_RELIABILITY_REPORT=FILE appends one line per scenario with the figures measured,
// from which the table in docs/RELIABILITY.md is made.
//
// The real-INN tests need root (or user news) and Debian's inn2, as internal/innlab
// explains; without them they are skipped, except under CI=true, where they fail.
// The disk-full tests mount small tmpfs file systems and need root for that.
package reliability
