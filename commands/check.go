package commands

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"nxmit/config"
	"nxmit/nntp"
	"nxmit/spoolfmt"
)

// CheckCmd checks the setup: the files nxmit reads, each site's newsfeeds entry and
// the outgoing directory, and optionally each peer.
type CheckCmd struct {
	Sites   []string `arg:"" optional:"" name:"site" help:"Sites to check (default: every site of nxmit.conf)."`
	Connect bool     `help:"Also connect to each site's peer: greeting, AUTHINFO (when credentials are configured), MODE STREAM."`
}

// Help is shown under the subcommand's usage.
func (c *CheckCmd) Help() string {
	return `Reads inn.conf, nxmit.conf and passwd.nntp as the other commands do, then checks
for each site that INN's newsfeeds has its entry, writing the file nxmit reads
(SITE:patterns:Tf,Wnm: with an empty param), and that the outgoing directory is
writable. With --connect it also talks to each peer: the greeting, AUTHINFO when
credentials are configured, and MODE STREAM (then QUIT; nothing is offered).

One line per finding, "ok:", "warning:" or "error:" first. Run it as the user cron
runs nxmit as (news): permissions are checked for the user running it.

Exit status: 0 no errors (warnings allowed), 1 an error, 75 only a peer unreachable
for now (--connect).`
}

// checkFinding is one line of check's report and the exit status it calls for.
type checkFinding struct {
	status int // ExitOK for "ok" and "warning"
	level  string
	text   string
}

// checker collects findings.
type checker struct {
	findings []checkFinding
}

func (k *checker) ok(format string, args ...any) {
	k.findings = append(k.findings, checkFinding{ExitOK, "ok", fmt.Sprintf(format, args...)})
}

func (k *checker) warn(format string, args ...any) {
	k.findings = append(k.findings, checkFinding{ExitOK, "warning", fmt.Sprintf(format, args...)})
}

// fail records err, at the exit status it calls for (exit.go decides).
func (k *checker) fail(prefix string, err error) {
	st := Status(err)
	if st == ExitOK || st == ExitUsage {
		st = ExitError
	}
	k.findings = append(k.findings, checkFinding{st, "error", prefix + err.Error()})
}

// Run checks and prints the findings.
func (c *CheckCmd) Run(g *Globals) error {
	k := &checker{}
	c.check(g, k)
	statuses := make([]int, 0, len(k.findings))
	for _, f := range k.findings {
		fmt.Printf("%s: %s\n", f.level, f.text)
		statuses = append(statuses, f.status)
	}
	return worstStatus(statuses...)
}

func (c *CheckCmd) check(g *Globals, k *checker) {
	ic, err := g.InnConf()
	if err != nil {
		k.fail("", fmt.Errorf("%w (give INN's inn.conf with --innconf or $INNCONF)", err))
	} else {
		k.ok("inn.conf %s: pathetc %s, pathoutgoing %s", ic.Path, ic.PathEtc, ic.PathOutgoing)
	}
	conf, err := g.SiteConfig()
	if err != nil {
		k.fail("", err)
		return
	}
	sites := c.Sites
	if conf.Path != "" {
		if _, statErr := os.Stat(conf.Path); statErr != nil {
			k.warn("%s: absent: no sites configured (see docs/GUIDE.md)", conf.Path)
		} else {
			k.ok("%s: %d site(s): %s", conf.Path, len(conf.Sites), strings.Join(conf.SiteNames(), ", "))
		}
	}
	if len(sites) == 0 {
		sites = conf.SiteNames()
	}
	// The rest as the other commands see it: as INN's user when started as root.
	if err := g.dropRoot(); err != nil {
		k.fail("", err)
		return
	}
	c.checkPasswd(g, conf, ic, k)
	for _, err := range g.exposedSecrets(conf) {
		k.warn("%v", err)
	}

	dir, err := g.OutgoingDir()
	if err != nil {
		k.fail("", err)
	} else if err := checkWritableDir(dir); err != nil {
		k.fail("outgoing directory: ", err)
	} else {
		k.ok("outgoing directory %s: writable", dir)
	}

	var feeds *spoolfmt.Newsfeeds
	if ic != nil {
		if feeds, err = spoolfmt.LoadNewsfeeds(ic.PathEtc); err != nil {
			k.fail("", err)
		}
	}
	for _, site := range sites {
		if _, ok := conf.Site(site); !ok {
			k.warn("site %s: not in %s: the built-in defaults apply, host %s", site, conf.Path, site)
		}
		if feeds != nil {
			c.checkFeed(feeds, site, k)
		}
		if c.Connect {
			c.checkPeer(g, site, k)
		}
	}
}

