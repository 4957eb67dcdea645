package nntp

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// v6Server starts a sink on [::1], or skips the test where the machine has no IPv6
// loopback.
func v6Server(t *testing.T) *nntptest.Server {
	t.Helper()
	srv, err := nntptest.Start("[::1]:0", nntptest.Script{})
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine (%v): IPv6 dialing not tested", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestDialFamilyAndSource checks that the family is respected and that the peer sees the
// source address chosen for the family of the address dialed.
func TestDialFamilyAndSource(t *testing.T) {
	v4 := nntptest.NewServer(t, nntptest.Script{})
	v6 := v6Server(t)
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	tests := []struct {
		name   string
		srv    *nntptest.Server
		cfg    Config
		remote string // the peer's view of our address (IP only); "" : Dial fails
		want   string // in the error
	}{
		{"v4 any", v4, Config{}, "127.0.0.1", ""},
		{"v6 any", v6, Config{}, "::1", ""},
		{"v6 only", v6, Config{Network: NetworkIPv6}, "::1", ""},
		{"v4 address, v6 only", v4, Config{Network: NetworkIPv6}, "", "127.0.0.1 is not an IPv6 address"},
		{"v6 address, v4 only", v6, Config{Network: NetworkIPv4}, "", "::1 is not an IPv4 address"},
		{"bind v4 and v6, to v6", v6, Config{LocalAddrs: []netip.Addr{lo4, lo6}}, "::1", ""},
		{"bind v4 and v6, to v4", v4, Config{LocalAddrs: []netip.Addr{lo6, lo4}}, "127.0.0.1", ""},
		{"bind v6 only, to v4", v4, Config{LocalAddrs: []netip.Addr{lo6}}, "127.0.0.1", ""},
		// A source address that is not ours (TEST-NET-1): the bind itself fails, which
		// shows that the address is used; no packet leaves the machine.
		{"bind a foreign address", v4, Config{LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, "", "assign requested address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.srv.Stats().Remotes)
			tt.cfg.DialTimeout = 5 * time.Second
			c, err := Dial(context.Background(), tt.srv.Addr, tt.cfg)
			if tt.remote == "" {
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %q does not say %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Quit()
			remotes := tt.srv.Stats().Remotes
			if len(remotes) != before+1 {
				t.Fatalf("server saw %d connections, want %d", len(remotes), before+1)
			}
			host, _, _ := net.SplitHostPort(remotes[before])
			if host != tt.remote {
				t.Errorf("peer saw us as %s, want %s", host, tt.remote)
			}
		})
	}
}

// TestDialAddressByAddress dials a name whose first addresses do not answer: each is
// tried in turn before the one that does.
func TestDialAddressByAddress(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).AddrPort().Addr()
	ln.Close()
	_, port, _ := net.SplitHostPort(srv.Addr)
	ips := []netip.Addr{dead, netip.MustParseAddr("127.0.0.1")}
	conn, err := dialAddrs(context.Background(), "peer.example:"+port, ips, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if _, err := dialAddrs(context.Background(), "peer.example:1", ips, 5*time.Second, nil); err == nil ||
		!strings.Contains(err.Error(), "(2 addresses)") {
		t.Errorf("dial of two dead addresses = %v", err)
	}
}

// TestRateLimit feeds 10 MB under a 2 MB/s cap shared by two connections: about 5 s.
func TestRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 5 s")
	}
	const total, rate = 10 << 20, 2 << 20
	srv := nntptest.NewServer(t, nntptest.Script{CountOnly: true})
	lim := NewRateLimiter(rate)
	const conns, per = 2, 160
	size := total / (conns * per)
	start := time.Now()
	done := make(chan error, conns)
	for range conns {
		c := streamClient(t, srv, Config{Limiter: lim})
		go func() {
			f := &benchFeeder{n: per, art: wireArticle("<rate@nntp.example>", 0, size)}
			_, err := c.Stream(context.Background(), f, StreamConfig{Window: 16, Mode: NeverCheck})
			done <- err
		}()
	}
	for range conns {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	st := srv.Stats()
	want := time.Duration(float64(st.Bytes) / rate * float64(time.Second))
	t.Logf("rate cap: %d bytes in %v at a cap of %d B/s: %.0f B/s (ideal %v, %+.1f%%)",
		st.Bytes, elapsed.Round(time.Millisecond), rate, float64(st.Bytes)/elapsed.Seconds(), want.Round(time.Millisecond),
		100*(elapsed.Seconds()-want.Seconds())/want.Seconds())
	if st.Articles != conns*per {
		t.Fatalf("server got %d articles, want %d", st.Articles, conns*per)
	}
	if elapsed < want*8/10 || elapsed > want*3/2 {
		t.Errorf("took %v, want about %v", elapsed, want)
	}
}

func TestRateLimiterReserve(t *testing.T) {
	l := NewRateLimiter(1000)
	t0 := time.Unix(1000, 0)
	// The first writes within the burst go at once; then each waits its share.
	if at := l.reserve(50, t0); at.After(t0) {
		t.Errorf("first 50 bytes wait until %v", at.Sub(t0))
	}
	at := l.reserve(1000, t0)
	if want := t0.Add(time.Second + 50*time.Millisecond - rateBurst); !at.Equal(want) {
		t.Errorf("next 1000 bytes at %v, want %v", at.Sub(t0), want.Sub(t0))
	}
	// After a long pause, no credit beyond the burst is left over.
	t1 := t0.Add(time.Hour)
	l.reserve(1000, t1)
	if at := l.reserve(1000, t1); !at.Equal(t1.Add(2*time.Second - rateBurst)) {
		t.Errorf("after a pause: %v", at.Sub(t1))
	}
}
