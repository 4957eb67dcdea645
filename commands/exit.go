package commands

import (
	"errors"
	"fmt"
)

// Exit statuses shared by every subcommand (README, "Exit statuses"). This file is the one
// place where errors become exit statuses: main calls Status, and commands that handle
// several sites combine their statuses with worseStatus.
const (
	ExitOK        = 0
	ExitError     = 1
	ExitUsage     = 2
	ExitTemporary = 75 // EX_TEMPFAIL: locked, peer unreachable, flush failed, pass interrupted; cron retries
)

// ExitStatus is an error that carries an exit status and has already been reported
// (or needs no words, such as innxmit's own statuses).
type ExitStatus int

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// UsageError is a command line that parsed but does not make sense; it exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Silent reports whether err is an ExitStatus: already reported, nothing to print.
func Silent(err error) bool {
	var silent ExitStatus
	return errors.As(err, &silent)
}

// Status maps err to the process exit status: an ExitStatus carries its own, a
// UsageError is 2, an error that says it is temporary (a held lock, an unreachable or
// throttled peer, a failed flush: cron simply runs the pass again) is 75, any other 1.
func Status(err error) int {
	if err == nil {
		return ExitOK
	}
	var silent ExitStatus
	if errors.As(err, &silent) {
		return int(silent)
	}
	var usage *UsageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	if isTemporary(err) {
		return ExitTemporary
	}
	return ExitError
}

// isTemporary reports whether err says it is temporary.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// worseStatus orders exit statuses by how much attention they need: usage, error,
// temporary, success. With several sites, every site is handled and the worst wins.
func worseStatus(a, b int) int {
	rank := func(s int) int {
		switch s {
		case ExitOK:
			return 0
		case ExitTemporary:
			return 1
		case ExitError:
			return 2
		}
		return 3
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// worstStatus returns the worst of several sites' exit statuses as an error: nil when
// all succeeded, else an ExitStatus (each site's problem has already been reported).
func worstStatus(statuses ...int) error {
	worst := ExitOK
	for _, s := range statuses {
		worst = worseStatus(worst, s)
	}
	if worst != ExitOK {
		return ExitStatus(worst)
	}
	return nil
}
