package commands

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/internal/innlab"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// TestTransportSettings runs nxmit as cron would against a real innd behind stunnel4:
// the site has two hosts (the first, ::1, refuses connections), implicit TLS with the
// lab's CA and a rate cap. The feed is delivered through the second host, the statistics
// name it, and status shows the cap. A CA that did not sign the peer's certificate then
// fails the pass with exit status 1 (not 75: retrying will not help) and one line, and
// the backlog stays queued.
func TestTransportSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	l := newOpLab(t)
	ca := nntptest.NewCA(t, "nxmit lab CA")
	other := nntptest.NewCA(t, "unrelated CA")
	_, certFile, keyFile := ca.WriteFiles(t, t.TempDir(), "peer", ca.Issue(t, nntptest.LeafOptions{}))
	tunnel := innlab.StartStunnel(t, l.receiver.Addr, certFile, keyFile)
	_, port, _ := net.SplitHostPort(tunnel.Addr)
	caFile := filepath.Join(l.sender.PathEtc, "peer-ca.pem")
	otherFile := filepath.Join(l.sender.PathEtc, "other-ca.pem")
	os.WriteFile(caFile, ca.CertPEM, 0o644)
	os.WriteFile(otherFile, other.CertPEM, 0o644)
	l.writeConfig(fmt.Sprintf(`site peer {
    host: ::1 127.0.0.1
    port: %s
    tls: yes
    tls-ca: %s
    max-rate: 10m
    rotate-min-size: 0
    rotate-max-age: 0
}
`, port, caFile))

	mids := l.inject(100)
	_, stderr, status := l.nxmit("run")
	if status != 0 {
		t.Fatalf("run: status %d, stderr %q", status, stderr)
	}
	t.Logf("stderr: %s", stderr)
	if !strings.Contains(stderr, "[::1]:"+port+": ") || !strings.Contains(stderr, "trying the next host") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr should say once that the first host failed: %q", stderr)
	}
	if m := l.missing(mids); len(m) > 0 {
		t.Errorf("%d articles not delivered", len(m))
	}
	l.syslog.Wait(1, 5*time.Second)
	stats := l.statsLines()
	// Labelled by site (issue 13: two sites on one host must stay apart in innreport).
	if len(stats) != 1 || !strings.HasPrefix(stats[0].Text, "peer stats offered 100 accepted 100 ") {
		t.Errorf("stats lines %+v, want one labelled peer", stats)
	}
	out, _, status := l.nxmit("status", "peer")
	if status != 0 || !strings.Contains(out, "peer: sending at most 10M/s (max-rate)") {
		t.Errorf("status (%d) does not show the cap:\n%s", status, out)
	}
	out, _, _ = l.nxmit("status", "--json", "peer")
	if !strings.Contains(out, `"max_rate": 10485760`) || !strings.Contains(out, `"tls": "tls"`) {
		t.Errorf("status --json:\n%s", out)
	}

	// check --connect tries every host with the site's TLS settings.
	out, _, _ = l.nxmit("check", "--connect")
	if !strings.Contains(out, "site peer: peer 127.0.0.1:"+port+": greeting 200, TLS TLS 1.3") ||
		!strings.Contains(out, "[::1]:"+port) {
		t.Errorf("check --connect:\n%s", out)
	}

	mids = l.inject(20)
	if _, stderr, status := l.nxmit("rotate", "peer"); status != 0 {
		t.Fatalf("rotate: %d %s", status, stderr)
	}
	_, stderr, status = l.nxmit("send", "peer", "--host", "127.0.0.1", "--tls-ca", otherFile)
	if status != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "unknown authority") {
		t.Errorf("send with the wrong CA: status %d, stderr %q; want 1 and one line", status, stderr)
	}
	if l.backlogCount("peer") != 1 || len(l.missing(mids)) != 20 {
		t.Errorf("the backlog is not intact: %v", l.queueFiles("peer"))
	}
}

// TestResolvePeerTransport checks the transport flags over the file, and their errors.
func TestResolvePeerTransport(t *testing.T) {
	dir := t.TempDir()
	ca := nntptest.NewCA(t, "site CA")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM, 0o644)
	g := siteEnv(t, fmt.Sprintf(`
site hub {
    host: a.example b.example
    tls: yes
    tls-ca: %s
    max-rate: 1m
    family: ipv4
    bind-address: 192.0.2.1 2001:db8::1
}
`, caFile), "a.example:u:p\n")
	resolve := func(site string, f PeerFlags) (peer, error) {
		cmd, err := flagSettings(&f)
		if err != nil {
			return peer{}, err
		}
		return resolvePeer(g, site, cmd)
	}
	str := func(v string) *string { return &v }
	p, err := resolve("hub", PeerFlags{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Host != "a.example" || strings.Join(p.Addrs(), " ") != "a.example:563 b.example:563" || p.User != "u" {
		t.Errorf("hosts %q, addresses %q, user %q", p.Host, p.Addrs(), p.User)
	}
	tr := p.Transport
	if tr.TLS == nil || tr.TLS.RootCAs == nil || tr.TLS.InsecureSkipVerify || tr.TLS.ClientSessionCache == nil ||
		tr.Limiter == nil || tr.Limiter.Rate() != 1<<20 || tr.Network != "tcp4" || len(tr.LocalAddrs) != 2 {
		t.Errorf("transport %+v", tr)
	}
	port := 8563
	p, err = resolve("hub", PeerFlags{NoTLSVerify: true, Port: &port, Family: str("any"), MaxRate: str("0")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Port != 8563 || !p.Transport.TLS.InsecureSkipVerify || p.Transport.Network != "tcp" || p.Transport.Limiter != nil {
		t.Errorf("flags over the file: port %d, transport %+v", p.Port, p.Transport)
	}
	p, err = resolve("plain", PeerFlags{StartTLS: str("optional")})
	if err != nil || p.Port != 119 || p.Transport.StartTLS != nntp.OptionalStartTLS || p.Transport.TLS == nil {
		t.Errorf("--starttls optional: %v, port %d, %+v", err, p.Port, p.Transport)
	}

	for _, tt := range []struct {
		flags PeerFlags
		want  string
	}{
		{PeerFlags{MaxRate: str("fast")}, `--max-rate: "fast" is not a size`},
		{PeerFlags{BindAddress: str("news.example")}, `--bind-address: "news.example" is not an IP address`},
		{PeerFlags{TLSCA: str(filepath.Join(dir, "none.pem"))}, "tls-ca: open "},
		{PeerFlags{TLSCA: str(filepath.Join(dir, "ca.pem")), TLSCert: str(caFile)}, "tls-cert " + caFile + " without tls-key"},
	} {
		if _, err := resolve("hub", tt.flags); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.flags, err, tt.want)
		}
	}
}
