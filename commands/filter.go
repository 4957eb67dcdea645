package commands

import "errors"

// FilterCmd is the "filter" subcommand. (Placeholder until its owner lands it.)
type FilterCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *FilterCmd) Run(g *Globals) error { return errors.New("filter: not implemented yet") }
