package nntp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

func TestDialGreeting(t *testing.T) {
	tests := []struct {
		name   string
		script nntptest.Script
		code   int // success: greeting code; failure: the *Error's code
		proto  bool
		temp   bool
	}{
		{name: "200", script: nntptest.Script{}, code: 200},
		{name: "201", script: nntptest.Script{Greeting: 201}, code: 201},
		{name: "throttled", script: nntptest.Script{Greeting: 400}, code: 400, temp: true},
		{name: "unknown peer", script: nntptest.Script{Greeting: 502}, code: 502},
		{name: "unexpected 2xx", script: nntptest.Script{GreetingLine: "211 hello"}, proto: true},
		{name: "garbage", script: nntptest.Script{GreetingLine: "SSH-2.0-OpenSSH_9.6"}, proto: true},
		{name: "too long", script: nntptest.Script{GreetingLine: "200 " + strings.Repeat("x", MaxReplyLine)}, proto: true},
		{name: "way too long", script: nntptest.Script{GreetingLine: "200 " + strings.Repeat("x", 5*readBufferSize)}, proto: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, tt.script)
			c, err := Dial(context.Background(), srv.Addr, Config{ReplyTimeout: 5 * time.Second})
			var pe *ProtocolError
			var ne *Error
			switch {
			case tt.proto:
				if !errors.As(err, &pe) {
					t.Fatalf("Dial = %v; want *ProtocolError", err)
				}
				if isTemporary(err) {
					t.Errorf("%v is temporary", err)
				}
			case tt.code >= 400:
				if !errors.As(err, &ne) || ne.Reply.Code != tt.code {
					t.Fatalf("Dial = %v; want *Error %d", err, tt.code)
				}
				if isTemporary(err) != tt.temp {
					t.Errorf("Temporary = %v, want %v", isTemporary(err), tt.temp)
				}
			default:
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				if c.Greeting().Code != tt.code {
					t.Errorf("greeting %v", c.Greeting())
				}
			}
		})
	}
}

// silentListener accepts connections and never writes; it returns its address.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestDialTimeouts(t *testing.T) {
	addr := silentListener(t)
	start := time.Now()
	_, err := Dial(context.Background(), addr, Config{DialTimeout: 100 * time.Millisecond})
	var ce *ConnError
	if !errors.As(err, &ce) || !ce.Timeout() || !isTemporary(err) {
		t.Fatalf("Dial to a silent peer = %v; want a temporary timeout *ConnError", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, addr, Config{})
	if !errors.Is(err, context.DeadlineExceeded) || !isTemporary(err) {
		t.Fatalf("Dial with an expiring context = %v", err)
	}

	// Nobody listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), closed, Config{}); !errors.As(err, &ce) || !isTemporary(err) {
		t.Fatalf("Dial to a closed port = %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name       string
		user, pass string // configured on the server
		give       string // password given
		code       int    // 0: success
	}{
		{name: "ok", user: "feed", pass: "secret", give: "secret"},
		{name: "wrong password", user: "feed", pass: "secret", give: "guess", code: 481},
		{name: "not supported", give: "secret", code: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, nntptest.Script{User: tt.user, Pass: tt.pass})
			c := dial(t, srv, Config{})
			err := c.Authenticate("feed", tt.give)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if ok, err := c.ModeStream(); !ok || err != nil {
					t.Fatalf("ModeStream after AUTHINFO = %v, %v", ok, err)
				}
				return
			}
			var ne *Error
			if !errors.As(err, &ne) || ne.Reply.Code != tt.code || isTemporary(err) {
				t.Fatalf("Authenticate = %v; want permanent *Error %d", err, tt.code)
			}
		})
	}
	t.Run("bad argument", func(t *testing.T) {
		srv := nntptest.NewServer(t, nntptest.Script{})
		c := dial(t, srv, Config{})
		if err := c.Authenticate("", "x"); err == nil {
			t.Fatal("empty user accepted")
		}
		if err := c.Authenticate("a", "x\r\nQUIT"); err == nil {
			t.Fatal("password with CRLF accepted")
		}
	})
}

