package innctl

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The ICC protocol (INN's lib/inndcomm.c and innd/cc.c): one datagram each
// way over AF_UNIX SOCK_DGRAM sockets.
//
//	request: 'a', total length (BE uint16, header included),
//	         "<client socket path>\x01<command letter>\x01<arg>..."
//	reply:   'a', total length, "<decimal code> <text>"
const (
	iccProtocol   = 'a'
	iccHeaderSize = 3
	iccSep        = '\x01'
	iccFlush      = 'f'
	// iccMaxRequest is innd's receive buffer (BIG_BUFFER); a longer request
	// is dropped silently.
	iccMaxRequest = 8192
	// iccMaxReply matches ctlinnd's receive buffer.
	iccMaxReply = 64*1024 - 1
	// sunPathMax is sizeof(sockaddr_un.sun_path) minus the NUL innd's
	// strlcpy needs: a longer reply path would be cut short by innd.
	sunPathMax = 107
)

// ControlSocket is the name of innd's control socket in pathrun.
const ControlSocket = "control"

// PIDFile is the name of innd's pid file in pathrun.
const PIDFile = "innd.pid"

// ICC flushes a site by speaking innd's control protocol directly, as
// ctlinnd does, without running ctlinnd.
//
// The process needs write permission on PathRun/control (mode 0775
// news:news under Debian's innd, so: root, or a member of group news), and
// a place to bind its own reply socket that innd can send to: PathRun when
// it is writable (as ctlinnd does), else the system's temporary directory.
// The reply socket is made writable by everyone, since innd runs as news.
type ICC struct {
	// PathRun is inn.conf's pathrun, holding innd's control socket and pid file.
	PathRun string
	// Timeout bounds the wait for innd's reply; zero means DefaultTimeout.
	Timeout time.Duration
	// SocketDir, when set, is where the reply socket is bound instead.
	SocketDir string
}

// An iccReply is innd's answer to a control command.
type iccReply struct {
	Code int    // 0 success; 1 failure (ctlinnd's exit status)
	Text string // the rest, such as "Ok" or "No such site"
}

// Check reports whether PathRun is set; innd being down is not an error
// here, since a flush found failing is simply retried.
func (c ICC) Check() error {
	if c.PathRun == "" {
		return errors.New("icc: pathrun not known")
	}
	return nil
}

// Flush asks innd to flush site over its control socket. A reply "1 No such
// site" gives an error wrapping ErrNoSuchSite; any other failure is a
// *FlushError.
func (c ICC) Flush(ctx context.Context, site string) error {
	if err := checkSite(site); err != nil {
		return err
	}
	r, err := c.do(ctx, iccFlush, site)
	if err != nil {
		return &FlushError{Site: site, Via: "icc", Reason: err.Error(), Err: errors.Unwrap(err)}
	}
	switch {
	case r.Code == 0:
		return nil
	case strings.HasPrefix(r.Text, "No such site"):
		return fmt.Errorf("icc flush %s: innd: %w", site, ErrNoSuchSite)
	default:
		return &FlushError{Site: site, Via: "icc", Reason: "innd answered " + strconv.Quote(strconv.Itoa(r.Code)+" "+r.Text)}
	}
}

// do sends one command and waits for its reply.
func (c ICC) do(ctx context.Context, letter byte, args ...string) (iccReply, error) {
	server := filepath.Join(c.PathRun, ControlSocket)
	if err := c.serverAlive(server); err != nil {
		return iccReply{}, err
	}
	conn, local, err := c.bindReply()
	if err != nil {
		return iccReply{}, err
	}
	defer os.Remove(local)
	defer conn.Close()

	req, err := encodeRequest(local, letter, args)
	if err != nil {
		return iccReply{}, err
	}
	if _, err := conn.WriteToUnix(req, &net.UnixAddr{Name: server, Net: "unixgram"}); err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		switch errno {
		case syscall.ECONNREFUSED, syscall.ENOENT:
			return iccReply{}, fmt.Errorf("innd is not running: nothing listens on %s (%w)", server, errno)
		case syscall.EACCES, syscall.EPERM:
			return iccReply{}, fmt.Errorf("no permission to write to %s (run as news or root): %w", server, errno)
		}
		return iccReply{}, fmt.Errorf("send to %s: %w", server, err)
	}

	timeout := timeoutOrDefault(c.Timeout)
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	buf := make([]byte, iccMaxReply)
	for {
		// Wake up every second to notice innd dying or ctx being cancelled.
		step := min(time.Until(deadline), time.Second)
		if err := conn.SetReadDeadline(time.Now().Add(max(step, 0))); err != nil {
			return iccReply{}, err
		}
		n, err := conn.Read(buf)
		if err == nil {
			return parseReply(buf[:n])
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return iccReply{}, fmt.Errorf("read reply on %s: %w", local, err)
		}
		if ctx.Err() != nil {
			return iccReply{}, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		if !time.Now().Before(deadline) {
			return iccReply{}, fmt.Errorf("no reply from innd within %s: %w", timeout, os.ErrDeadlineExceeded)
		}
		if err := c.serverAlive(server); err != nil {
			return iccReply{}, err
		}
	}
}

// serverAlive fails when innd is certainly not running: no control socket,
// or a pid file naming a process that does not exist. In doubt it says yes,
// as ctlinnd does.
func (c ICC) serverAlive(server string) error {
	if _, err := os.Stat(server); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("innd is not running: no control socket %s", server)
	}
	pidPath := filepath.Join(c.PathRun, PIDFile)
	b, err := os.ReadFile(pidPath)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("innd is not running: pid %d from %s is gone", pid, pidPath)
	}
	return nil
}

