package commands

import (
	"fmt"
	"net"
	"net/netip"
	"os"
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
	Port           *int           `short:"P" help:"Peer NNTP port (default ${default_port}; ${default_tls_port} with --tls)." placeholder:"PORT" setting:"port"`
	Connections    *int           `short:"c" help:"Parallel connections to start with (default ${default_connections})." placeholder:"N" setting:"connections"`
	Window         *int           `short:"w" help:"Most commands in flight per streaming connection; the window adapts below it to the round trip (default ${default_window})." placeholder:"N" setting:"window"`
	FixedWindow    *bool          `help:"Keep the window at -w throughout instead of adapting it (default: nxmit.conf's fixed-window, else no)." negatable:"" setting:"fixed-window"`
	Check          *string        `help:"CHECK before TAKETHIS: adaptive (innfeed's no-check hysteresis, the default), always, or never." enum:"adaptive,always,never" placeholder:"MODE" setting:"check"`
	NoStream       bool           `short:"s" help:"Do not try MODE STREAM; use IHAVE." setting:"!streaming"`
	ConnectTimeout *time.Duration `help:"Time to connect and read the greeting (default ${default_connect_timeout})." placeholder:"DUR" setting:"connect-timeout"`
	ReplyTimeout   *time.Duration `help:"Time to wait for any reply (default ${default_reply_timeout})." placeholder:"DUR" setting:"reply-timeout"`
	User           *string        `help:"AUTHINFO user (default: the site's user in nxmit.conf, else passwd.nntp's entry for the host)." placeholder:"USER" setting:"user"`
	Password       *string        `help:"AUTHINFO password." placeholder:"PASS" setting:"password"`
	MaxTime        *time.Duration `short:"T" help:"Stop offering after this long; the rest stays queued." placeholder:"DUR" setting:"max-time"`
	MaxArticles    *int64         `help:"Stop after this many articles; the rest stays queued." placeholder:"N" setting:"max-articles"`
	ArticleLog     *string        `help:"Append a line per article's outcome to FILE; %Y%m%d in the name starts a new file each day (default: nxmit.conf's article-log, else none)." placeholder:"FILE" setting:"article-log"`

	TLS           *bool   `help:"Implicit TLS (NNTPS) from the first byte; the port defaults to ${default_tls_port}." setting:"tls"`
	StartTLS      *string `name:"starttls" help:"STARTTLS after the greeting (RFC 4642): yes (a refusal is an error), optional, or no." enum:"yes,no,optional" placeholder:"MODE" setting:"starttls"`
	TLSCA         *string `name:"tls-ca" help:"PEM file of the authorities that sign the peer's certificate (default: the system's)." placeholder:"FILE" type:"path" setting:"tls-ca"`
	TLSServerName *string `name:"tls-server-name" help:"Name the peer's certificate must carry (default: the host)." placeholder:"NAME" setting:"tls-server-name"`
	TLSCert       *string `name:"tls-cert" help:"PEM client certificate, for peers that authenticate feeds by certificate." placeholder:"FILE" type:"path" setting:"tls-cert"`
	TLSKey        *string `name:"tls-key" help:"PEM key of --tls-cert." placeholder:"FILE" type:"path" setting:"tls-key"`
	NoTLSVerify   bool    `name:"no-tls-verify" help:"Do not verify the peer's certificate (warns on every pass)." setting:"!tls-verify"`
	BindAddress   *string `help:"Source address: an IPv4 address, an IPv6 address, or one of each." placeholder:"ADDR" setting:"bind-address"`
	Family        *string `help:"Address family of the peer's addresses: any, ipv4 or ipv6." enum:"any,ipv4,ipv6" placeholder:"FAMILY" setting:"family"`
	MaxRate       *string `help:"Cap on the bytes per second of all the site's connections together (k, m suffixes)." placeholder:"RATE" setting:"max-rate"`

	// MaxSiteConnections is the cap of the connections added while the peer keeps up
	// (xmit's conns.go).
	MaxSiteConnections *int `help:"Most connections a pass grows to while the backlog is deep and the peer keeps up; equal to -c, the number stays fixed (default ${default_max_site_conns})." placeholder:"N" setting:"max-site-connections"`
}

