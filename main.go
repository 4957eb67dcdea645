// Command nxmit transmits a news server's outgoing feeds to their peers over NNTP.
//
// It replaces INN's innxmit and the nntpsend/send-nntp cron wrappers: each subcommand does
// one bounded pass over a site's queue files in INN's outgoing directory and exits. Invoked
// under the name "innxmit" it behaves as innxmit, so nntpsend keeps working unchanged.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/alecthomas/kong"

	"nxmit/commands"
)

// Exit statuses shared by every subcommand (see DESIGN.md).
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitTemporary = 75 // EX_TEMPFAIL: locked, peer unreachable, flush failed; cron retries
)

func main() {
	// A soft limit, not a cap: nxmit streams and stays far below it, but on a loaded
	// machine the collector can fall behind a long run of short-lived garbage (a backlog
	// of expired articles); this makes it catch up before the heap grows.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) == "innxmit" {
		args = append([]string{"innxmit"}, args...)
	}
	os.Exit(run(args))
}

// run parses args and runs the selected subcommand, returning the process exit status.
func run(args []string) int {
	var cli commands.CLI
	parser, err := kong.New(&cli, commands.KongOptions()...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nxmit: %v\n", err)
		return exitError
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nxmit: %v\n", err)
		if ctx != nil {
			fmt.Fprintf(os.Stderr, "Run 'nxmit %s --help' for usage.\n", ctx.Command())
		}
		return exitUsage
	}
	if err := ctx.Run(&cli.Globals); err != nil {
		return report(err)
	}
	return exitOK
}

// report prints err on stderr and maps it to an exit status. This is the one place where
// errors become exit codes.
func report(err error) int {
	var silent commands.ExitStatus
	if errors.As(err, &silent) {
		return int(silent)
	}
	fmt.Fprintf(os.Stderr, "nxmit: %v\n", err)
	var usage *commands.UsageError
	if errors.As(err, &usage) {
		return exitUsage
	}
	if isTemporary(err) {
		return exitTemporary
	}
	return exitError
}

// isTemporary reports whether err says it is temporary: a held lock, an unreachable or
// throttled peer, a failed flush. Cron simply runs the pass again.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
