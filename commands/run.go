package commands

import "errors"

// RunCmd is the "run" subcommand. (Placeholder until its owner lands it.)
type RunCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *RunCmd) Run(g *Globals) error { return errors.New("run: not implemented yet") }
