// Command nxmit transmits a news server's outgoing feeds to their peers over NNTP.
//
// It replaces INN's innxmit and the nntpsend/send-nntp cron wrappers: each subcommand does
// one bounded pass over a site's queue files in INN's outgoing directory and exits. Invoked
// under the name "innxmit" it behaves as innxmit, so nntpsend keeps working unchanged.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/alecthomas/kong"

	"nxmit/commands"
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
	cli.DropRoot = true
	parser, err := kong.New(&cli, commands.KongOptions()...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nxmit: %v\n", err)
		return commands.ExitError
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nxmit: %s\n", commands.FlagError(args, err))
		if ctx != nil {
			fmt.Fprintf(os.Stderr, "Run 'nxmit %s --help' for usage.\n", ctx.Command())
		}
		return commands.ExitUsage
	}
	if err := ctx.Run(&cli.Globals); err != nil {
		return report(err)
	}
	return commands.ExitOK
}

// report prints err on stderr, unless it has been reported already, and returns its exit
// status. commands/exit.go decides the statuses (README, "Exit statuses").
func report(err error) int {
	if !commands.Silent(err) {
		fmt.Fprintf(os.Stderr, "nxmit: %v\n", err)
	}
	return commands.Status(err)
}
