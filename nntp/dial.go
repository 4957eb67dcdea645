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
// addresses of cfg.Network's family are tried one after the other, each with a fair share
// of the time left (as net.Dialer does), from the source address of cfg.LocalAddrs that
// has the address's family. The first connection that succeeds is returned; if none
// does, the error of the first attempt, which is usually the most telling.
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

// dialAddrs tries ips in order on addr's port within timeout overall.
func dialAddrs(ctx context.Context, addr string, ips []netip.Addr, timeout time.Duration, locals []netip.Addr) (net.Conn, error) {
	_, portStr, _ := net.SplitHostPort(addr)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, &ConnError{Op: "connect " + addr, Err: fmt.Errorf("bad port %q", portStr)}
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var first error
	for i, ip := range ips {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		d := net.Dialer{Timeout: left / time.Duration(len(ips)-i)}
		if src, ok := localFor(locals, ip); ok {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice(), Zone: src.Zone()}
		}
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = context.DeadlineExceeded
	}
	op := "connect " + addr
	if len(ips) > 1 {
		op = fmt.Sprintf("connect %s (%d addresses)", addr, len(ips))
	}
	return nil, &ConnError{Op: op, Err: first}
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
