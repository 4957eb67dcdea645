package commands

import "errors"

// InnxmitCmd is the "innxmit" subcommand. (Placeholder until its owner lands it.)
type InnxmitCmd struct {
	Args []string `arg:"" optional:"" help:"Arguments."`
}

// Run runs the subcommand.
func (c *InnxmitCmd) Run(g *Globals) error { return errors.New("innxmit: not implemented yet") }
