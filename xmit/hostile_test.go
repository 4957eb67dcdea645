package xmit

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/nntp"
)

// hostilePeer listens on 127.0.0.1 and runs serve for each connection, closing it after.
func hostilePeer(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return l.Addr().String()
}

// trickle writes s one byte every gap, until s ends or the connection fails.
func trickle(c net.Conn, s string, gap time.Duration) {
	for i := 0; i < len(s); i++ {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// endless writes s and then bytes with no line end, until the connection fails or
// limit bytes were written.
func endless(c net.Conn, s string, limit int) {
	if _, err := c.Write([]byte(s)); err != nil {
		return
	}
	chunk := []byte(strings.Repeat("x", 64<<10))
	for n := 0; n < limit; n += len(chunk) {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// TestSendHostilePeers: every read from a peer has a deadline and a size bound. A reply
// line that never ends, a greeting of megabytes, and a peer that trickles its replies a
// byte at a time each end the connection with a clear error, within the reply timeout,
// with the heap staying small, and every line still queued.
func TestSendHostilePeers(t *testing.T) {
	const replyTimeout = time.Second
	answerMode := func(c net.Conn, r *bufio.Reader) bool {
		if _, err := r.ReadString('\n'); err != nil { // MODE STREAM
			return false
		}
		return true
	}
	tests := []struct {
		name  string
		serve func(c net.Conn, r *bufio.Reader)
		want  string
	}{
		{"endless reply line", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte("200 hostile\r\n"))
			if answerMode(c, r) {
				endless(c, "203 ", 64<<20)
			}
		}, "reply line too long"},
		{"greeting of megabytes", func(c net.Conn, r *bufio.Reader) {
			endless(c, "200 ", 8<<20)
		}, "reply line too long"},
		{"trickled greeting", func(c net.Conn, r *bufio.Reader) {
			trickle(c, "200 one byte at a time, for ever and ever and ever\r\n", 200*time.Millisecond)
		}, "no complete reply line in time"},
		{"trickled replies", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte("200 hostile\r\n"))
			if answerMode(c, r) {
				trickle(c, "203 streaming permitted, very slowly, one byte at a time\r\n", 200*time.Millisecond)
			}
		}, "no complete reply line in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, 20)
			addr := hostilePeer(t, tt.serve)
			opt := s.options(addr)
			opt.Connections = 1
			opt.Dial = nntp.Config{DialTimeout: 2 * replyTimeout, ReplyTimeout: replyTimeout, WriteTimeout: replyTimeout}
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, err := Send(ctx, opt)
			elapsed := time.Since(start)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			t.Logf("%s: %v", elapsed.Round(time.Millisecond), err)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Send: %v (stats %+v), want an error saying %q", err, st, tt.want)
			}
			if elapsed > 8*replyTimeout {
				t.Errorf("the connection lasted %s, want it ended within a few reply timeouts (%s)", elapsed, replyTimeout)
			}
			if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
				t.Errorf("heap grew by %d bytes against the peer", grown)
			}
			s.checkBalance(st, 20)
			if b, _ := s.queued(); b != 20 {
				t.Errorf("%d lines still queued, want all 20", b)
			}
		})
	}
}
