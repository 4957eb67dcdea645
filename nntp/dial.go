package nntp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Networks for Config.Network: which address families of the peer are dialed.
const (
	NetworkAny  = "tcp"  // IPv4 and IPv6, in the resolver's order
	NetworkIPv4 = "tcp4" // IPv4 addresses only
	NetworkIPv6 = "tcp6" // IPv6 addresses only
)

// dialTCP connects to addr ("host:port") within cfg.DialTimeout overall: the host's
// addresses of cfg.Network's family are tried as dialAddrs says, each from the source
// address of cfg.LocalAddrs that has the address's family.
func dialTCP(ctx context.Context, addr string, cfg *Config) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &ConnError{Op: "connect " + addr, Err: err}
	}
	deadline := time.Now().Add(cfg.DialTimeout)
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ips, err := resolve(rctx, host, cfg.Network)
	if err != nil {
		return nil, &ConnError{Op: "connect " + addr, Err: err}
	}
	return dialAddrs(ctx, addr, ips, time.Until(deadline), cfg.LocalAddrs)
}

// attemptDelay is how long a connection attempt runs alone before the host's next
// address is tried beside it (RFC 8305's Connection Attempt Delay): a peer whose IPv6
// route is a black hole costs each connection a quarter of a second, not the connect
// timeout.
const attemptDelay = 250 * time.Millisecond

// dialAddrs connects to one of ips on addr's port within timeout overall, happy-eyeballs
// style: the families alternate, and each address is tried as soon as the one before
// failed or has not connected within attemptDelay. If none connects, the error is the
// first address's, which is usually the most telling.
func dialAddrs(ctx context.Context, addr string, ips []netip.Addr, timeout time.Duration, locals []netip.Addr) (net.Conn, error) {
	_, portStr, _ := net.SplitHostPort(addr)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, &ConnError{Op: "connect " + addr, Err: fmt.Errorf("bad port %q", portStr)}
	}
	dial := func(ctx context.Context, ip netip.Addr) (net.Conn, error) {
		var d net.Dialer
		if src, ok := localFor(locals, ip); ok {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice(), Zone: src.Zone()}
		}
		return d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(port)).String())
	}
	conn, err := raceAddrs(ctx, interleaveFamilies(ips), timeout, attemptDelay, dial)
	if err != nil {
		op := "connect " + addr
		if len(ips) > 1 {
			op = fmt.Sprintf("connect %s (%d addresses)", addr, len(ips))
		}
		return nil, &ConnError{Op: op, Err: err}
	}
	return conn, nil
}

// raceAddrs dials ips in order, each as soon as the one before failed or has been trying
// for delay, all within timeout. The first connection made wins; the attempts still
// running are cancelled, and a connection one of them made meanwhile is closed.
func raceAddrs(ctx context.Context, ips []netip.Addr, timeout, delay time.Duration,
	dial func(context.Context, netip.Addr) (net.Conn, error)) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		i    int
		conn net.Conn
		err  error
	}
	results := make(chan result, len(ips)) // never blocks an attempt
	errs := make([]error, len(ips))
	next, running := 0, 0
	launch := func() {
		i := next
		next++
		running++
		go func() {
			c, err := dial(ctx, ips[i])
			results <- result{i, c, err}
		}()
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	launch()
	for running > 0 {
		var nextTurn <-chan time.Time
		if next < len(ips) {
			nextTurn = timer.C
		}
		select {
		case r := <-results:
			running--
			if r.err == nil {
				cancel()
				go func(n int) {
					for ; n > 0; n-- {
						if late := <-results; late.conn != nil {
							late.conn.Close()
						}
					}
				}(running)
				return r.conn, nil
			}
			errs[r.i] = r.err
			if next < len(ips) && ctx.Err() == nil {
				launch()
				timer.Reset(delay)
			}
		case <-nextTurn:
			launch()
			timer.Reset(delay)
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return nil, context.DeadlineExceeded
}

// interleaveFamilies orders ips as RFC 8305 says: the resolver's first address, then
// the families taking turns, each in the resolver's order.
func interleaveFamilies(ips []netip.Addr) []netip.Addr {
	if len(ips) < 2 {
		return ips
	}
	var same, other []netip.Addr
	for _, ip := range ips {
		if ip.Is4() == ips[0].Is4() {
			same = append(same, ip)
		} else {
			other = append(other, ip)
		}
	}
	out := make([]netip.Addr, 0, len(ips))
	for i := 0; i < len(same) || i < len(other); i++ {
		if i < len(same) {
			out = append(out, same[i])
		}
		if i < len(other) {
			out = append(out, other[i])
		}
	}
	return out
}

// resolve returns host's addresses of network's family: a literal address as it is,
// a name through the resolver.
func resolve(ctx context.Context, host, network string) ([]netip.Addr, error) {
	want := func(ip netip.Addr) bool {
		switch network {
		case NetworkIPv4:
			return ip.Is4()
		case NetworkIPv6:
			return ip.Is6()
		}
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if !want(ip) {
			return nil, fmt.Errorf("%s is not an %s address", host, familyName(network))
		}
		return []netip.Addr{ip}, nil
	}
	lookup := "ip"
	switch network {
	case NetworkIPv4:
		lookup = "ip4"
	case NetworkIPv6:
		lookup = "ip6"
	}
	all, err := net.DefaultResolver.LookupNetIP(ctx, lookup, host)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, ip := range all {
		if ip = ip.Unmap(); want(ip) {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s has no %s address", host, familyName(network))
	}
	return ips, nil
}

func familyName(network string) string {
	switch network {
	case NetworkIPv4:
		return "IPv4"
	case NetworkIPv6:
		return "IPv6"
	}
	return "IP"
}

// localFor picks the source address for a connection to dst: the first of locals in
// dst's family. None of that family means the kernel chooses, as innfeed's bindaddress
// and bindaddress6 each apply to their own family only.
func localFor(locals []netip.Addr, dst netip.Addr) (netip.Addr, bool) {
	for _, l := range locals {
		if l.Unmap().Is4() == dst.Is4() {
			return l.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// ParseNetwork maps the configuration's family names (any, ipv4, ipv6) to a
// Config.Network.
func ParseNetwork(family string) (string, error) {
	switch family {
	case "", "any":
		return NetworkAny, nil
	case "ipv4":
		return NetworkIPv4, nil
	case "ipv6":
		return NetworkIPv6, nil
	}
	return "", errors.New("family: want any, ipv4 or ipv6")
}
