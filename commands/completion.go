package commands

import "errors"

// CompletionCmd is the "completion" subcommand. (Placeholder until its owner lands it.)
type CompletionCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *CompletionCmd) Run(g *Globals) error { return errors.New("completion: not implemented yet") }
