package commands

import "errors"

// RequeueCmd is the "requeue" subcommand. (Placeholder until its owner lands it.)
type RequeueCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *RequeueCmd) Run(g *Globals) error { return errors.New("requeue: not implemented yet") }
