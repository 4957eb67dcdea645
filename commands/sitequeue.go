package commands

import (
	"fmt"
	"os"
	"slices"
	"strings"

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
			return q, config.Builtin(), knownSite(q, nil, "")
		}
	}
	conf, err := g.SiteConfig()
	if err != nil {
		return q, config.Settings{}, err
	}
	q.OtherSites = otherSites(conf.SiteNames(), site)
	return q, conf.Resolve(site), knownSite(q, conf.SiteNames(), conf.Path)
}

// knownSite refuses a site that is neither configured nor has queue files: a mistyped
// name must neither succeed silently nor leave lock files behind, so this is checked
// before any lock is taken. configFile is where the sites were looked for ("" when
// there is no configuration).
func knownSite(q batch.Queue, configured []string, configFile string) error {
	if slices.Contains(configured, q.Site) {
		return nil
	}
	has, err := q.HasFiles()
	if err != nil {
		return fmt.Errorf("site %s: %w", q.Site, err)
	}
	if has {
		return nil
	}
	list := "none"
	if len(configured) > 0 {
		list = strings.Join(configured, ", ")
	}
	where := "no queue files in " + q.Dir
	if configFile != "" {
		where = "not in " + configFile + ", " + where
	}
	return usagef("no site '%s' (%s); configured: %s", q.Site, where, list)
}

// knownSites is knownSite for each of several sites, checked before any is worked on.
func knownSites(g *Globals, sites []string, conf *config.Config) error {
	var configured []string
	var file string
	if conf != nil {
		configured, file = conf.SiteNames(), conf.Path
	}
	for _, s := range sites {
		q, err := g.Queue(s)
		if err != nil {
			return err
		}
		if err := knownSite(q, configured, file); err != nil {
			return err
		}
	}
	return nil
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

// nothingQueued says, for -v, why a send pass had nothing to do: no backlog, and
// perhaps deferrals still waiting for their retry delay.
func nothingQueued(q batch.Queue) string {
	msg := "nothing queued"
	if d, err := q.Deferrals(); err == nil && len(d) > 0 {
		msg += fmt.Sprintf(" (%d deferral file(s) wait for the retry delay)", len(d))
	}
	return msg
}

// heldBy says why the site is not sent to, or "": 'nxmit hold' (the S.hold marker) or
// "hold: yes" in nxmit.conf (where says FILE:LINE).
func heldBy(q batch.Queue, s config.Settings, where string) string {
	if held, note := q.Held(); held {
		return fmt.Sprintf("held (%s); 'nxmit release %s' resumes sending", orWord(note, "nxmit hold"), q.Site)
	}
	if s.Hold {
		return fmt.Sprintf("held by hold: yes (%s); remove it to resume sending", orWord(where, "nxmit.conf"))
	}
	return ""
}
