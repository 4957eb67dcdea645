package nntp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSOptions are a site's TLS settings as the configuration gives them.
type TLSOptions struct {
	CAFile     string // PEM authorities to trust instead of the system's; "": the system's
	ServerName string // name the certificate must carry; "": the host dialed
	CertFile   string // PEM client certificate; with KeyFile
	KeyFile    string
	NoVerify   bool // accept any certificate (tls-verify: no)
}

// sessionCacheSize holds the sessions of a pass's connections with room to spare.
const sessionCacheSize = 64

// NewTLSConfig builds the client configuration of one pass from o, with a session cache
// that the pass's connections share, so that only the first makes a full handshake.
// Errors name the file at fault.
func NewTLSConfig(o TLSOptions) (*tls.Config, error) {
	c := &tls.Config{
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.NoVerify,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
		MinVersion:         tls.VersionTLS12,
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls-ca %s: no PEM certificate in it", o.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls-cert %s, tls-key %s: %w", o.CertFile, o.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case o.CertFile != "":
		return nil, fmt.Errorf("tls-cert %s without tls-key", o.CertFile)
	case o.KeyFile != "":
		return nil, fmt.Errorf("tls-key %s without tls-cert", o.KeyFile)
	}
	return c, nil
}
