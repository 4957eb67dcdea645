package xmit

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"nxmit/internal/innlab"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// deadAddr returns a 127.0.0.1 address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func tlsConfig(t *testing.T, o nntp.TLSOptions) *nntp.Config {
	t.Helper()
	c, err := nntp.NewTLSConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	return &nntp.Config{TLS: c, DialTimeout: 5 * time.Second, ReplyTimeout: 30 * time.Second}
}

// TestSendTLSToRealINN feeds a real receiving innd through stunnel4 (implicit TLS), as an
// operator would put it in front of innd, with a CA made in the test. First every way
// the TLS setup can be wrong: each fails in one clear line with the right exit class, and
// nothing is lost; then the feed goes through and the receiver's history has every
// article.
func TestSendTLSToRealINN(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	const n = 500
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{}, innlab.Options{})
	dir := t.TempDir()
	ca := nntptest.NewCA(t, "nxmit lab CA")
	other := nntptest.NewCA(t, "unrelated CA")
	caFile, certFile, keyFile := ca.WriteFiles(t, dir, "good", ca.Issue(t, nntptest.LeafOptions{}))
	otherCA, _, _ := other.WriteFiles(t, dir, "other", other.Issue(t, nntptest.LeafOptions{}))
	_, expCert, expKey := ca.WriteFiles(t, dir, "expired", ca.Issue(t, nntptest.LeafOptions{
		NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}))
	good := innlab.StartStunnel(t, receiver.Addr, certFile, keyFile)
	expired := innlab.StartStunnel(t, receiver.Addr, expCert, expKey)

	arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: 1500})
	q := injectBacklog(t, sender, arts)
	s := &site{t: t, q: q, warns: &warnings{}}
	store := openStore(t, sender)
	mids := make([]string, n)
	for i, a := range arts {
		mids[i] = a.MessageID
	}

	plain := &nntp.Config{DialTimeout: 2 * time.Second, ReplyTimeout: 30 * time.Second}
	failures := []struct {
		name      string
		addr      string
		dial      *nntp.Config
		want      string
		temporary bool
	}{
		{"unknown CA", good.Addr, tlsConfig(t, nntp.TLSOptions{CAFile: otherCA}), `signed by an unknown authority "nxmit lab CA"`, false},
		{"wrong name", good.Addr, tlsConfig(t, nntp.TLSOptions{CAFile: caFile, ServerName: "news.example"}), `wrong name: certificate is for ["localhost" "127.0.0.1" "::1"], not "news.example"`, false},
		{"expired", expired.Addr, tlsConfig(t, nntp.TLSOptions{CAFile: caFile}), `certificate of "localhost" expired on`, false},
		{"plain server on the TLS port", receiver.Addr, tlsConfig(t, nntp.TLSOptions{CAFile: caFile}), "peer does not speak TLS", false},
		{"TLS server on the plain port", good.Addr, plain, "a TLS server on this port?", true},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			opt := Options{Queue: q, Store: store, Addr: f.addr, Dial: *f.dial, Connections: 2, Warn: s.warns.add}
			st, err := Send(context.Background(), opt)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			t.Logf("%v", err)
			var ue *UnreachableError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), f.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want an *UnreachableError saying %q in one line", err, f.want)
			}
			if ue != nil && ue.Temporary() != f.temporary {
				t.Errorf("temporary = %v, want %v (exit %s)", ue.Temporary(), f.temporary, map[bool]string{true: "75", false: "1"}[f.temporary])
			}
			s.t = t
			s.checkBalance(st, n)
			if st.Done() != 0 {
				t.Errorf("%d articles settled without a connection", st.Done())
			}
		})
	}
	s.t = t
	if missing, err := receiver.Missing(mids); err != nil || len(missing) != n {
		t.Fatalf("before the good pass the receiver has %d of %d articles (%v)", n-len(missing), n, err)
	}

	dial := tlsConfig(t, nntp.TLSOptions{CAFile: caFile})
	opt := Options{Queue: q, Store: store, Addr: good.Addr, Dial: *dial, Connections: 4, Warn: s.warns.add}
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatalf("Send over TLS: %v (warnings %q)", err, s.warns.all())
	}
	t.Logf("%s", st.StatsLine("receiver"))
	s.checkBalance(st, n)
	if st.Accepted != n || st.Host != good.Addr {
		t.Errorf("accepted %d of %d from %s", st.Accepted, n, st.Host)
	}
	if missing, err := receiver.Missing(mids); err != nil || len(missing) > 0 {
		t.Errorf("%d articles not in the receiver's history (%v)", len(missing), err)
	}
}