// bindReply binds a fresh datagram socket for innd's reply.
func (c ICC) bindReply() (*net.UnixConn, string, error) {
	dirs := []string{c.SocketDir}
	if c.SocketDir == "" {
		dirs = []string{c.PathRun, os.TempDir()}
	}
	var firstErr error
	for _, dir := range dirs {
		conn, path, err := bindIn(dir)
		if err == nil {
			return conn, path, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, "", fmt.Errorf("cannot bind a socket for innd's reply: %w", firstErr)
}

func bindIn(dir string) (*net.UnixConn, string, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "nxmit"+strconv.Itoa(os.Getpid())+"."+hex.EncodeToString(rnd[:]))
	if len(path) > sunPathMax {
		return nil, "", fmt.Errorf("socket path %s: longer than %d bytes", path, sunPathMax)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, "", err
	}
	// innd runs as news and must be able to send to the socket, whoever we are.
	if err := os.Chmod(path, 0o666); err != nil {
		conn.Close()
		os.Remove(path)
		return nil, "", err
	}
	_ = conn.SetReadBuffer(iccMaxReply + 1)
	return conn, path, nil
}

// encodeRequest builds a request datagram.
func encodeRequest(replyPath string, letter byte, args []string) ([]byte, error) {
	b := make([]byte, iccHeaderSize, iccHeaderSize+len(replyPath)+2+16)
	b[0] = iccProtocol
	b = append(b, replyPath...)
	b = append(b, iccSep, letter)
	for _, a := range args {
		if strings.IndexByte(a, iccSep) >= 0 {
			return nil, fmt.Errorf("icc: argument %q contains \\x01", a)
		}
		b = append(b, iccSep)
		b = append(b, a...)
	}
	if len(b) > iccMaxRequest {
		return nil, fmt.Errorf("icc: request of %d bytes exceeds innd's %d", len(b), iccMaxRequest)
	}
	binary.BigEndian.PutUint16(b[1:3], uint16(len(b)))
	return b, nil
}

// parseReply decodes a reply datagram. It also accepts the bare
// "0 Reply too long..." text innd sends, without a header, when its reply
// does not fit the socket.
func parseReply(b []byte) (iccReply, error) {
	var text []byte
	switch {
	case len(b) > 0 && b[0] >= '0' && b[0] <= '9':
		text = b
	case len(b) < iccHeaderSize:
		return iccReply{}, fmt.Errorf("short reply from innd (%d bytes)", len(b))
	case b[0] != iccProtocol:
		return iccReply{}, fmt.Errorf("protocol mismatch in innd's reply (byte %#02x)", b[0])
	default:
		if n := int(binary.BigEndian.Uint16(b[1:3])); n != len(b) {
			return iccReply{}, fmt.Errorf("short read: innd's reply says %d bytes, got %d", n, len(b))
		}
		text = b[iccHeaderSize:]
	}
	s := strings.TrimRight(string(text), "\x00")
	// As ctlinnd: a leading number followed by something is the code; else 0.
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	var r iccReply
	if i > 0 && i < len(s) {
		code, err := strconv.Atoi(s[:i])
		if err != nil {
			return iccReply{}, fmt.Errorf("bad code in innd's reply %q", s)
		}
		r.Code = code
		s = s[i:]
		if s[0] == ' ' {
			s = s[1:]
		}
	}
	r.Text = s
	return r, nil
}
