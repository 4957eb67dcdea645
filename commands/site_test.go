package commands

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/config"
	"nxmit/nntp"
	"nxmit/xmit"
)

// siteEnv writes an inn.conf whose pathetc holds nxmit.conf and passwd.nntp.
func siteEnv(t *testing.T, conf, passwd string) *Globals {
	t.Helper()
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	os.Mkdir(etc, 0o755)
	innconf := filepath.Join(etc, "inn.conf")
	os.WriteFile(innconf, []byte("pathnews: "+dir+"\npathetc: "+etc+"\n"), 0o644)
	if conf != "" {
		os.WriteFile(filepath.Join(etc, "nxmit.conf"), []byte(conf), 0o644)
	}
	if passwd != "" {
		os.WriteFile(filepath.Join(etc, "passwd.nntp"), []byte(passwd), 0o644)
	}
	return &Globals{InnConfFile: innconf, LogIdent: "innxmit"}
}

func TestResolvePeerPrecedence(t *testing.T) {
	g := siteEnv(t, `
defaults {
    connections: 6
    window: 64
    check: always
    reply-timeout: 5m
}
site hub {
    host: news.hub.example
    connections: 8
    streaming: no
    user: cfguser
    password: cfgpass
}
site leaf {
    host: Leaf.Example
}
`, "# host:user:pass\nleaf.example:pwuser:pwpass\nnews.hub.example:x:y\n")

	hub, err := resolvePeer(g, "hub", sendFlags(t, "-w", "32", "-T", "60"))
	if err != nil {
		t.Fatal(err)
	}
	// Command line > site block > defaults block > built-in.
	if hub.Host != "news.hub.example" || hub.Port != 119 || hub.Connections != 8 || hub.Window != 32 ||
		hub.Check != nntp.AlwaysCheck || !hub.NoStream || hub.ReplyTimeout != 5*time.Minute ||
		hub.ConnectTimeout != 30*time.Second || hub.MaxTime != time.Minute {
		t.Errorf("hub: %+v", hub)
	}
	// Credentials in nxmit.conf win over passwd.nntp.
	if hub.User != "cfguser" || hub.Password != "cfgpass" {
		t.Errorf("hub credentials %q/%q", hub.User, hub.Password)
	}
	// passwd.nntp, host matched without regard to case.
	leaf, err := resolvePeer(g, "leaf", config.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if leaf.User != "pwuser" || leaf.Password != "pwpass" || leaf.Check != nntp.AlwaysCheck || leaf.NoStream {
		t.Errorf("leaf: %+v", leaf)
	}
	// The command line's credentials win over both.
	leaf, _ = resolvePeer(g, "leaf", sendFlags(t, "--user", "cli", "--password", "p", "--host", "other.example", "-P", "433", "--check", "never"))
	if leaf.User != "cli" || leaf.Host != "other.example" || leaf.Addr() != "other.example:433" || leaf.Check != nntp.NeverCheck {
		t.Errorf("leaf with flags: %+v", leaf)
	}
	// --passwd names another passwd.nntp.
	other := filepath.Join(t.TempDir(), "passwd.nntp")
	os.WriteFile(other, []byte("leaf.example:alt:altpass\n"), 0o644)
	g2 := *g
	g2.Passwd = other
	if leaf, err := resolvePeer(&g2, "leaf", config.Settings{}); err != nil || leaf.User != "alt" || leaf.Password != "altpass" {
		t.Errorf("--passwd: %+v %v", leaf, err)
	}
	// A site not in the file: the defaults, its name as host, no credentials.
	x, err := resolvePeer(g, "unlisted", config.Settings{})
	if err != nil || x.Host != "unlisted" || x.Connections != 6 || x.User != "" {
		t.Errorf("unlisted: %+v %v", x, err)
	}
	opt := hub.sendOptions()
	if opt.Addr != "news.hub.example:119" || opt.Connections != 8 || opt.Stream.Window != 32 || !opt.NoStream || opt.User != "cfguser" {
		t.Errorf("send options %+v", opt)
	}
}

func TestResolvePeerErrors(t *testing.T) {
	g := siteEnv(t, "site hub {\n  window: 0\n}\n", "")
	_, err := resolvePeer(g, "hub", config.Settings{})
	if err == nil || !strings.Contains(err.Error(), "nxmit.conf:2: window: 0 is out of range (1 to 10000)") {
		t.Errorf("config error: %v", err)
	}
	g = siteEnv(t, "", "")
	var usage *UsageError
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "500"}, "--connections: 500 is out of range (1 to 64)"},
		{[]string{"-c", "0"}, "--connections: 0 is out of range (1 to 64)"},
		{[]string{"-P", "0"}, "--port: 0 is out of range (1 to 65535)"},
		{[]string{"-w", "0"}, "--window: 0 is out of range (1 to 10000)"},
		{[]string{"--connect-timeout", "0"}, "--connect-timeout: must be more than 0"},
		{[]string{"--host", "a/b"}, `--host: invalid host "a/b"`},
	} {
		_, err := cmdFlags(t, append([]string{"send", "hub"}, c.args...)...)
		if !errors.As(err, &usage) || err.Error() != c.want {
			t.Errorf("%q: %v, want usage error %q", c.args, err, c.want)
		}
	}
	if _, err := resolvePeer(g, "../etc", config.Settings{}); !errors.As(err, &usage) {
		t.Errorf("bad site name: %v", err)
	}
	g = siteEnv(t, "", "h:u:p:kerberos\n")
	if _, err := resolvePeer(g, "h", config.Settings{}); err == nil || !strings.Contains(err.Error(), "passwd.nntp:1: unknown authentication style") {
		t.Errorf("passwd.nntp error: %v", err)
	}
	// An explicit --config that does not exist is an error; the default may be absent.
	g = siteEnv(t, "", "")
	if _, err := resolvePeer(g, "h", config.Settings{}); err != nil {
		t.Errorf("absent default nxmit.conf: %v", err)
	}
	g.Config = filepath.Join(t.TempDir(), "missing.conf")
	if _, err := resolvePeer(g, "h", config.Settings{}); err == nil {
		t.Error("missing --config: no error")
	}
}

