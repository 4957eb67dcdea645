package commands

import "errors"

// RotateCmd is the "rotate" subcommand. (Placeholder until its owner lands it.)
type RotateCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *RotateCmd) Run(g *Globals) error { return errors.New("rotate: not implemented yet") }