// peer is a site's resolved settings (the queue settings, compress, rotation and retry
// delay, included), with the credentials from passwd.nntp when the configuration gives
// none, and the check mode as nntp takes it.
type peer struct {
	Site string
	config.Settings
	Check    nntp.CheckMode // shadows Settings.Check, its text form
	NoStream bool
	Host     string   // shadows Settings.Host: the first of Hosts
	Hosts    []string // Settings.Host's hosts, tried in order
	// Transport holds the TLS, address and rate settings (timeouts are added by
	// sendOptions). Its session cache and rate limiter are shared by one pass.
	Transport nntp.Config
	// CredFrom says where User and Password came from ("--user", "FILE:LINE"), or
	// where they could have been given, for the message when the peer refuses them.
	CredFrom credSource
	// HostCreds, when the credentials come from passwd.nntp, are each host's own, by
	// dial address (an empty user: the host has no line); User and Password are the
	// first host's.
	HostCreds map[string]hostCred
}

// hostCred is one host's AUTHINFO credentials and the passwd.nntp line they came from.
type hostCred struct {
	xmit.Credentials
	Given string // "FILE:LINE"; "" when passwd.nntp has no line for the host
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
	s := conf.ResolveWith(site, cmd)
	p := peer{Site: site, Settings: s, NoStream: !s.Streaming}
	switch s.Check {
	case "always":
		p.Check = nntp.AlwaysCheck
	case "never":
		p.Check = nntp.NeverCheck
	default:
		p.Check = nntp.Adaptive
	}
	if p.Transport, err = transport(s); err != nil {
		return p, err
	}
	p.Hosts = s.Hosts()
	if len(p.Hosts) > 0 {
		p.Host = p.Hosts[0]
	}
	p.CredFrom.Config, p.CredFrom.Site = conf.Path, site
	switch {
	case cmd.IsSet("user"):
		p.CredFrom.Given = "--user"
	case s.IsSet("user") || s.IsSet("password"):
		p.CredFrom.Given = orWord(conf.Where(site, "user"), conf.Where(site, "password"))
	default:
		// Each host has its own line in passwd.nntp, as for innxmit, which is given
		// one host: a host tried after the first must not be offered the first's.
		pw, path, err := g.loadPasswd(conf)
		if err != nil {
			return p, err
		}
		p.CredFrom.Passwd = path
		p.HostCreds = make(map[string]hostCred, len(p.Hosts))
		for i, addr := range p.Addrs() {
			var hc hostCred
			if cred, ok := pw.Lookup(p.Hosts[i]); ok {
				hc = hostCred{xmit.Credentials{User: cred.User, Password: cred.Password}, fmt.Sprintf("%s:%d", path, cred.Line)}
			}
			p.HostCreds[addr] = hc
			if i == 0 {
				p.User, p.Password, p.CredFrom.Given = hc.User, hc.Password, hc.Given
			}
		}
	}
	return p, nil
}

// Addr is the peer's dial address.
func (p peer) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// Addrs are the dial addresses of all the peer's hosts, in order.
func (p peer) Addrs() []string {
	addrs := make([]string, len(p.Hosts))
	for i, h := range p.Hosts {
		addrs[i] = net.JoinHostPort(h, strconv.Itoa(p.Port))
	}
	return addrs
}

// transport turns the site's TLS, address and rate settings into the client's.
func transport(s config.Settings) (nntp.Config, error) {
	var c nntp.Config
	var err error
	if c.Network, err = nntp.ParseNetwork(s.Family); err != nil {
		return c, err
	}
	for _, a := range config.SplitList(s.BindAddress) {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return c, fmt.Errorf("bind-address: %w", err)
		}
		c.LocalAddrs = append(c.LocalAddrs, ip)
	}
	if s.MaxRate > 0 {
		c.Limiter = nntp.NewRateLimiter(s.MaxRate)
	}
	switch s.StartTLS {
	case "yes":
		c.StartTLS = nntp.RequireStartTLS
	case "optional":
		c.StartTLS = nntp.OptionalStartTLS
	}
	if s.UsesTLS() {
		c.TLS, err = nntp.NewTLSConfig(nntp.TLSOptions{
			CAFile: s.TLSCA, ServerName: s.TLSServerName,
			CertFile: s.TLSCert, KeyFile: s.TLSKey, NoVerify: !s.TLSVerify,
		})
	}
	return c, err
}

