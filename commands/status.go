package commands

import "errors"

// StatusCmd is the "status" subcommand. (Placeholder until its owner lands it.)
type StatusCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *StatusCmd) Run(g *Globals) error { return errors.New("status: not implemented yet") }
