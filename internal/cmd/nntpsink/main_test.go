package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSink(t *testing.T) {
	pr, pw := io.Pipe()
	stop := make(chan os.Signal, 1)
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"-listen", "127.0.0.1:0", "-delay", "1ms"}, pw, io.Discard, stop)
		pw.Close()
	}()
	out := bufio.NewReader(pr)
	first, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(first), "nntpsink: listening on ")
	if !ok {
		t.Fatalf("first line %q", first)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	conn.Write([]byte("MODE STREAM\r\nCHECK <a@b>\r\nTAKETHIS <a@b>\r\nSubject: x\r\n\r\nbody\r\n.\r\nIHAVE <c@d>\r\n"))
	for _, want := range []string{"200 ", "203 ", "238 <a@b>", "239 <a@b>", "335 "} {
		l, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, want) {
			t.Fatalf("got %q, %v; want %q", l, err, want)
		}
	}
	conn.Write([]byte("Subject: y\r\n\r\n.\r\n"))
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "235 ") {
		t.Fatalf("got %q after the IHAVE article", l)
	}

	stop <- syscall.SIGTERM
	last, _ := io.ReadAll(out)
	if c := <-code; c != 0 {
		t.Errorf("exit %d", c)
	}
	want := "nntpsink: connections 1 check 1 takethis 1 ihave 1 accepted 2 refused 0 rejected 0 deferred 0 articles 2 bytes 40\n"
	if string(last) != want {
		t.Errorf("last line\n%q\nwant\n%q", last, want)
	}
}

func TestUsage(t *testing.T) {
	if c := run([]string{"-bogus"}, io.Discard, io.Discard, nil); c != 2 {
		t.Errorf("bad flag: exit %d", c)
	}
	if c := run([]string{"extra"}, io.Discard, io.Discard, nil); c != 2 {
		t.Errorf("extra argument: exit %d", c)
	}
}
