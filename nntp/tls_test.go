package nntp

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// streamSome streams n articles on c and checks that every one was accepted and arrived
// intact.
func streamSome(t *testing.T, c *Client, srv *nntptest.Server, n int) {
	t.Helper()
	if ok, err := c.ModeStream(); !ok || err != nil {
		t.Fatalf("ModeStream = %v, %v", ok, err)
	}
	f := newTestFeeder(t, n, 3000)
	st, err := c.Stream(context.Background(), f, StreamConfig{Window: 16})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	out := f.check(st)
	if got := countOutcomes(out)[Accepted]; got != n {
		t.Errorf("accepted %d of %d", got, n)
	}
	checkReceived(t, f, srv, out)
}

// TestTLSImplicit feeds over implicit TLS (NNTPS) three times in a row: the articles
// arrive intact, and the second and third connections resume the first one's session
// through the shared cache, as a send pass's connections do.
func TestTLSImplicit(t *testing.T) {
	ca := nntptest.NewCA(t, "nxmit test CA")
	srv := nntptest.NewServer(t, nntptest.Script{TLS: nntptest.ServerConfig(ca.Issue(t, nntptest.LeafOptions{}), nil)})
	cfg := Config{TLS: &tls.Config{RootCAs: ca.Pool, ClientSessionCache: tls.NewLRUClientSessionCache(8)}}
	for i := range 3 {
		c := dial(t, srv, cfg)
		if !c.Secure() {
			t.Fatal("connection not secure")
		}
		streamSome(t, c, srv, 50)
		state, _ := c.TLSConnectionState()
		if want := i > 0; state.DidResume != want {
			t.Errorf("connection %d: resumed %v, want %v", i+1, state.DidResume, want)
		}
		c.Quit()
	}
	if st := srv.Stats(); st.TLS != 3 || st.Resumed != 2 {
		t.Errorf("server saw %d handshakes, %d resumed; want 3 and 2", st.TLS, st.Resumed)
	}
}

// TestTLSFailures checks that each way TLS can fail is one clear line, and which are
// permanent (an administrator must act: exit 1) or temporary.
func TestTLSFailures(t *testing.T) {
	ca := nntptest.NewCA(t, "nxmit test CA")
	other := nntptest.NewCA(t, "some other CA")
	now := time.Now()
	good := ca.Issue(t, nntptest.LeafOptions{})
	tests := []struct {
		name      string
		script    nntptest.Script
		cfg       Config
		want      string
		temporary bool
		cert      bool
	}{
		{"unknown CA", nntptest.Script{TLS: nntptest.ServerConfig(other.Issue(t, nntptest.LeafOptions{}), nil)},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}}, `signed by an unknown authority "some other CA"`, false, true},
		{"wrong name", nntptest.Script{TLS: nntptest.ServerConfig(ca.Issue(t, nntptest.LeafOptions{Names: []string{"news.example"}}), nil)},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}}, `wrong name: certificate is for ["news.example"], not "127.0.0.1"`, false, true},
		{"expired", nntptest.Script{TLS: nntptest.ServerConfig(ca.Issue(t, nntptest.LeafOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}), nil)},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}}, `certificate of "localhost" expired on`, false, true},
		{"not yet valid", nntptest.Script{TLS: nntptest.ServerConfig(ca.Issue(t, nntptest.LeafOptions{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)}), nil)},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}}, `is not valid yet`, false, true},
		{"plain server on the TLS port", nntptest.Script{},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}}, "peer does not speak TLS", false, false},
		{"TLS server on the plain port", nntptest.Script{TLS: nntptest.ServerConfig(good, nil)},
			Config{DialTimeout: 300 * time.Millisecond}, "a TLS server on this port?", true, false},
		{"client certificate missing", nntptest.Script{TLS: nntptest.ServerConfig(good, ca)},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}}, "certificate required", false, false},
		{"STARTTLS refused", nntptest.Script{StartTLSCode: 580},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}, StartTLS: RequireStartTLS}, "STARTTLS: 580", false, false},
		{"STARTTLS unknown", nntptest.Script{},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}, StartTLS: RequireStartTLS}, "STARTTLS: 500", false, false},
		{"STARTTLS dropped mid-handshake", nntptest.Script{StartTLSDrop: true},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}, StartTLS: RequireStartTLS}, "TLS with 127.0.0.1", true, false},
		{"STARTTLS wrong CA", nntptest.Script{StartTLS: nntptest.ServerConfig(other.Issue(t, nntptest.LeafOptions{}), nil)},
			Config{TLS: &tls.Config{RootCAs: ca.Pool}, StartTLS: RequireStartTLS}, "unknown authority", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, tt.script)
			c, err := Dial(context.Background(), srv.Addr, tt.cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			if isTemporary(err) != tt.temporary {
				t.Errorf("temporary = %v, want %v", isTemporary(err), tt.temporary)
			}
			var te *TLSError
			if got := errors.As(err, &te) && te.Certificate(); got != tt.cert {
				t.Errorf("certificate failure = %v, want %v", got, tt.cert)
			}
		})
	}
}

// TestStartTLS upgrades with STARTTLS, asks MODE STREAM again over TLS and feeds; with
// STARTTLS optional a refusing peer is fed in the clear, but never given the password.
func TestStartTLS(t *testing.T) {
	ca := nntptest.NewCA(t, "nxmit test CA")
	leaf := ca.Issue(t, nntptest.LeafOptions{})
	t.Run("upgrade", func(t *testing.T) {
		srv := nntptest.NewServer(t, nntptest.Script{StartTLS: nntptest.ServerConfig(leaf, nil), User: "feed", Pass: "secret"})
		c := dial(t, srv, Config{TLS: &tls.Config{RootCAs: ca.Pool}, StartTLS: RequireStartTLS})
		if !c.Secure() {
			t.Fatal("not secure after STARTTLS")
		}
		if err := c.Authenticate("feed", "secret"); err != nil {
			t.Fatal(err)
		}
		streamSome(t, c, srv, 50)
		if st := srv.Stats(); st.TLS != 1 || st.Commands["STARTTLS"] != 1 {
			t.Errorf("server saw %d handshakes, %d STARTTLS", st.TLS, st.Commands["STARTTLS"])
		}
	})
	t.Run("optional refused", func(t *testing.T) {
		srv := nntptest.NewServer(t, nntptest.Script{StartTLSCode: 580, User: "feed", Pass: "secret"})
		c := dial(t, srv, Config{TLS: &tls.Config{RootCAs: ca.Pool}, StartTLS: OptionalStartTLS})
		if c.Secure() {
			t.Fatal("secure without TLS")
		}
		err := c.Authenticate("feed", "secret")
		if err == nil || !strings.Contains(err.Error(), "not sent in the clear") {
			t.Fatalf("Authenticate in the clear = %v", err)
		}
		if n := srv.Stats().Commands["AUTHINFO"]; n != 0 {
			t.Fatalf("%d AUTHINFO commands sent in the clear", n)
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		client := ca.Issue(t, nntptest.LeafOptions{Names: []string{"feeder.example"}, Client: true})
		srv := nntptest.NewServer(t, nntptest.Script{StartTLS: nntptest.ServerConfig(leaf, ca)})
		c := dial(t, srv, Config{TLS: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client.TLS}}, StartTLS: RequireStartTLS})
		streamSome(t, c, srv, 10)
	})
}
