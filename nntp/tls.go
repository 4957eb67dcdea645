package nntp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// StartTLSMode says whether a Client upgrades a plain connection with STARTTLS (RFC 4642).
type StartTLSMode uint8

// STARTTLS modes.
const (
	NoStartTLS       StartTLSMode = iota // implicit TLS if Config.TLS is set, else plain
	RequireStartTLS                      // STARTTLS after the greeting; a refusal is an error
	OptionalStartTLS                     // STARTTLS if the peer agrees, else go on in the clear
)

// A TLSError is a failed TLS handshake. Its message says in one line what failed: a
// certificate that is expired, names another host, or comes from an unknown authority, or
// a peer that does not speak TLS at all.
type TLSError struct {
	Addr string // the peer
	Err  error  // from crypto/tls
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("nntp: TLS with %s: %s", e.Addr, describeTLS(e.Err))
}

// Unwrap returns crypto/tls's error.
func (e *TLSError) Unwrap() error { return e.Err }

// Temporary reports false when the certificate did not verify or the peer does not speak
// TLS: another attempt meets the same certificate, and an administrator must act. A
// handshake cut by the network is temporary.
func (e *TLSError) Temporary() bool {
	if isRemoteAlert(e.Err) {
		return false
	}
	return errors.Is(e.Err, io.EOF) || errors.Is(e.Err, io.ErrUnexpectedEOF) || isNetError(e.Err)
}

// isRemoteAlert reports whether the peer ended the handshake with a TLS alert (it did not
// like our certificate, or lack of one): crypto/tls reports those as a "remote error".
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// Certificate reports whether the peer's certificate failed verification.
func (e *TLSError) Certificate() bool {
	var cv *tls.CertificateVerificationError
	return errors.As(e.Err, &cv)
}

func isNetError(err error) bool {
	var ne net.Error
	var rh tls.RecordHeaderError
	return errors.As(err, &ne) && !errors.As(err, &rh)
}

// describeTLS turns crypto/tls's and crypto/x509's errors into what an administrator
// needs to read.
func describeTLS(err error) string {
	var (
		inv  x509.CertificateInvalidError
		host x509.HostnameError
		ua   x509.UnknownAuthorityError
		rh   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		c := inv.Cert
		now := time.Now()
		if now.Before(c.NotBefore) {
			return fmt.Sprintf("certificate of %q is not valid yet (not before %s)", certName(c), c.NotBefore.UTC().Format(time.RFC3339))
		}
		return fmt.Sprintf("certificate of %q expired on %s", certName(c), c.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &inv):
		return fmt.Sprintf("certificate of %q is invalid: %v", certName(inv.Cert), inv)
	case errors.As(err, &host):
		return fmt.Sprintf("wrong name: certificate is for %s, not %q (set tls-server-name?)", certNames(host.Certificate), host.Host)
	case errors.As(err, &ua):
		return fmt.Sprintf("certificate of %q is signed by an unknown authority %q (set tls-ca?)", certName(ua.Cert), issuerName(ua.Cert))
	case errors.As(err, &rh):
		return "peer does not speak TLS (a plain NNTP server on this port? check tls and port)"
	case isRemoteAlert(err) && strings.Contains(err.Error(), "certificate"):
		return fmt.Sprintf("peer refused us: %v (set tls-cert and tls-key?)", errors.Unwrap(err))
	case isRemoteAlert(err):
		return fmt.Sprintf("peer refused us: %v", errors.Unwrap(err))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed during the handshake"
	}
	return err.Error()
}

func certName(c *x509.Certificate) string {
	if c == nil {
		return "?"
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.String()
}

func issuerName(c *x509.Certificate) string {
	if c == nil {
		return "?"
	}
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "?"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return fmt.Sprintf("%q (no subject alternative names)", c.Subject.CommonName)
	}
	return fmt.Sprintf("%q", names)
}

// tlsConfigFor returns cfg with ServerName set to host when cfg leaves it empty, so that
// the certificate is checked against the host dialed.
func tlsConfigFor(cfg *tls.Config, addr string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName != "" {
		return cfg
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// greet reads the greeting, after the TLS handshake with implicit TLS, and then upgrades
// with STARTTLS if the configuration says so. On error the connection is closed.
func (c *Client) greet(ctx context.Context) error {
	cfg := &c.cfg
	var err error
	if cfg.TLS != nil && cfg.StartTLS == NoStartTLS {
		err = c.handshake(ctx, c.addr)
	}
	if err == nil {
		err = c.readGreeting()
		var ce *ConnError
		if c.tls && isRemoteAlert(err) {
			// TLS 1.3 finishes our side of the handshake before the server checks our
			// certificate: its refusal arrives with the first read.
			err = &TLSError{Addr: c.addr, Err: errors.Unwrap(err)}
		} else if errors.As(err, &ce) && ce.Timeout() && !c.tls && ctx.Err() == nil {
			// A TLS server waits for our ClientHello and never greets.
			ce.Err = fmt.Errorf("no greeting within %v (a TLS server on this port? see tls): %w", cfg.DialTimeout, ce.Err)
		}
	}
	if err == nil && cfg.StartTLS != NoStartTLS {
		err = c.StartTLS(ctx)
		var ne *Error
		if cfg.StartTLS == OptionalStartTLS && errors.As(err, &ne) {
			err = nil // refused: go on in the clear (no credentials will be sent)
		} else if err != nil {
			c.Close()
		}
	}
	return err
}

// handshake runs the TLS client handshake over c's connection (plain so far) and
// replaces it with the TLS connection. Buffered input would have arrived in the clear
// and is refused (RFC 4642 §2.2.2: an attacker could inject it).
func (c *Client) handshake(ctx context.Context, addr string) error {
	if c.br.Buffered() > 0 {
		return c.fail(&ProtocolError{Op: "STARTTLS", Msg: "data after the 382 reply, before the TLS handshake"})
	}
	tc := tls.Client(c.dc.Conn, tlsConfigFor(c.cfg.TLS, addr))
	if err := tc.HandshakeContext(ctx); err != nil {
		return c.fail(&TLSError{Addr: addr, Err: err})
	}
	c.dc.Conn = tc
	c.br.Reset(c.dc)
	c.bw.Reset(c.dc)
	c.tls = true
	return nil
}

// StartTLS sends STARTTLS and, on 382, upgrades the connection to TLS with Config.TLS
// (ServerName defaulting to the host dialed). What the peer said before (capabilities,
// streaming) is to be asked again afterwards, as RFC 4642 requires; MODE STREAM comes
// after this anyway. A refusal (580, or 500 from a peer that does not know the command)
// is an *Error and leaves the connection usable in the clear; a failed handshake is a
// *TLSError and leaves it closed.
func (c *Client) StartTLS(ctx context.Context) error {
	if c.tls {
		return errors.New("nntp: STARTTLS: already using TLS")
	}
	r, err := c.cmd("STARTTLS", "STARTTLS", "")
	if err != nil {
		return err
	}
	if r.Code != 382 {
		return replyError("STARTTLS", r)
	}
	return c.handshake(ctx, c.addr)
}

// TLSConnectionState returns the TLS state of the connection, and false when it does not
// use TLS.
func (c *Client) TLSConnectionState() (tls.ConnectionState, bool) {
	if tc, ok := c.dc.Conn.(*tls.Conn); ok && c.tls {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// Secure reports whether the connection is encrypted, so that credentials may be sent.
func (c *Client) Secure() bool { return c.tls }
