package commands

import (
	"fmt"
	"os"

	"nxmit/batch"
	"nxmit/config"
)

// siteQueue returns the site's queue, knowing the other configured sites (whose files
// stay out of this site's listings), and its settings from nxmit.conf, or the built-in
// ones when there is no configuration to read (no --config, no inn.conf).
func siteQueue(g *Globals, site string) (batch.Queue, config.Settings, error) {
	q, err := g.Queue(site)
	if err != nil {
		return q, config.Settings{}, err
	}
	if g.Config == "" {
		if _, err := g.InnConf(); err != nil {
			return q, config.Builtin(), nil
		}
	}
	conf, err := g.SiteConfig()
	if err != nil {
		return q, config.Settings{}, err
	}
	q.OtherSites = otherSites(conf.SiteNames(), site)
	return q, conf.Resolve(site), nil
}

// stderrWarn prints each problem on its own line: "nxmit: WHAT: FILE:LINE: reason".
func stderrWarn(what string) func(error) {
	return func(err error) { fmt.Fprintf(os.Stderr, "nxmit: %s: %v\n", what, err) }
}

// otherSites returns all but site: the sites whose queue files stay out of site's
// listings.
func otherSites(all []string, site string) []string {
	var out []string
	for _, s := range all {
		if s != site {
			out = append(out, s)
		}
	}
	return out
}
