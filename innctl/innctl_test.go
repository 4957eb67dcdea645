package innctl

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseReply(t *testing.T) {
	hdr := func(s string) []byte {
		b := []byte{'a', 0, 0}
		b = append(b, s...)
		binary.BigEndian.PutUint16(b[1:], uint16(len(b)))
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want iccReply
		err  string
	}{
		{"ok", hdr("0 Ok"), iccReply{0, "Ok"}, ""},
		{"no such site", hdr("1 No such site"), iccReply{1, "No such site"}, ""},
		{"multi-line", hdr("0 Server running\nAllowing remote connections"), iccReply{0, "Server running\nAllowing remote connections"}, ""},
		{"trailing nul", hdr("0 Ok\x00"), iccReply{0, "Ok"}, ""},
		{"no code", hdr("Ok"), iccReply{0, "Ok"}, ""},
		{"only digits", hdr("12"), iccReply{0, "12"}, ""},
		{"innd's too-long bug", []byte("0 Reply too long for server to send"), iccReply{0, "Reply too long for server to send"}, ""},
		{"empty", nil, iccReply{}, "short reply"},
		{"short", []byte("a\x00"), iccReply{}, "short reply"},
		{"wrong protocol", append([]byte{'b'}, hdr("0 Ok")[1:]...), iccReply{}, "protocol mismatch"},
		{"length mismatch", append(hdr("0 Ok"), 'x'), iccReply{}, "short read"},
		{"huge code", hdr("99999999999999999999999 x"), iccReply{}, "bad code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseReply(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte("a\x00\x070 Ok"))
	f.Add([]byte("a\x00\x111 No such site"))
	f.Add([]byte("0 Reply too long"))
	f.Add([]byte("a\x00\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseReply(b)
		if err != nil {
			return
		}
		if r.Code < 0 {
			t.Fatalf("negative code %d", r.Code)
		}
		if len(r.Text) > len(b) {
			t.Fatalf("text longer than input")
		}
	})
}

func TestEncodeRequest(t *testing.T) {
	b, err := encodeRequest("/run/news/ctlinndX", 'f', []string{"peer"})
	if err != nil {
		t.Fatal(err)
	}
	want := "a\x00\x1c/run/news/ctlinndX\x01f\x01peer"
	if string(b) != want || len(b) != 0x1c {
		t.Fatalf("got %q, want %q", b, want)
	}
	if _, err := encodeRequest("/x", 'f', []string{"a\x01b"}); err == nil {
		t.Error("separator in an argument accepted")
	}
	if _, err := encodeRequest("/x", 'f', []string{strings.Repeat("x", iccMaxRequest)}); err == nil {
		t.Error("oversized request accepted")
	}
}

// fakeInnd serves innd's control socket in dir: answer is called with the
// request's command letter and arguments and returns the raw reply datagram
// (nil: no reply).
func fakeInnd(t *testing.T, dir string, answer func(letter byte, args []string) []byte) {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, ControlSocket), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, iccMaxRequest)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			if n < 3 || b[0] != 'a' || int(binary.BigEndian.Uint16(b[1:3])) != n {
				t.Errorf("bad request %q", b)
				continue
			}
			fields := strings.Split(string(b[3:]), "\x01")
			if len(fields) < 2 || len(fields[1]) != 1 {
				t.Errorf("bad request fields %q", fields)
				continue
			}
			fi, err := os.Stat(fields[0])
			if err != nil || fi.Mode().Perm()&0o002 == 0 {
				t.Errorf("reply socket %s not writable by others: %v %v", fields[0], fi.Mode(), err)
			}
			if reply := answer(fields[1][0], fields[2:]); reply != nil {
				if _, err := conn.WriteToUnix(reply, &net.UnixAddr{Name: fields[0], Net: "unixgram"}); err != nil {
					t.Errorf("reply: %v", err)
				}
			}
		}
	}()
}

func iccDatagram(s string) []byte {
	b := append([]byte{'a', 0, 0}, s...)
	binary.BigEndian.PutUint16(b[1:], uint16(len(b)))
	return b
}

func TestICCFake(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reply     []byte
		noSocket  bool
		stale     bool
		deadPID   bool
		noSuch    bool
		errSubstr string // "" means success
	}{
		{name: "ok", reply: iccDatagram("0 Ok")},
		{name: "no such site", reply: iccDatagram("1 No such site"), noSuch: true, errSubstr: "no such site"},
		{name: "other failure", reply: iccDatagram("1 Bad command"), errSubstr: `innd answered "1 Bad command"`},
		{name: "garbage", reply: []byte("xyz"), errSubstr: "protocol mismatch"},
		{name: "no answer", errSubstr: "no reply from innd within 300ms"},
		{name: "not running", noSocket: true, errSubstr: "innd is not running: no control socket"},
		{name: "stale socket", noSocket: true, stale: true, errSubstr: "innd is not running: nothing listens on"},
		{name: "dead pid", deadPID: true, errSubstr: "innd is not running: pid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if !tc.noSocket {
				fakeInnd(t, dir, func(letter byte, args []string) []byte {
					if letter != 'f' || len(args) != 1 || args[0] != "peer" {
						t.Errorf("request %c %q", letter, args)
					}
					return tc.reply
				})
			}
			if tc.stale {
				// innd killed: its socket file stays, nobody reads it.
				c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, ControlSocket), Net: "unixgram"})
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			if tc.deadPID {
				cmd := exec.Command("true")
				if err := cmd.Run(); err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, PIDFile), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
			}
			start := time.Now()
			err := ICC{PathRun: dir, Timeout: 300 * time.Millisecond}.Flush(context.Background(), "peer")
			if time.Since(start) > 3*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if tc.errSubstr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Fatalf("err = %v, want %q", err, tc.errSubstr)
			}
			if errors.Is(err, ErrNoSuchSite) != tc.noSuch {
				t.Errorf("ErrNoSuchSite: %v", err)
			}
			var fe *FlushError
			if err != nil && !tc.noSuch && (!errors.As(err, &fe) || !fe.Temporary()) {
				t.Errorf("err %T is not a temporary *FlushError", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) > 2 {
				t.Errorf("reply socket left behind: %v", ents)
			}
		})
	}
}

