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
	if len(stats) != 1 || !strings.HasPrefix(stats[0].Text, "127.0.0.1 stats offered 100 accepted 100 ") {
		t.Errorf("stats lines %+v, want one naming 127.0.0.1", stats)
	}
	out, _, status := l.nxmit("status", "peer")
	if status != 0 || !strings.Contains(out, "peer: sending at most 10M/s (max-rate)") {
		t.Errorf("status (%d) does not show the cap:\n%s", status, out)
	}
	out, _, _ = l.nxmit("status", "--json", "peer")
	if !strings.Contains(out, `"max_rate": 10485760`) || !strings.Contains(out, `"tls": "tls"`) {
		t.Errorf("status --json:\n%s", out)
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