func (p peer) sendOptions() xmit.Options {
	dial := p.Transport
	dial.DialTimeout, dial.ReplyTimeout = p.ConnectTimeout, p.ReplyTimeout
	opt := xmit.Options{
		Addr:            p.Addr(),
		Addrs:           p.Addrs(),
		Dial:            dial,
		User:            p.User,
		Password:        p.Password,
		Connections:     p.Connections,
		HostCredentials: p.hostCredentials(),
		Stream:          nntp.StreamConfig{Window: p.Window, Fixed: p.FixedWindow, Mode: p.Check},
		NoStream:        p.NoStream,
		MaxTime:         p.MaxTime,
		MaxArticles:     p.MaxArticles,
		Command:         fmt.Sprintf("nxmit send %s", p.Site),
	}
	opt.MaxConnections = p.MaxSiteConnections
	return opt
}

// credentialsFor returns the AUTHINFO credentials send offers the host at addr, and
// where they came from ("" when there are none).
func (p peer) credentialsFor(addr string) (xmit.Credentials, string) {
	if hc, ok := p.HostCreds[addr]; ok {
		return hc.Credentials, hc.Given
	}
	return xmit.Credentials{User: p.User, Password: p.Password}, p.CredFrom.Given
}

// hostCredentials are the credentials of each host, for xmit; nil when they are the
// site's (nxmit.conf, --user).
func (p peer) hostCredentials() map[string]xmit.Credentials {
	if p.HostCreds == nil {
		return nil
	}
	m := make(map[string]xmit.Credentials, len(p.HostCreds))
	for addr, hc := range p.HostCreds {
		m[addr] = hc.Credentials
	}
	return m
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

// passwdPath is the passwd.nntp to read: --passwd, else the file's "passwd" parameter,
// else PATHETC/passwd.nntp; "" without inn.conf.
func (g *Globals) passwdPath(conf *config.Config) string {
	if g.Passwd != "" {
		return g.Passwd
	}
	if conf.Passwd != "" {
		return conf.Passwd
	}
	ic, err := g.InnConf()
	if err != nil {
		return ""
	}
	return filepath.Join(ic.PathEtc, config.PasswdFileName)
}

// warnExposedSecrets warns on stderr when passwd.nntp, or nxmit.conf holding a password,
// may be read by every user.
func (g *Globals) warnExposedSecrets(conf *config.Config) {
	for _, err := range g.exposedSecrets(conf) {
		fmt.Fprintf(os.Stderr, "nxmit: warning: %v\n", err)
	}
}

// exposedSecrets says which of passwd.nntp, and nxmit.conf when it holds a password, may
// be read by every user (status and check warn).
func (g *Globals) exposedSecrets(conf *config.Config) []error {
	var files []string
	if p := g.passwdPath(conf); p != "" {
		if pw, err := config.LoadPasswd(p); err == nil && pw.HoldsPassword() {
			files = append(files, p)
		}
	}
	if conf.Path != "" && conf.HoldsPassword() {
		files = append(files, conf.Path)
	}
	var errs []error
	for _, f := range files {
		if err := config.CheckSecretFile(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// loadPasswd reads passwd.nntp (--passwd, else the file's "passwd" parameter, else
// PATHETC/passwd.nntp) and returns the file's path too. Without inn.conf there is no
// default passwd.nntp: it returns an empty one and no path.
func (g *Globals) loadPasswd(conf *config.Config) (*config.Passwd, string, error) {
	path := g.passwdPath(conf)
	if path == "" {
		return &config.Passwd{}, "", nil
	}
	pw, err := config.LoadPasswd(path)
	if err != nil {
		return nil, path, passwdHint(err)
	}
	return pw, path, nil
}
