package nntp

import (
	"context"
	"crypto/tls"
	"testing"

	"nxmit/nntp/nntptest"
)

// BenchmarkStreamTLS is BenchmarkStream's window 128 against the same sink, in plain TCP
// and over TLS (TLS 1.3, AES-GCM or ChaCha20 as negotiated, ECDSA P-256 certificate), so
// that the cost of encryption per article shows as the ratio of the two.
func BenchmarkStreamTLS(b *testing.B) {
	ca := nntptest.NewCA(b, "bench CA")
	leaf := ca.Issue(b, nntptest.LeafOptions{})
	for _, tt := range []struct {
		name   string
		script nntptest.Script
		cfg    Config
	}{
		{"plain", nntptest.Script{}, Config{}},
		{"tls", nntptest.Script{TLS: nntptest.ServerConfig(leaf, nil)}, Config{TLS: &tls.Config{RootCAs: ca.Pool}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			tt.script.CountOnly = true
			c := streamClient(b, nntptest.NewServer(b, tt.script), tt.cfg)
			f := &benchFeeder{n: b.N, art: wireArticle("<bench@nntp.example>", 0, benchArticleSize-5)}
			b.SetBytes(int64(len(f.art)))
			b.ReportAllocs()
			b.ResetTimer()
			st, err := c.Stream(context.Background(), f, StreamConfig{Window: 128})
			b.StopTimer()
			if err != nil || st.Accepted != int64(b.N) {
				b.Fatalf("Stream = %+v, %v", st, err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "articles/s")
		})
	}
}

// BenchmarkDialTLS is the cost of establishing a connection (connect, handshake,
// greeting, QUIT): plain, over TLS with a full handshake each time, and over TLS resuming
// a cached session, as a pass's later connections do.
func BenchmarkDialTLS(b *testing.B) {
	ca := nntptest.NewCA(b, "bench CA")
	leaf := ca.Issue(b, nntptest.LeafOptions{})
	for _, tt := range []struct {
		name string
		tls  bool
		seed bool // share a session cache
	}{{"plain", false, false}, {"tls-full", true, false}, {"tls-resumed", true, true}} {
		b.Run(tt.name, func(b *testing.B) {
			sc := nntptest.Script{}
			var cfg Config
			if tt.tls {
				sc.TLS = nntptest.ServerConfig(leaf, nil)
				cfg.TLS = &tls.Config{RootCAs: ca.Pool}
				if tt.seed {
					cfg.TLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				}
			}
			srv, err := nntptest.Start("127.0.0.1:0", sc)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			for b.Loop() {
				c, err := Dial(context.Background(), srv.Addr, cfg)
				if err != nil {
					b.Fatal(err)
				}
				c.Quit()
			}
		})
	}
}
