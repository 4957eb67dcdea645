// Package logging records nxmit's statistics and notable events the way innxmit does:
// to syslog with facility news under the ident "innxmit" (so INN's innreport counts
// them), or to a log file in syslog's traditional file format when one is configured.
//
// Syslog messages are written as RFC 3164 datagrams ("<PRI>Mmm dd hh:mm:ss
// ident[pid]: message") to the local socket /dev/log, as the C library's syslog(3)
// does. A machine without a syslog daemon has no such socket; nxmit then writes a log
// file in INN's pathlog instead (SocketExists tells; the commands decide), and status
// says so. A log file receives every message, whatever its priority. Failing to open
// a log file is reported.
package logging

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Priority is a syslog severity.
type Priority int

// The severities innxmit uses, with syslog's numbers.
const (
	Crit    Priority = 2
	Err     Priority = 3
	Warning Priority = 4
	Notice  Priority = 5
	Info    Priority = 6
	Debug   Priority = 7
)

var priorityNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

func (p Priority) String() string {
	if p >= 0 && int(p) < len(priorityNames) {
		return priorityNames[p]
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

// FacilityNews is syslog's news facility (LOG_NEWS), where INN logs.
const FacilityNews = 7

// DefaultIdent is the ident innreport counts as innxmit's.
const DefaultIdent = "innxmit"

// DefaultSocket is the local syslog socket.
const DefaultSocket = "/dev/log"

// Options configure a Logger. The zero value logs to /dev/log as innxmit.
type Options struct {
	Ident    string // default DefaultIdent
	Facility int    // default FacilityNews
	// Socket is the syslog socket (default DefaultSocket). Tests point it elsewhere.
	Socket string
	// File, when set, receives the messages instead of syslog, one line each in
	// syslog's file format ("Mmm dd hh:mm:ss host ident[pid]: message").
	File string
	// FileLevel is the least severe priority written to File (default Debug: every
	// message that would have gone to syslog, so that nothing is lost).
	FileLevel Priority
	// Hostname for File lines (default the short host name).
	Hostname string
	// Now returns the time stamp (default time.Now).
	Now func() time.Time
}

// Logger writes log messages. It is safe for concurrent use.
type Logger struct {
	opt Options
	pid int

	mu     sync.Mutex
	conn   net.Conn // syslog; nil when not connected
	stream bool     // conn is a stream socket: messages end in NUL
	file   *os.File
	err    error // the first file error, returned by Close
}

// Open returns a Logger. It fails only when a log file was asked for and cannot be
// opened; an absent syslog socket is not an error.
func Open(opt Options) (*Logger, error) {
	if opt.Ident == "" {
		opt.Ident = DefaultIdent
	}
	if opt.Facility == 0 {
		opt.Facility = FacilityNews
	}
	if opt.Socket == "" {
		opt.Socket = DefaultSocket
	}
	if opt.FileLevel == 0 {
		opt.FileLevel = Debug
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Hostname == "" {
		opt.Hostname = shortHostname()
	}
	l := &Logger{opt: opt, pid: os.Getpid()}
	if opt.File != "" {
		// Never through a link: the log directory may be news', and a root run opens
		// the file before it switches to news.
		f, err := os.OpenFile(opt.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o664)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		l.file = f
	}
	return l, nil
}

// SocketExists reports whether the syslog socket is there: without it (a container, a
// machine without a syslog daemon) messages sent to syslog are lost.
func SocketExists(socket string) bool {
	if socket == "" {
		socket = DefaultSocket
	}
	fi, err := os.Stat(socket)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// File returns the log file's path, "" when messages go to syslog.
func (l *Logger) File() string { return l.opt.File }

// Discard is a Logger that writes nothing.
func Discard() *Logger { return &Logger{opt: Options{Socket: "-"}} }

// Ident returns the ident messages are logged under.
func (l *Logger) Ident() string { return l.opt.Ident }

// Log writes msg with priority p under the Logger's ident.
func (l *Logger) Log(p Priority, msg string) error { return l.LogAs(l.opt.Ident, p, msg) }

// LogAs writes msg with priority p under another ident, for lines that must not be
// counted as innxmit's.
func (l *Logger) LogAs(ident string, p Priority, msg string) error {
	msg = strings.TrimRight(clean(msg), " ")
	if l.opt.Socket == "-" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opt.Now()
	if l.file != nil {
		if p > l.opt.FileLevel {
			return nil
		}
		line := fmt.Sprintf("%s %s %s[%d]: %s\n", now.Format(time.Stamp), l.opt.Hostname, ident, l.pid, msg)
		if _, err := l.file.WriteString(line); err != nil {
			if l.err == nil {
				l.err = fmt.Errorf("log file: %w", err)
			}
			return l.err
		}
		return nil
	}
	pri := l.opt.Facility<<3 | int(p)
	packet := fmt.Sprintf("<%d>%s %s[%d]: %s", pri, now.Format(time.Stamp), ident, l.pid, msg)
	l.sendSyslog(packet)
	return nil
}

// Notice logs at notice, innxmit's level for statistics.
func (l *Logger) Notice(msg string) { l.Log(Notice, msg) }

// Close closes the socket and the file; it returns the first error writing the file.
func (l *Logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
	if l.file != nil {
		if err := l.file.Close(); err != nil && l.err == nil {
			l.err = fmt.Errorf("log file: %w", err)
		}
		l.file = nil
	}
	return l.err
}

// sendSyslog writes one message, (re)connecting as needed; a syslog daemon that went
// away or was restarted costs one redial per message, never an error.
func (l *Logger) sendSyslog(packet string) {
	for attempt := 0; attempt < 2; attempt++ {
		if l.conn == nil && !l.dial() {
			return
		}
		data := []byte(packet)
		if l.stream {
			data = append(data, 0)
		}
		l.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := l.conn.Write(data); err == nil {
			return
		}
		l.conn.Close()
		l.conn = nil
	}
}

func (l *Logger) dial() bool {
	c, err := net.DialTimeout("unixgram", l.opt.Socket, time.Second)
	if err == nil {
		l.conn, l.stream = c, false
		return true
	}
	if errors.Is(err, syscall.EPROTOTYPE) {
		// Some syslog daemons listen on a stream socket; glibc then ends each message
		// with a NUL byte.
		if c, err = net.DialTimeout("unix", l.opt.Socket, time.Second); err == nil {
			l.conn, l.stream = c, true
			return true
		}
	}
	return false
}

// clean keeps a message on one line: a peer's reply text is quoted in some messages.
func clean(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func shortHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		h = h[:i]
	}
	return h
}

// GiveTo gives path, when root owns it and nxmit runs as root, to the owner of dir (the
// outgoing directory: news): a log file made by a manual run as root must stay
// writable for the runs from news's crontab. Failures are ignored.
func GiveTo(path, dir string) {
	if os.Geteuid() != 0 {
		return
	}
	var fst, dst syscall.Stat_t
	if syscall.Stat(path, &fst) != nil || fst.Uid != 0 || syscall.Stat(dir, &dst) != nil || dst.Uid == 0 {
		return
	}
	os.Chown(path, int(dst.Uid), int(dst.Gid))
}
