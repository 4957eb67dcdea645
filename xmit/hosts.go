package xmit

import (
	"context"
	"errors"
	"strings"

	"nxmit/nntp"
)

// addrs returns the peer's addresses in the order they are tried.
func (o *Options) addrs() []string {
	if len(o.Addrs) > 0 {
		return o.Addrs
	}
	return []string{o.Addr}
}

// Credentials are the AUTHINFO user and password of one host; an empty User means no
// authentication.
type Credentials struct {
	User, Password string
}

// credentials returns the AUTHINFO credentials for addr: its own, else User and Password.
func (o *Options) credentials(addr string) Credentials {
	if c, ok := o.HostCredentials[addr]; ok {
		return c
	}
	return Credentials{User: o.User, Password: o.Password}
}

// peer names the peer in messages: the host that was used last, else every host.
func (s *sender) peer() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host != "" {
		return s.host
	}
	return strings.Join(s.opt.addrs(), " ")
}

// dialAny connects to the first host that answers, starting from the one used last in
// this pass (nothing is remembered between passes): a connection failure or a 400
// greeting (throttled, overloaded) moves on to the next host; any other failure (a
// certificate that does not verify, 502) is the answer.
func (s *sender) dialAny(ctx context.Context) (*nntp.Client, string, error) {
	addrs := s.opt.addrs()
	s.mu.Lock()
	first := s.hostIndex
	s.mu.Unlock()
	var firstErr error
	for k := range addrs {
		i := (first + k) % len(addrs)
		c, err := nntp.Dial(ctx, addrs[i], s.opt.Dial)
		if err == nil {
			s.mu.Lock()
			if s.host != addrs[i] && s.host != "" {
				s.opt.warnf("%s: using %s", s.host, addrs[i])
			}
			s.host, s.hostIndex = addrs[i], i
			s.mu.Unlock()
			return c, addrs[i], nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if !failover(err) || ctx.Err() != nil {
			return nil, addrs[i], err
		}
		if len(addrs) > 1 {
			s.mu.Lock()
			said := s.hostWarned[addrs[i]]
			if s.hostWarned == nil {
				s.hostWarned = make(map[string]bool)
			}
			s.hostWarned[addrs[i]] = true
			s.mu.Unlock()
			if !said { // once per host and pass, not once per connection
				s.opt.warnf("%s: %v (trying the next host)", addrs[i], err)
			}
		}
	}
	return nil, addrs[first], firstErr
}

// failover reports whether a failed dial should try the site's next host.
func failover(err error) bool {
	var ce *nntp.ConnError
	var ne *nntp.Error
	return errors.As(err, &ce) || (errors.As(err, &ne) && ne.Reply.Code == 400)
}

// warnInsecure says once per pass that the peer's certificate is not checked.
func (o *Options) warnInsecure() {
	if t := o.Dial.TLS; t != nil && t.InsecureSkipVerify {
		o.warnf("%s: tls-verify is off: the peer's certificate is not checked", strings.Join(o.addrs(), " "))
	}
}

// resumable reports whether the connections should wait for the first one before they
// dial: with TLS they then resume its session instead of each making a full handshake.
func (o *Options) resumable() bool {
	return o.Dial.TLS != nil && o.Dial.TLS.ClientSessionCache != nil
}
