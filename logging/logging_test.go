package logging

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nxmit/logging/syslogtest"
)

var stamp = time.Date(2026, 11, 4, 9, 5, 7, 0, time.Local)

func fixedNow() time.Time { return stamp }

func TestSyslogDatagrams(t *testing.T) {
	srv := syslogtest.Listen(t, "")
	l, err := Open(Options{Socket: srv.Path, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Notice("peer stats offered 1 accepted 1 refused 0 rejected 0 missing 0 accsize 10 rejsize 0")
	l.LogAs("nxmit", Info, "peer nxmit deferred 0\nwith a newline")
	l.Log(Crit, "peer rejected <a@b> 502 go away")
	msgs := srv.Wait(3, 5*time.Second)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages: %+v", len(msgs), msgs)
	}
	want := []struct {
		pri   Priority
		ident string
		text  string
	}{
		{Notice, "innxmit", "peer stats offered 1 accepted 1 refused 0 rejected 0 missing 0 accsize 10 rejsize 0"},
		{Info, "nxmit", "peer nxmit deferred 0 with a newline"},
		{Crit, "innxmit", "peer rejected <a@b> 502 go away"},
	}
	for i, w := range want {
		m := msgs[i]
		if m.Facility != FacilityNews || m.Priority != int(w.pri) || m.Ident != w.ident || m.Text != w.text || m.PID != os.Getpid() || m.Stamp != "Nov  4 09:05:07" {
			t.Errorf("message %d: %+v, want %v %s %q", i, m, w.pri, w.ident, w.text)
		}
	}
	if !strings.HasPrefix(msgs[0].Raw, "<61>Nov  4 09:05:07 innxmit[") {
		t.Errorf("raw datagram %q", msgs[0].Raw)
	}
}

func TestSyslogAbsentIsQuiet(t *testing.T) {
	l, err := Open(Options{Socket: filepath.Join(t.TempDir(), "no-such-socket")})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Log(Notice, "lost"); err != nil {
		t.Errorf("Log without a syslog daemon: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestSyslogRestarted(t *testing.T) {
	dir, err := os.MkdirTemp("", "logtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := dir + "/log"
	l, _ := Open(Options{Socket: path})
	defer l.Close()
	l.Notice("before the daemon")
	srv := syslogtest.Listen(t, path)
	l.Notice("after the daemon started")
	if msgs := srv.Wait(1, 5*time.Second); len(msgs) != 1 || msgs[0].Text != "after the daemon started" {
		t.Errorf("messages %+v", msgs)
	}
}

func TestSyslogStreamSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "logtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := dir + "/log"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		var all []byte
		for !strings.Contains(string(all), "\x00") {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:n]...)
		}
		got <- string(all)
	}()
	l, _ := Open(Options{Socket: path, Now: fixedNow})
	l.Notice("over a stream")
	l.Close()
	s := <-got
	if !strings.HasPrefix(s, "<61>Nov  4 09:05:07 innxmit[") || !strings.HasSuffix(s, "]: over a stream\x00") {
		t.Errorf("stream message %q", s)
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nxmit.log")
	l, err := Open(Options{File: path, Hostname: "news", Now: fixedNow, Ident: "nxmit-test"})
	if err != nil {
		t.Fatal(err)
	}
	l.Notice("peer stats offered 0 accepted 0 refused 0 rejected 0 missing 0 accsize 0 rejsize 0")
	l.LogAs("nxmit", Info, "peer nxmit detail (below notice: in the file too, nothing is lost)")
	l.Log(Err, "peer authenticate failed 481 no")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	pid := os.Getpid()
	want := "Nov  4 09:05:07 news nxmit-test[" + strconv.Itoa(pid) + "]: peer stats offered 0 accepted 0 refused 0 rejected 0 missing 0 accsize 0 rejsize 0\n" +
		"Nov  4 09:05:07 news nxmit[" + strconv.Itoa(pid) + "]: peer nxmit detail (below notice: in the file too, nothing is lost)\n" +
		"Nov  4 09:05:07 news nxmit-test[" + strconv.Itoa(pid) + "]: peer authenticate failed 481 no\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	// Appends, never truncates.
	l, _ = Open(Options{File: path, Hostname: "news", Now: fixedNow})
	l.Notice("x")
	l.Close()
	if data2, _ := os.ReadFile(path); !strings.HasPrefix(string(data2), want) || len(data2) <= len(data) {
		t.Errorf("second open did not append:\n%s", data2)
	}
	if _, err := Open(Options{File: filepath.Join(t.TempDir(), "no", "dir", "x.log")}); err == nil {
		t.Error("unwritable log file: no error")
	}
}

// TestFileNeverFollowsLink: the log file may sit in a directory news writes, and a root
// run opens it before switching to news; a link there must not make root append to the
// file it points at (/etc/passwd, say).
func TestFileNeverFollowsLink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	link := filepath.Join(dir, "nxmit.log")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	l, err := Open(Options{File: link, Hostname: "news", Now: fixedNow})
	if err == nil {
		l.Notice("peer stats offered 1")
		l.Close()
		t.Error("a log file that is a symbolic link was opened")
	}
	if data, _ := os.ReadFile(victim); string(data) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("the link's target was written: %q", data)
	}
}

// TestDefaultSocket logs through /dev/log itself, the way nxmit does in production. The
// test machines have no syslog daemon, so the test binds /dev/log for its duration; where
// a daemon owns it, the test leaves it alone.
func TestDefaultSocket(t *testing.T) {
	if _, err := os.Lstat(DefaultSocket); err == nil {
		t.Skipf("%s exists (a syslog daemon runs here); not touching it", DefaultSocket)
	}
	if os.Geteuid() != 0 {
		t.Skip("binding /dev/log needs root")
	}
	srv := syslogtest.Listen(t, DefaultSocket)
	l, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Notice("via the default socket")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range srv.Messages() {
			// Other programs may log while the socket exists: look for ours.
			if m.PID == os.Getpid() && m.Ident == DefaultIdent && m.Facility == FacilityNews && m.Text == "via the default socket" {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("message not received on %s: %+v", DefaultSocket, srv.Messages())
}

func TestSocketExists(t *testing.T) {
	dir := t.TempDir()
	if SocketExists(filepath.Join(dir, "none")) {
		t.Error("a missing socket exists")
	}
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	if SocketExists(filepath.Join(dir, "file")) {
		t.Error("a plain file is a socket")
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Skip(err)
	}
	defer ln.Close()
	if !SocketExists(filepath.Join(dir, "sock")) {
		t.Error("a socket does not exist")
	}
}
