// Package syslogtest is a syslog receiver for tests, like net/http/httptest for HTTP: it
// binds a Unix datagram socket (a stand-in for /dev/log, which the test machines lack)
// and collects the messages sent to it.
package syslogtest

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Message is one received syslog message, split into its RFC 3164 parts.
type Message struct {
	Raw      string
	Facility int
	Priority int    // severity
	Stamp    string // "Mmm dd hh:mm:ss"
	Ident    string
	PID      int
	Text     string
}

// FileLine returns the message as a syslog daemon writes it into a file, which is what
// INN's innreport reads.
func (m Message) FileLine(host string) string {
	return fmt.Sprintf("%s %s %s[%d]: %s", m.Stamp, host, m.Ident, m.PID, m.Text)
}

var packetRE = regexp.MustCompile(`^<(\d{1,3})>([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) ([^\[\]: ]+)\[(\d+)\]: (.*)$`)

// Parse splits a datagram; ok is false when it is not in the format syslog(3) sends.
func Parse(raw string) (m Message, ok bool) {
	sub := packetRE.FindStringSubmatch(raw)
	if sub == nil {
		return Message{Raw: raw}, false
	}
	pri, _ := strconv.Atoi(sub[1])
	pid, _ := strconv.Atoi(sub[4])
	return Message{Raw: raw, Facility: pri >> 3, Priority: pri & 7, Stamp: sub[2], Ident: sub[3], PID: pid, Text: sub[5]}, true
}

// Server collects the datagrams sent to its socket.
type Server struct {
	Path string
	conn *net.UnixConn

	mu   sync.Mutex
	msgs []Message
	more chan struct{}
}

// Listen binds a datagram socket at path (a fresh one in t.TempDir() when path is "")
// and receives until the test ends; the socket file is removed then.
func Listen(t testing.TB, path string) *Server {
	t.Helper()
	if path == "" {
		// Unix socket paths are limited to 107 bytes; TempDir names can be long.
		dir, err := os.MkdirTemp("", "syslogtest")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755) // programs under test may run as news
		path = dir + "/log"
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("syslogtest: %v", err)
	}
	// Anyone may log, as with /dev/log.
	os.Chmod(path, 0o666)
	s := &Server{Path: path, conn: conn, more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			m, _ := Parse(string(buf[:n]))
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
		os.Remove(path)
	})
	return s
}

// Messages returns what has arrived so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns the messages once at least n have arrived, or what there is after timeout.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.more:
		case <-deadline:
			return s.Messages()
		}
	}
}
