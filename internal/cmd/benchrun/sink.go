package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"nxmit/nntp/nntptest"
)

// sinkProc is a null peer that accepts every article (nntptest's sink, counting only),
// optionally answering each command delay after it arrived with the pipeline kept: a
// simulated long-distance peer.
type sinkProc struct {
	srv  *nntptest.Server
	port int
}

func startSink(delay time.Duration) (*sinkProc, error) {
	srv, err := nntptest.Start("127.0.0.1:0", nntptest.Script{CountOnly: true, Delay: delay})
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	_, p, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("sink address %s: %w", srv.Addr, err)
	}
	port, _ := strconv.Atoi(p)
	return &sinkProc{srv: srv, port: port}, nil
}

// startTLSSink starts the sink behind implicit TLS with a certificate of a CA made for
// the run, and returns the CA's PEM file (in work) for nxmit's --tls-ca.
func startTLSSink(work string) (*sinkProc, string, error) {
	ca, err := nntptest.MakeCA("benchrun CA")
	if err != nil {
		return nil, "", err
	}
	leaf, err := ca.MakeLeaf(nntptest.LeafOptions{})
	if err != nil {
		return nil, "", err
	}
	caFile := filepath.Join(work, "tls-sink-ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		return nil, "", err
	}
	srv, err := nntptest.Start("127.0.0.1:0", nntptest.Script{CountOnly: true, TLS: nntptest.ServerConfig(leaf, nil)})
	if err != nil {
		return nil, "", fmt.Errorf("TLS sink: %w", err)
	}
	_, p, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(p)
	return &sinkProc{srv: srv, port: port}, caFile, nil
}

// accepted is the number of articles the sink has accepted so far.
func (s *sinkProc) accepted() int { return s.srv.Stats().Accepted }

func (s *sinkProc) stop() { s.srv.Close() }