// TestSendFailover gives a site three hosts: the first refuses connections, the second
// greets with 400, the third is a real innd, which gets the feed; the statistics name it.
func TestSendFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("real INN: not in -short mode")
	}
	const n = 200
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{}, innlab.Options{})
	busy := nntptest.NewServer(t, nntptest.Script{Greeting: 400})
	arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: 1501})
	if err := sender.Inject(arts); err != nil {
		t.Fatal(err)
	}
	q, _ := takeFeed(t, sender, "peer")
	s := &site{t: t, q: q, warns: &warnings{}}
	dead := deadAddr(t)
	opt := Options{
		Queue: q, Store: openStore(t, sender), Addrs: []string{dead, busy.Addr, receiver.Addr},
		Dial: nntp.Config{DialTimeout: 5 * time.Second, ReplyTimeout: 30 * time.Second}, Connections: 3, Warn: s.warns.add,
	}
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatalf("Send: %v (warnings %q)", err, s.warns.all())
	}
	s.checkBalance(st, n)
	if st.Accepted != n || st.Host != receiver.Addr {
		t.Errorf("accepted %d of %d, host %q, want %s", st.Accepted, n, st.Host, receiver.Addr)
	}
	// The logged lines are labelled by site; the detail line names the host used.
	if d := st.DetailLine("peer"); !strings.HasSuffix(d, " host "+receiver.Addr) {
		t.Errorf("detail line does not name the host that took the articles: %s", d)
	}
	warns := strings.Join(s.warns.all(), "\n")
	t.Logf("warnings:\n%s", warns)
	if !strings.Contains(warns, dead+": ") || !strings.Contains(warns, busy.Addr+": ") || !strings.Contains(warns, "trying the next host") {
		t.Errorf("warnings do not name the hosts that failed")
	}
	mids := make([]string, n)
	for i, a := range arts {
		mids[i] = a.MessageID
	}
	if missing, err := receiver.Missing(mids); err != nil || len(missing) > 0 {
		t.Errorf("%d articles not in the receiver's history (%v)", len(missing), err)
	}

	// With every host down the pass is unreachable, and the error names them all.
	st, err = Send(context.Background(), Options{Queue: q, Store: opt.Store, Addrs: []string{dead, busy.Addr}, Dial: opt.Dial})
	var ue *UnreachableError
	if err != nil && !errors.As(err, &ue) {
		t.Errorf("all hosts down: %v", err)
	}
	_ = st
}

