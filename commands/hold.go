package commands

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"
)

// HoldCmd pauses sending to a site without touching its block in nxmit.conf.
type HoldCmd struct {
	Site   string   `arg:"" help:"Site to pause."`
	Reason []string `arg:"" optional:"" help:"Why, shown by status (e.g. peer migrating until Monday)."`
}

// Help is shown under the subcommand's usage.
func (c *HoldCmd) Help() string {
	return `Pauses sending to the site: send and run leave its backlogs alone (run still rotates
its feed file and requeues its deferrals, so nothing piles up in innd's file) until
'nxmit release SITE'. The hold is the file S.hold in the outgoing directory; status
shows it with who held the site, when and why. "hold: yes" in the site's block of
nxmit.conf holds it too, for as long as it is there.`
}

// Run holds the site.
func (c *HoldCmd) Run(g *Globals) error {
	q, _, err := siteQueue(g, c.Site)
	if err != nil {
		return err
	}
	who := "root"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	note := fmt.Sprintf("held by %s since %s", who, time.Now().Format("Jan _2 15:04"))
	if r := strings.Join(c.Reason, " "); r != "" {
		note += ": " + r
	}
	if err := q.Hold(note); err != nil {
		return err
	}
	if g.Verbose {
		fmt.Fprintf(os.Stderr, "hold %s: %s\n", c.Site, note)
	}
	return nil
}

// ReleaseCmd resumes sending to a held site.
type ReleaseCmd struct {
	Site string `arg:"" help:"Site to resume."`
}

// Help is shown under the subcommand's usage.
func (c *ReleaseCmd) Help() string {
	return `Removes the hold 'nxmit hold SITE' put on the site; the next send or run sends its
backlogs again. A site held by "hold: yes" in nxmit.conf stays held until that line
goes (this command says so).`
}

// Run releases the site.
func (c *ReleaseCmd) Run(g *Globals) error {
	q, s, err := siteQueue(g, c.Site)
	if err != nil {
		return err
	}
	released, err := q.Release()
	if err != nil {
		return err
	}
	if s.Hold {
		where := "nxmit.conf"
		if conf, err := g.SiteConfig(); err == nil {
			where = orWord(conf.Where(c.Site, "hold"), conf.Path)
		}
		return fmt.Errorf("site %s is still held by hold: yes in %s; remove that line to resume sending", c.Site, where)
	}
	if !released {
		fmt.Fprintf(os.Stderr, "nxmit: release %s: the site was not held\n", c.Site)
	}
	return nil
}