func TestModeStream(t *testing.T) {
	tests := []struct {
		name   string
		script nntptest.Script
		want   bool
		err    bool
	}{
		{name: "203", script: nntptest.Script{}, want: true},
		{name: "501", script: nntptest.Script{NoStream: true}},
		{name: "480", script: nntptest.Script{User: "u", Pass: "p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nntptest.NewServer(t, tt.script)
			c := dial(t, srv, Config{})
			ok, err := c.ModeStream()
			if ok != tt.want || (err != nil) != tt.err {
				t.Fatalf("ModeStream = %v, %v; want %v", ok, err, tt.want)
			}
			if err := c.Quit(); err != nil {
				t.Errorf("Quit: %v", err)
			}
		})
	}
}

// rawPeer greets with 200 and answers the i-th command line it reads with replies[i]
// (which may hold several lines); after the last it closes.
func rawPeer(t *testing.T, replies ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("200 raw peer\r\n"))
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for _, r := range replies {
			for !bytes.Contains(buf, []byte("\n")) {
				n, err := c.Read(tmp)
				if err != nil {
					return
				}
				buf = append(buf, tmp[:n]...)
			}
			buf = buf[bytes.IndexByte(buf, '\n')+1:]
			c.Write([]byte(r + "\r\n"))
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestModeStreamOdd(t *testing.T) {
	tests := []struct {
		reply string
		want  bool
		err   bool
	}{
		{reply: "400 closing", err: true},
		{reply: "500 What?"},
		{reply: "480 Authentication required"},
		{reply: "203 Streaming permitted", want: true},
		{reply: "garbage", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			c, err := Dial(context.Background(), rawPeer(t, tt.reply), Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ok, err := c.ModeStream()
			if ok != tt.want || (err != nil) != tt.err {
				t.Fatalf("ModeStream = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
}

func TestModeStreamClosed(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{})
	c := dial(t, srv, Config{})
	srv.Close()
	if _, err := c.ModeStream(); err == nil || !isTemporary(err) {
		t.Fatalf("ModeStream on a closed connection = %v", err)
	}
	// The failure sticks.
	if _, err := c.Stream(context.Background(), newTestFeeder(t, 1, 100), StreamConfig{}); err == nil {
		t.Fatal("Stream on a broken client succeeded")
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit on a broken client: %v", err)
	}
}

func TestTrace(t *testing.T) {
	srv := nntptest.NewServer(t, nntptest.Script{User: "feed", Pass: "secret"})
	var buf syncBuffer
	c := dial(t, srv, Config{Trace: &buf})
	if err := c.Authenticate("feed", "secret"); err != nil {
		t.Fatal(err)
	}
	c.ModeStream()
	f := newTestFeeder(t, 3, 200)
	if _, err := c.Stream(context.Background(), f, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	got := buf.String()
	for _, want := range []string{
		"< 200 nntptest", "> AUTHINFO USER feed", "> AUTHINFO PASS ********", "< 281",
		"> MODE STREAM", "< 203", "> CHECK <0.test@nntp.example>", "< 238 <0.test@nntp.example>",
		"> TAKETHIS <2.test@nntp.example>", "< 239 <2.test@nntp.example>", "> QUIT",
	} {
		if !strings.Contains(got, want+"") {
			t.Errorf("trace lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "secret") || strings.Contains(got, "Subject:") {
		t.Errorf("trace shows the password or an article:\n%s", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Quit does not wait for 205: over a long path that would add a round trip to every
// pass. The peer still reads the QUIT.
func TestQuitDoesNotWait(t *testing.T) {
	const delay = 300 * time.Millisecond
	srv := nntptest.NewServer(t, nntptest.Script{Delay: delay})
	c := dial(t, srv, Config{})
	start := time.Now()
	if err := c.Quit(); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	if d := time.Since(start); d >= delay {
		t.Errorf("Quit took %v: it waited for the reply of a peer answering %v late", d, delay)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Commands["QUIT"] != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Stats().Commands["QUIT"]; n != 1 {
		t.Errorf("the peer read %d QUIT commands, want 1", n)
	}
}
