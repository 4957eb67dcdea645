package commands

import "errors"

// MergeCmd is the "merge" subcommand. (Placeholder until its owner lands it.)
type MergeCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *MergeCmd) Run(g *Globals) error { return errors.New("merge: not implemented yet") }