// TestSendTLSResumes checks that a pass's connections resume the first one's TLS session
// (one full handshake per pass), and that a site reached over STARTTLS optional that
// refuses gets no AUTHINFO in the clear.
func TestSendTLSResumes(t *testing.T) {
	ca := nntptest.NewCA(t, "nxmit test CA")
	srv := nntptest.NewServer(t, nntptest.Script{TLS: nntptest.ServerConfig(ca.Issue(t, nntptest.LeafOptions{}), nil)})
	s := newSite(t, 300)
	opt := s.options(srv.Addr)
	opt.Connections = 4
	tc, err := nntp.NewTLSConfig(nntp.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tc.RootCAs = ca.Pool
	opt.Dial.TLS = tc
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	s.checkBalance(st, 300)
	if sst := srv.Stats(); sst.TLS != 4 || sst.Resumed != 3 {
		t.Errorf("server saw %d TLS handshakes, %d resumed; want 4 and 3", sst.TLS, sst.Resumed)
	}

	refusing := nntptest.NewServer(t, nntptest.Script{StartTLSCode: 580, User: "feed", Pass: "secret"})
	s = newSite(t, 10)
	opt = s.options(refusing.Addr)
	opt.Dial.TLS, opt.Dial.StartTLS = tc, nntp.OptionalStartTLS
	opt.User, opt.Password = "feed", "secret"
	st, err = Send(context.Background(), opt)
	if err == nil || !strings.Contains(err.Error(), "not sent in the clear") {
		t.Errorf("Send = %v, want a refusal to send AUTHINFO in the clear", err)
	}
	s.checkBalance(st, 10)
	if n := refusing.Stats().Commands["AUTHINFO"]; n != 0 {
		t.Errorf("%d AUTHINFO commands in the clear", n)
	}
}

// TestSendNoVerify: with tls-verify off any certificate is taken, and the pass says so
// once, whatever the number of connections.
func TestSendNoVerify(t *testing.T) {
	ca := nntptest.NewCA(t, "unknown to the sender")
	srv := nntptest.NewServer(t, nntptest.Script{TLS: nntptest.ServerConfig(ca.Issue(t, nntptest.LeafOptions{Names: []string{"elsewhere.example"}}), nil)})
	s := newSite(t, 50)
	opt := s.options(srv.Addr)
	tc, err := nntp.NewTLSConfig(nntp.TLSOptions{NoVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	opt.Dial.TLS = tc
	st, err := Send(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	s.checkBalance(st, 50)
	n := 0
	for _, w := range s.warns.all() {
		if strings.Contains(w, "tls-verify is off") {
			n++
		}
	}
	if st.Accepted != 50 || n != 1 {
		t.Errorf("accepted %d, %d warnings about tls-verify (want 1): %q", st.Accepted, n, s.warns.all())
	}
}

// TestSendHostCredentials: each host of a site authenticates with its own credentials
// (passwd.nntp has a line per host): when the first host is down, the second gets its
// own user, not the first's, and a refusal names the user that host was offered.
func TestSendHostCredentials(t *testing.T) {
	const n = 30
	dead := deadAddr(t)
	tests := []struct {
		name     string
		creds    map[string]Credentials // by address; srv stands for the live host's
		wantUser string                 // the AuthError's user; "" when the pass succeeds
	}{
		{"the second host's own credentials", map[string]Credentials{"srv": {"b", "pb"}}, ""},
		{"a wrong password for the second host", map[string]Credentials{"srv": {"b", "wrong"}}, "b"},
		{"no credentials of its own: the site's", nil, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, n)
			srv := nntptest.NewServer(t, nntptest.Script{User: "b", Pass: "pb", Dedupe: true})
			opt := s.options("")
			opt.Addrs = []string{dead, srv.Addr}
			opt.User, opt.Password = "a", "pa"
			opt.HostCredentials = map[string]Credentials{dead: {"a", "pa"}}
			for addr, c := range tt.creds {
				if addr == "srv" {
					addr = srv.Addr
				}
				opt.HostCredentials[addr] = c
			}
			st, err := Send(context.Background(), opt)
			s.checkBalance(st, n)
			var ae *AuthError
			switch {
			case tt.wantUser == "" && err != nil:
				t.Fatalf("Send: %v", err)
			case tt.wantUser == "" && st.Accepted != n:
				t.Errorf("accepted %d of %d", st.Accepted, n)
			case tt.wantUser == "" && (srv.Stats().Articles != n || srv.Stats().Refused+srv.Stats().Rejected != 0):
				t.Errorf("the peer holds %d articles and refused %d offered again; want each of the %d once",
					srv.Stats().Articles, srv.Stats().Refused+srv.Stats().Rejected, n)
			case tt.wantUser != "" && (!errors.As(err, &ae) || ae.User != tt.wantUser || ae.Addr != srv.Addr):
				t.Errorf("Send: %v; want an AuthError for user %s at %s", err, tt.wantUser, srv.Addr)
			}
		})
	}
}