// checkPasswd reads passwd.nntp as send does, when there is one.
func (c *CheckCmd) checkPasswd(g *Globals, conf *config.Config, ic *spoolfmt.InnConf, k *checker) {
	path := g.Passwd
	if path == "" {
		path = conf.Passwd
	}
	if path == "" && ic != nil {
		path = filepath.Join(ic.PathEtc, config.PasswdFileName)
	}
	if path == "" {
		return
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && g.Passwd == "" && conf.Passwd == "" {
		k.ok("%s: absent (no AUTHINFO credentials but nxmit.conf's)", path)
		return
	}
	if _, err := config.LoadPasswd(path); err != nil {
		k.fail("", err)
		return
	}
	k.ok("%s: readable", path)
}

// checkFeed checks the site's newsfeeds entry.
func (c *CheckCmd) checkFeed(feeds *spoolfmt.Newsfeeds, site string, k *checker) {
	e, ok := feeds.Entry(site)
	if !ok {
		k.fail("", fmt.Errorf("%s: site %s: no entry; innd writes no feed file for it (add \"%s:*,!junk,!control,!control.*:Tf,Wnm:\" and run ctlinnd reload newsfeeds 'nxmit')",
			feeds.Path, site, site))
		return
	}
	if p := e.FileFeedProblem(); p != "" {
		k.fail("", fmt.Errorf("%s:%d: site %s: %s", feeds.Path, e.Line, site, p))
		return
	}
	k.ok("%s:%d: site %s: %s", feeds.Path, e.Line, site, strings.Join(e.Flags, ","))
}

// checkPeer connects to the site's peer as send would, and leaves.
func (c *CheckCmd) checkPeer(g *Globals, site string, k *checker) {
	p, err := resolvePeer(g, site, config.Settings{})
	if err != nil {
		k.fail("site "+site+": ", err)
		return
	}
	// Every host of the site, as send may fall back on any of them.
	for _, addr := range p.Addrs() {
		c.checkHost(p, addr, k)
	}
}

// checkHost connects to one host of the site's peer as send would, and leaves.
func (c *CheckCmd) checkHost(p peer, addr string, k *checker) {
	site := p.Site
	prefix := fmt.Sprintf("site %s: peer %s: ", site, addr)
	ctx, cancel := context.WithTimeout(context.Background(), p.ConnectTimeout+p.ReplyTimeout)
	defer cancel()
	// The site's transport (TLS, source address, family) as send uses it: credentials
	// never cross in the clear to a TLS site here either.
	dial := p.Transport
	dial.DialTimeout, dial.ReplyTimeout = p.ConnectTimeout, p.ReplyTimeout
	cl, err := nntp.Dial(ctx, addr, dial)
	if err != nil {
		k.fail(prefix, err)
		return
	}
	defer cl.Close()
	steps := []string{fmt.Sprintf("greeting %d", cl.Greeting().Code)}
	if st, ok := cl.TLSConnectionState(); ok {
		steps = append(steps, "TLS "+tls.VersionName(st.Version))
	}
	if cred, from := p.credentialsFor(addr); cred.User != "" {
		if err := cl.Authenticate(cred.User, cred.Password); err != nil {
			k.fail(prefix, fmt.Errorf("AUTHINFO USER %s: %w (credentials from %s)", cred.User, err, from))
			return
		}
		steps = append(steps, "AUTHINFO accepted")
	}
	if !p.NoStream {
		ok, err := cl.ModeStream()
		switch {
		case err != nil:
			k.fail(prefix, fmt.Errorf("MODE STREAM: %w", err))
			return
		case ok:
			steps = append(steps, "streaming")
		default:
			steps = append(steps, "no streaming (IHAVE)")
		}
	}
	cl.Quit()
	k.ok("%s%s", prefix, strings.Join(steps, ", "))
}

// checkWritableDir reports whether the running user may create files in dir.
func checkWritableDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return fmt.Errorf("%s: not writable by this user (%w); run nxmit as the user innd runs as (news)", dir, err)
	}
	return nil
}
