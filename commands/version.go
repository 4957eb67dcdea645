package commands

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/alecthomas/kong"
)

// VersionCmd prints nxmit's version.
type VersionCmd struct{}

// Run prints the version line.
func (c *VersionCmd) Run() error {
	fmt.Println(Version())
	return nil
}

// Version describes this build from its build information: the module's version (a
// tag, or "(devel)" for a build from a work tree), the VCS revision and time, and
// whether the tree had changes, and the Go release, e.g.
// "nxmit (devel) revision 023516b8c1e2 2026-11-29T21:00:00Z modified, go1.26.0".
func Version() string {
	v := "nxmit"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v + " (no build information), " + runtime.Version()
	}
	v += " " + info.Main.Version
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		v += " revision " + rev[:min(len(rev), 12)]
		if t := settings["vcs.time"]; t != "" {
			v += " " + t
		}
		if settings["vcs.modified"] == "true" {
			v += " modified"
		}
	}
	return v + ", " + info.GoVersion
}

// HelpCmd is "nxmit help [COMMAND]": the same text as --help.
type HelpCmd struct {
	Command []string `arg:"" optional:"" name:"command" help:"The command to describe (default: all)."`
}

// Run prints the help of the command named (kong prints it and exits, as for --help).
// A command that does not exist is a slip of the command line, as "nxmit badcmd" is.
func (c *HelpCmd) Run(ctx *kong.Context) error {
	if _, err := ctx.Kong.Parse(append(append([]string{}, c.Command...), "--help")); err != nil {
		return usagef("help %s: %v; 'nxmit help' lists the commands", strings.Join(c.Command, " "), err)
	}
	return nil
}

// helpPrinter is kong's help, but the global flags are listed once, under nxmit's own
// help: a subcommand's help names them in one line instead of repeating them all.
func helpPrinter(options kong.HelpOptions, ctx *kong.Context) error {
	selected := ctx.Selected()
	if selected == nil {
		return kong.DefaultHelpPrinter(options, ctx)
	}
	root := ctx.Model.Node
	var hidden []*kong.Flag
	for _, f := range root.Flags {
		if !f.Hidden && f.Name != "help" {
			f.Hidden = true
			hidden = append(hidden, f)
		}
	}
	defer func() {
		for _, f := range hidden {
			f.Hidden = false
		}
	}()
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	var names []string
	for _, f := range hidden {
		names = append(names, "--"+f.Name)
	}
	fmt.Fprintf(ctx.Stdout, "\nGlobal flags (see 'nxmit --help'): %s.\n", strings.Join(names, ", "))
	return nil
}
