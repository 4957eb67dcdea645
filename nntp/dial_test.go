package nntp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

func TestInterleaveFamilies(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct{ in, want []netip.Addr }{
		{nil, nil},
		{[]netip.Addr{a("192.0.2.1")}, []netip.Addr{a("192.0.2.1")}},
		{[]netip.Addr{a("2001:db8::1"), a("2001:db8::2"), a("192.0.2.1"), a("192.0.2.2")},
			[]netip.Addr{a("2001:db8::1"), a("192.0.2.1"), a("2001:db8::2"), a("192.0.2.2")}},
		{[]netip.Addr{a("192.0.2.1"), a("192.0.2.2"), a("192.0.2.3"), a("2001:db8::1")},
			[]netip.Addr{a("192.0.2.1"), a("2001:db8::1"), a("192.0.2.2"), a("192.0.2.3")}},
	}
	for _, tt := range tests {
		if got := interleaveFamilies(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("interleaveFamilies(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestRaceAddrs: the addresses of a host are raced happy-eyeballs style. An address that
// never answers (an IPv6 black hole) holds the next back only for the attempt delay, not
// the connect timeout; failures move on at once, in order, and the first address's error
// is the one reported; a connection made by a losing attempt is closed.
func TestRaceAddrs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	live := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}
	const delay, timeout = 50 * time.Millisecond, 20 * time.Second
	v6, v6b, v4, v4b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"),
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")

	t.Run("black hole", func(t *testing.T) {
		var cancelled atomic.Bool
		start := time.Now()
		conn, err := raceAddrs(context.Background(), []netip.Addr{v6, v4}, timeout, delay,
			func(ctx context.Context, ip netip.Addr) (net.Conn, error) {
				if ip == v6 {
					<-ctx.Done()
					cancelled.Store(true)
					return nil, ctx.Err()
				}
				return live(ctx)
			})
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if el := time.Since(start); el >= timeout/4 {
			t.Errorf("connected after %v: the black-holed address held the next back", el)
		}
		for i := 0; i < 100 && !cancelled.Load(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if !cancelled.Load() {
			t.Error("the black-holed attempt was not cancelled")
		}
	})

	t.Run("refused in order", func(t *testing.T) {
		var mu sync.Mutex
		var order []netip.Addr
		_, err := raceAddrs(context.Background(), interleaveFamilies([]netip.Addr{v6, v6b, v4, v4b}), timeout, time.Hour,
			func(ctx context.Context, ip netip.Addr) (net.Conn, error) {
				mu.Lock()
				order = append(order, ip)
				mu.Unlock()
				return nil, fmt.Errorf("refused by %s", ip)
			})
		if want := []netip.Addr{v6, v4, v6b, v4b}; !slices.Equal(order, want) {
			t.Errorf("tried %v, want %v (failures move on at once, families alternating)", order, want)
		}
		if err == nil || err.Error() != "refused by "+v6.String() {
			t.Errorf("error %v, want the first address's", err)
		}
	})

	t.Run("losing connection closed", func(t *testing.T) {
		slow := make(chan net.Conn, 1)
		conn, err := raceAddrs(context.Background(), []netip.Addr{v4, v4b}, timeout, delay,
			func(ctx context.Context, ip netip.Addr) (net.Conn, error) {
				if ip == v4 {
					time.Sleep(4 * delay) // connects, but after the second one did
					c, err := live(context.Background())
					slow <- c
					return c, err
				}
				return live(ctx)
			})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		late := <-slow
		if late == conn {
			t.Fatal("the slow attempt won")
		}
		// Closing a connection ends a read blocked on it; the peer never writes.
		late.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err2 := late.Read(make([]byte, 1)); !errors.Is(err2, net.ErrClosed) {
			t.Errorf("the losing connection is still open (read: %v)", err2)
		}
	})
}