// cmdFlags parses a command line as main does and returns its command's settings layer
// (flagSettings), the route every command's flags take over nxmit.conf.
func cmdFlags(t *testing.T, args ...string) (config.Settings, error) {
	t.Helper()
	_, ctx, err := parseArgs(t, args...)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return flagSettings(ctx.Selected().Target.Addr().Interface())
}

// sendFlags is the settings layer of "send SITE args...".
func sendFlags(t *testing.T, args ...string) config.Settings {
	t.Helper()
	s, err := cmdFlags(t, append([]string{"send", "x"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPasswdPerHost: a site of several hosts takes each host's own passwd.nntp line
// (none for a host without one), and a refusal or a demand for credentials names that
// host's line, or the line to add for it.
func TestPasswdPerHost(t *testing.T) {
	g := siteEnv(t, "site hub {\n    host: a.example b.example c.example\n}\n",
		"a.example:ua:pa\nB.Example:ub:pb\n")
	p, err := resolvePeer(g, "hub", config.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]xmit.Credentials{
		"a.example:119": {User: "ua", Password: "pa"},
		"b.example:119": {User: "ub", Password: "pb"},
		"c.example:119": {},
	}
	if got := p.sendOptions().HostCredentials; !maps.Equal(got, want) {
		t.Errorf("host credentials %v, want %v", got, want)
	}
	if p.User != "ua" {
		t.Errorf("the first host's user %q, want ua", p.User)
	}
	passwd := p.CredFrom.Passwd
	refused := &nntp.Error{Op: "AUTHINFO PASS", Reply: nntp.Reply{Code: 481, Text: "no"}}
	required := &nntp.Error{Op: "CHECK", Reply: nntp.Reply{Code: 480, Text: "auth"}}
	for _, tt := range []struct {
		ae   *xmit.AuthError
		want string
	}{
		{&xmit.AuthError{Addr: "b.example:119", User: "ub", Err: refused}, "refused user ub (481 no): correct the user and password in " + passwd + ":2"},
		{&xmit.AuthError{Addr: "c.example:119", Err: required}, "or a line c.example:USER:PASSWORD to " + passwd},
	} {
		if err := authHint(p, tt.ae); !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want %q", tt.ae.Addr, err, tt.want)
		}
	}
	// Credentials in nxmit.conf are the site's, for every host.
	g = siteEnv(t, "site hub {\n    host: a.example b.example\n    user: u\n    password: p\n}\n", "b.example:ub:pb\n")
	if p, err = resolvePeer(g, "hub", config.Settings{}); err != nil || p.sendOptions().HostCredentials != nil || p.User != "u" {
		t.Errorf("nxmit.conf's credentials: %+v, %v", p, err)
	}
}
