package commands

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"nxmit/nntp"
	"nxmit/xmit"
)

// PeerFlags are the per-site transmission settings a command line may give. A zero value
// means "not given": the site configuration file, then the built-in default, applies.
type PeerFlags struct {
	Host           string        `help:"Peer host name or address (default: the site name)." placeholder:"HOST"`
	Port           int           `short:"P" help:"Peer NNTP port (default 119)." placeholder:"PORT"`
	Connections    int           `short:"c" help:"Parallel connections (default 4)." placeholder:"N"`
	Window         int           `short:"w" help:"Commands in flight per streaming connection (default 128)." placeholder:"N"`
	Check          string        `help:"CHECK before TAKETHIS: adaptive (innfeed's no-check hysteresis), always, or never." enum:",adaptive,always,never" default:""`
	NoStream       bool          `short:"s" help:"Do not try MODE STREAM; use IHAVE."`
	ConnectTimeout time.Duration `help:"Time to connect and read the greeting (default 30s)." placeholder:"DUR"`
	ReplyTimeout   time.Duration `help:"Time to wait for any reply (default 2m)." placeholder:"DUR"`
	User           string        `help:"AUTHINFO user (default: from passwd.nntp if it lists the host)." placeholder:"USER"`
	Password       string        `help:"AUTHINFO password." placeholder:"PASS"`
	MaxTime        time.Duration `short:"T" help:"Stop offering after this long; the rest stays queued." placeholder:"DUR"`
	MaxArticles    int64         `help:"Stop after this many articles; the rest stays queued." placeholder:"N"`
}

// peer is a site's resolved transmission settings.
type peer struct {
	Site, Host     string
	Port           int
	Connections    int
	Window         int
	Check          nntp.CheckMode
	NoStream       bool
	ConnectTimeout time.Duration
	ReplyTimeout   time.Duration
	User, Password string
	MaxTime        time.Duration
	MaxArticles    int64
}

// resolvePeer merges, by precedence, the command line, the site configuration file and the
// built-in defaults.
func resolvePeer(g *Globals, site string, f PeerFlags) (peer, error) {
	p := peer{
		Site:           site,
		Host:           site,
		Port:           119,
		Connections:    4,
		Window:         128,
		Check:          nntp.Adaptive,
		ConnectTimeout: 30 * time.Second,
		ReplyTimeout:   2 * time.Minute,
	}
	if f.Host != "" {
		p.Host = f.Host
	}
	if f.Port != 0 {
		p.Port = f.Port
	}
	if f.Connections != 0 {
		p.Connections = f.Connections
	}
	if f.Window != 0 {
		p.Window = f.Window
	}
	switch f.Check {
	case "always":
		p.Check = nntp.AlwaysCheck
	case "never":
		p.Check = nntp.NeverCheck
	}
	p.NoStream = p.NoStream || f.NoStream
	if f.ConnectTimeout != 0 {
		p.ConnectTimeout = f.ConnectTimeout
	}
	if f.ReplyTimeout != 0 {
		p.ReplyTimeout = f.ReplyTimeout
	}
	if f.User != "" {
		p.User, p.Password = f.User, f.Password
	}
	if f.MaxTime != 0 {
		p.MaxTime = f.MaxTime
	}
	if f.MaxArticles != 0 {
		p.MaxArticles = f.MaxArticles
	}
	if p.Port <= 0 || p.Port > 65535 {
		return p, usagef("site %s: port %d out of range", site, p.Port)
	}
	if p.Connections < 1 || p.Connections > 64 {
		return p, usagef("site %s: connections %d: want 1 to 64", site, p.Connections)
	}
	if p.Window < 1 || p.Window > 10000 {
		return p, usagef("site %s: window %d: want 1 to 10000", site, p.Window)
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
