package nntptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A CA is a throwaway certificate authority for TLS tests: certificates are made in the
// test, none is kept.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Pool    *x509.CertPool // holding only this CA, for tls.Config.RootCAs
	key     *ecdsa.PrivateKey
}

// A Leaf is a certificate issued by a CA, with its key.
type Leaf struct {
	TLS     tls.Certificate // for tls.Config.Certificates
	CertPEM []byte
	KeyPEM  []byte
}

// LeafOptions describe a certificate to issue.
type LeafOptions struct {
	// Names are the DNS names and IP addresses the certificate is for (default
	// "localhost" and 127.0.0.1 and ::1).
	Names []string
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
	// Client makes a client certificate instead of a server one.
	Client bool
}

// NewCA makes a CA named name for the test.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := MakeCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// Issue makes a certificate signed by the CA for the test.
func (ca *CA) Issue(t testing.TB, opt LeafOptions) Leaf {
	t.Helper()
	l, err := ca.MakeLeaf(opt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// MakeCA is NewCA for programs (benchmarks).
func MakeCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), Pool: pool, key: key}, nil
}

// MakeLeaf is Issue for programs.
func (ca *CA) MakeLeaf(opt LeafOptions) (Leaf, error) {
	if opt.Names == nil {
		opt.Names = []string{"localhost", "127.0.0.1", "::1"}
	}
	if opt.NotBefore.IsZero() {
		opt.NotBefore = time.Now().Add(-time.Hour)
	}
	if opt.NotAfter.IsZero() {
		opt.NotAfter = time.Now().Add(24 * time.Hour)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, err
	}
	sn, err := serial()
	if err != nil {
		return Leaf{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: opt.Names[0]},
		NotBefore:    opt.NotBefore,
		NotAfter:     opt.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if opt.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range opt.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Leaf{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Leaf{}, err
	}
	l := Leaf{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", kder)}
	l.TLS, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	return l, err
}

// ServerConfig returns a server configuration presenting leaf; with clients set, client
// certificates signed by clients are required.
func ServerConfig(leaf Leaf, clients *CA) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	if clients != nil {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = clients.Pool
	}
	return c
}

// WriteFiles writes the CA's certificate and the leaf's certificate and key as PEM files
// in dir, named prefix.ca.pem, prefix.crt and prefix.key, and returns their paths.
func (ca *CA) WriteFiles(t testing.TB, dir, prefix string, leaf Leaf) (caFile, certFile, keyFile string) {
	t.Helper()
	caFile = filepath.Join(dir, prefix+".ca.pem")
	certFile = filepath.Join(dir, prefix+".crt")
	keyFile = filepath.Join(dir, prefix+".key")
	for _, f := range []struct {
		path string
		data []byte
	}{{caFile, ca.CertPEM}, {certFile, leaf.CertPEM}, {keyFile, leaf.KeyPEM}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
