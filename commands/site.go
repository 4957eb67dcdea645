package commands

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"nxmit/batch"
	"nxmit/config"
	"nxmit/linefilter"
	"nxmit/nntp"
	"nxmit/spoolfmt"
	"nxmit/xmit"
)

// PeerFlags are the per-site transmission settings a command line may give, each a
// parameter of nxmit.conf (the setting tag, see flags.go). A nil pointer means "not
// given": the site configuration file, then the built-in default, applies.
type PeerFlags struct {
	Host           *string        `help:"Peer host name or address (default: the site name)." placeholder:"HOST" setting:"host"`
	Port           *int           `short:"P" help:"Peer NNTP port (default ${default_port})." placeholder:"PORT" setting:"port"`
	Connections    *int           `short:"c" help:"Parallel connections (default ${default_connections})." placeholder:"N" setting:"connections"`
	Window         *int           `short:"w" help:"Commands in flight per streaming connection (default ${default_window})." placeholder:"N" setting:"window"`
	Check          *string        `help:"CHECK before TAKETHIS: adaptive (innfeed's no-check hysteresis, the default), always, or never." enum:"adaptive,always,never" placeholder:"MODE" setting:"check"`
	NoStream       bool           `short:"s" help:"Do not try MODE STREAM; use IHAVE." setting:"!streaming"`
	ConnectTimeout *time.Duration `help:"Time to connect and read the greeting (default ${default_connect_timeout})." placeholder:"DUR" setting:"connect-timeout"`
	ReplyTimeout   *time.Duration `help:"Time to wait for any reply (default ${default_reply_timeout})." placeholder:"DUR" setting:"reply-timeout"`
	User           *string        `help:"AUTHINFO user (default: the site's user in nxmit.conf, else passwd.nntp's entry for the host)." placeholder:"USER" setting:"user"`
	Password       *string        `help:"AUTHINFO password." placeholder:"PASS" setting:"password"`
	MaxTime        *time.Duration `short:"T" help:"Stop offering after this long; the rest stays queued." placeholder:"DUR" setting:"max-time"`
	MaxArticles    *int64         `help:"Stop after this many articles; the rest stays queued." placeholder:"N" setting:"max-articles"`
	ArticleLog     *string        `help:"Append a line per article's outcome to FILE; %Y%m%d in the name starts a new file each day (default: nxmit.conf's article-log, else none)." placeholder:"FILE" setting:"article-log"`
}

// peer is a site's resolved settings (the queue settings, compress, rotation and retry
// delay, included), with the credentials from passwd.nntp when the configuration gives
// none, and the check mode as nntp takes it.
type peer struct {
	Site string
	config.Settings
	Check    nntp.CheckMode // shadows Settings.Check, its text form
	NoStream bool
}

// resolvePeer merges, by precedence, the command line (cmd, from flagSettings), the site's block and the
// defaults block of the site configuration file, and the built-in defaults. AUTHINFO
// credentials not given either way come from passwd.nntp, as for innxmit.
func resolvePeer(g *Globals, site string, cmd config.Settings) (peer, error) {
	if err := batch.SiteNameError(site); err != nil {
		return peer{}, usagef("%v", err)
	}
	conf, err := g.SiteConfig()
	if err != nil {
		return peer{}, err
	}
	s := conf.Resolve(site).Merge(cmd)
	p := peer{Site: site, Settings: s, NoStream: !s.Streaming}
	switch s.Check {
	case "always":
		p.Check = nntp.AlwaysCheck
	case "never":
		p.Check = nntp.NeverCheck
	default:
		p.Check = nntp.Adaptive
	}
	if !s.IsSet("user") && !s.IsSet("password") {
		cred, ok, err := g.passwdEntry(conf, p.Host)
		if err != nil {
			return p, err
		}
		if ok {
			p.User, p.Password = cred.User, cred.Password
		}
	}
	return p, nil
}

// Addr is the peer's dial address.
func (p peer) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

func (p peer) sendOptions() xmit.Options {
	return xmit.Options{
		Addr:        p.Addr(),
		Dial:        nntp.Config{DialTimeout: p.ConnectTimeout, ReplyTimeout: p.ReplyTimeout},
		User:        p.User,
		Password:    p.Password,
		Connections: p.Connections,
		Stream:      nntp.StreamConfig{Window: p.Window, Mode: p.Check},
		NoStream:    p.NoStream,
		MaxTime:     p.MaxTime,
		MaxArticles: p.MaxArticles,
		Command:     fmt.Sprintf("nxmit send %s", p.Site),
	}
}

// shaper returns the site's feed shaping (delay, hashfeed, max-crosspost, max-hops,
// max-size) as a line filter over store, or nil when the site takes its whole feed.
func (p peer) shaper(store *spoolfmt.Store) (*linefilter.Filter, error) {
	s := p.Settings
	opt := linefilter.Options{
		MinAge:       s.Delay,
		MaxCrosspost: s.MaxCrosspost,
		MaxHops:      s.MaxHops,
		MaxSize:      s.MaxSize,
		Spool:        store,
	}
	if s.HashFeed != "" {
		h, err := linefilter.ParseHashFeed(s.HashFeed)
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", p.Site, err)
		}
		opt.Hash = h
	}
	if !opt.Shapes() {
		return nil, nil
	}
	return linefilter.New(opt)
}

// SiteConfig returns nxmit's site configuration: --config (or $NXMIT_CONFIG), which
// must exist, else PATHETC/nxmit.conf, which may be absent (no sites configured).
func (g *Globals) SiteConfig() (*config.Config, error) {
	path, optional := g.Config, false
	if path == "" {
		conf, err := g.InnConf()
		if err != nil {
			return nil, fmt.Errorf("site configuration: %w (give INN's inn.conf with --innconf or $INNCONF, or nxmit.conf with --config)", err)
		}
		path, optional = filepath.Join(conf.PathEtc, config.FileName), true
	}
	lc := g.init()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.siteConf != nil && lc.siteConfPath == path {
		return lc.siteConf, nil
	}
	c, err := config.Load(path, optional)
	if err != nil {
		return nil, err
	}
	if c.Path == "" {
		c.Path = path // absent: messages still say where it was looked for
	}
	lc.siteConfPath, lc.siteConf = path, c
	return c, nil
}

// passwdEntry looks host up in passwd.nntp (--passwd, else the file's "passwd"
// parameter, else PATHETC/passwd.nntp). Without inn.conf there is no default
// passwd.nntp to read.
func (g *Globals) passwdEntry(conf *config.Config, host string) (config.Credential, bool, error) {
	path := g.Passwd
	if path == "" {
		path = conf.Passwd
	}
	if path == "" {
		ic, err := g.InnConf()
		if err != nil {
			return config.Credential{}, false, nil
		}
		path = filepath.Join(ic.PathEtc, config.PasswdFileName)
	}
	pw, err := config.LoadPasswd(path)
	if err != nil {
		return config.Credential{}, false, err
	}
	c, ok := pw.Lookup(host)
	return c, ok, nil
}
