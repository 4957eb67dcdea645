package innlab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StunnelBinary is Debian's stunnel4, which operators put in front of innd to accept
// feeds over TLS (innd has no TLS of its own for feeds).
const StunnelBinary = "/usr/bin/stunnel4"

// A Stunnel is a running stunnel in server mode: TLS on Addr, plain NNTP to its backend.
type Stunnel struct {
	Addr string // "127.0.0.1:PORT", where it accepts TLS
	Log  string // its log file
}

// StartStunnel starts stunnel accepting implicit TLS on a leased port of 127.0.0.1 with
// the PEM certificate and key files, forwarding to backend (such as a receiving
// Instance's Addr); a cleanup stops it. The test is skipped when stunnel4 is not
// installed (scripts/setup installs it).
func StartStunnel(t testing.TB, backend, certFile, keyFile string) *Stunnel {
	t.Helper()
	if _, err := os.Stat(StunnelBinary); err != nil {
		t.Skipf("stunnel4 is not installed (scripts/setup installs it): %v", err)
	}
	lease, err := leasePort()
	if err != nil {
		t.Fatal(err)
	}
	defer lease.release()
	dir := t.TempDir()
	s := &Stunnel{Addr: fmt.Sprintf("127.0.0.1:%d", lease.port), Log: filepath.Join(dir, "stunnel.log")}
	conf := filepath.Join(dir, "stunnel.conf")
	text := strings.Join([]string{
		"foreground = yes",
		"pid =",
		"output = " + s.Log,
		"debug = 5",
		"[nntps]",
		"accept = " + s.Addr,
		"connect = " + backend,
		"cert = " + certFile,
		"key = " + keyFile,
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	lease.release() // stunnel binds it now; the lease kept other harnesses off until here
	cmd := exec.Command(StunnelBinary, conf)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stunnel: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			if b, err := os.ReadFile(s.Log); err == nil {
				t.Logf("stunnel log:\n%s", tail(b))
			}
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-exited:
			exited <- err
			b, _ := os.ReadFile(s.Log)
			t.Fatalf("stunnel exited: %v\n%s", err, tail(b))
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stunnel does not listen on %s after 10 s", s.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