// TestICCContext: cancelling stops the wait.
func TestICCContext(t *testing.T) {
	dir := t.TempDir()
	fakeInnd(t, dir, func(byte, []string) []byte { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ICC{PathRun: dir, Timeout: time.Minute}.Flush(ctx, "peer")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestICCSocketDir(t *testing.T) {
	dir, sockDir := t.TempDir(), t.TempDir()
	fakeInnd(t, dir, func(byte, []string) []byte { return iccDatagram("0 Ok") })
	if err := (ICC{PathRun: dir, SocketDir: sockDir, Timeout: time.Second}).Flush(context.Background(), "peer"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(sockDir); len(ents) != 0 {
		t.Errorf("left in the socket directory: %v", ents)
	}
	err := (ICC{PathRun: dir, SocketDir: filepath.Join(sockDir, "missing"), Timeout: time.Second}).Flush(context.Background(), "peer")
	if err == nil || !strings.Contains(err.Error(), "cannot bind a socket for innd's reply") {
		t.Errorf("err = %v", err)
	}
}

func TestCheckSite(t *testing.T) {
	for _, s := range []string{"", "a\x01b", "a\nb"} {
		if err := (ICC{PathRun: t.TempDir()}).Flush(context.Background(), s); err == nil {
			t.Errorf("site %q accepted", s)
		}
		if err := (Command{Path: "/bin/true"}).Flush(context.Background(), s); err == nil {
			t.Errorf("site %q accepted", s)
		}
	}
}

// fakeCtlinnd writes a shell script standing in for ctlinnd.
func fakeCtlinnd(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ctlinnd")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandFake(t *testing.T) {
	old := killGrace
	killGrace = 300 * time.Millisecond
	defer func() { killGrace = old }()
	for _, tc := range []struct {
		name      string
		body      string
		noSuch    bool
		temporary bool
		errSubstr string
	}{
		{name: "ok", body: `[ "$*" = "-s -t 2 flush peer" ] || { echo "args: $*" >&2; exit 1; }; [ "$INNCONF" = /x/inn.conf ] || exit 1`},
		{name: "no such site", body: "echo 'ctlinnd: No such site' >&2; exit 1", noSuch: true, errSubstr: "no such site"},
		{name: "dead server", temporary: true,
			body:      `echo 'ctlinnd: no innd.pid file; did server die?' >&2; echo 'ctlinnd: cannot send "flush" command (dead server failure): No such process' >&2; exit 1`,
			errSubstr: `ctlinnd flush peer: no innd.pid file; did server die?; cannot send "flush" command (dead server failure): No such process`},
		{name: "silent failure", body: "exit 3", temporary: true, errSubstr: "ctlinnd failed without a message: exit status 3"},
		{name: "hangs", body: "exec sleep 30", temporary: true, errSubstr: "did not finish within 2.3s; killed"},
		{name: "killed", body: "kill -9 $$", temporary: true, errSubstr: "signal: killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Command{Path: fakeCtlinnd(t, tc.body), Timeout: 1500 * time.Millisecond, Env: []string{"INNCONF=/x/inn.conf"}}
			if err := c.Check(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := c.Flush(context.Background(), "peer")
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if tc.errSubstr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Fatalf("err = %v, want %q", err, tc.errSubstr)
			}
			if errors.Is(err, ErrNoSuchSite) != tc.noSuch {
				t.Errorf("ErrNoSuchSite: %v", err)
			}
			var tmp interface{ Temporary() bool }
			if (errors.As(err, &tmp) && tmp.Temporary()) != tc.temporary {
				t.Errorf("temporary: %v", err)
			}
		})
	}
}

func TestCommandMissing(t *testing.T) {
	c := Command{Path: filepath.Join(t.TempDir(), "ctlinnd")}
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Check: %v", err)
	}
	err := c.Flush(context.Background(), "peer")
	var tmp interface{ Temporary() bool }
	if err == nil || errors.As(err, &tmp) && tmp.Temporary() {
		t.Errorf("Flush: %v, want a permanent error", err)
	}
	notExec := fakeCtlinnd(t, "exit 0")
	os.Chmod(notExec, 0o644)
	if err := (Command{Path: notExec}).Check(); err == nil {
		t.Error("non-executable ctlinnd passes Check")
	}
}

func TestCtlinndPath(t *testing.T) {
	dir := t.TempDir()
	if got := CtlinndPath(dir); got != SystemCtlinnd {
		t.Errorf("no ctlinnd in pathbin: %s", got)
	}
	p := filepath.Join(dir, "ctlinnd")
	os.WriteFile(p, nil, 0o755)
	if got := CtlinndPath(dir); got != p {
		t.Errorf("got %s, want %s", got, p)
	}
	if got := CtlinndPath(""); got != SystemCtlinnd {
		t.Errorf("empty pathbin: %s", got)
	}
}

func TestLimitedBuffer(t *testing.T) {
	var b limitedBuffer
	b.Write(bytes.Repeat([]byte("x"), maxOutput+10))
	b.Write([]byte("y"))
	if b.Len() != maxOutput {
		t.Errorf("kept %d bytes", b.Len())
	}
}
