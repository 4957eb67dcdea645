package nntp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Default timeouts, used where a Config field is zero.
const (
	DefaultDialTimeout  = 30 * time.Second
	DefaultReplyTimeout = 2 * time.Minute
	DefaultWriteTimeout = 2 * time.Minute
)

const (
	writeBufferSize = 64 << 10
	readBufferSize  = 16 << 10
)

// Config sets a Client's timeouts and tracing. The zero value is usable.
type Config struct {
	// DialTimeout bounds establishing the connection: the TCP connect, and then the
	// greeting (default 30 s), like innxmit's -t.
	DialTimeout time.Duration
	// ReplyTimeout bounds the wait for each reply (default 2 min). While commands are
	// in flight, the connection fails when nothing at all arrives for this long.
	ReplyTimeout time.Duration
	// WriteTimeout bounds each write to the socket (default 2 min), so a peer that stops
	// reading cannot block the sender for ever.
	WriteTimeout time.Duration
	// Trace, when set, receives the protocol as innxmit -d shows it: "> CMD" for each
	// command (article bodies and passwords left out) and "< reply" for each reply.
	// Writes to it are serialized.
	Trace io.Writer

	// Network is NetworkAny (the default), NetworkIPv4 or NetworkIPv6: the address
	// families of the peer's addresses that are dialed (raced as dialAddrs says).
	Network string
	// LocalAddrs are source addresses to bind: the first of the family of the address
	// dialed is used (at most one IPv4 and one IPv6 address make sense).
	LocalAddrs []netip.Addr
	// TLS, when set, encrypts the connection: from the start (implicit TLS, NNTPS), or
	// after STARTTLS when StartTLS says so. An empty ServerName is the host dialed. Share
	// one ClientSessionCache among a pass's connections so that they resume one session.
	TLS      *tls.Config
	StartTLS StartTLSMode
	// Limiter, when set, caps the bytes per second written (shared by the connections
	// that have the same Limiter).
	Limiter *RateLimiter
}

// quitTimeout bounds the write of QUIT to a peer that stopped reading.
const quitTimeout = 5 * time.Second

func (c *Config) defaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
}

// A Client is one NNTP connection to a peer that we feed. Its methods must not be called
// concurrently, except Close.
type Client struct {
	cfg      Config
	dc       *deadlineConn
	br       *bufio.Reader
	bw       *bufio.Writer
	trace    *tracer
	greeting Reply
	addr     string // as dialed, for messages and the TLS server name
	tls      bool   // the connection is encrypted
	abuf     []byte // the article buffer handed to Feeder.Article, reused

	// rtt is the least round trip of a command answered alone (MODE STREAM, AUTHINFO):
	// a first measure of the path for Stream's window.
	rtt time.Duration

	// broken is set once the connection is unusable (a failure, or replies left
	// unread); later calls return it.
	broken    error
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to addr ("host:port") and reads the greeting. 200 and 201 are success.
// A 400 (throttled, overloaded, too many connections) is a temporary *Error, a 502 (we
// are not a known peer) a permanent one; a garbage greeting is a *ProtocolError; a
// failure to connect or a greeting later than DialTimeout is a *ConnError; a failed TLS
// handshake a *TLSError. ctx also bounds the connect, the handshake and the greeting.
// The greeting is read after the handshake with implicit TLS, before STARTTLS otherwise.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	cfg.defaults()
	start := time.Now()
	conn, err := dialTCP(ctx, addr, &cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Limiter != nil {
		conn = &limitConn{Conn: conn, lim: cfg.Limiter}
	}
	c := newClient(conn, cfg)
	c.addr = addr
	c.dc.interrupt(start.Add(cfg.DialTimeout))
	stop := context.AfterFunc(ctx, func() { c.dc.interrupt(time.Unix(1, 0)) })
	err = c.greet(ctx)
	if !stop() {
		// ctx ended while the greeting was read; the deadline it set poisons the
		// connection even if the greeting made it.
		if err == nil {
			c.Close()
		}
		return nil, &ConnError{Op: "greeting from " + addr, Err: context.Cause(ctx)}
	}
	if err != nil {
		return nil, err
	}
	c.dc.clearLimit()
	return c, nil
}

// NewClient starts a Client on an established connection and reads the greeting, as
// Dial does, within cfg.DialTimeout. On error the connection is closed.
func NewClient(conn net.Conn, cfg Config) (*Client, error) {
	cfg.defaults()
	c := newClient(conn, cfg)
	c.dc.interrupt(time.Now().Add(cfg.DialTimeout))
	if err := c.readGreeting(); err != nil {
		return nil, err
	}
	c.dc.clearLimit()
	return c, nil
}

func newClient(conn net.Conn, cfg Config) *Client {
	if tc, ok := conn.(*net.TCPConn); ok {
		// Go's default already, but the stall described in the lab notes (Nagle on the
		// sender holding back a burst of CHECKs behind a delayed ACK) is costly enough
		// to say so here.
		tc.SetNoDelay(true)
	}
	dc := &deadlineConn{Conn: conn, readTimeout: cfg.ReplyTimeout, writeTimeout: cfg.WriteTimeout}
	c := &Client{
		cfg: cfg,
		dc:  dc,
		br:  bufio.NewReaderSize(dc, readBufferSize),
		bw:  bufio.NewWriterSize(dc, writeBufferSize),
		// As large as the articles sent from their files start: a Feeder can then
		// read any smaller one whole at the first try (see FileFeeder).
		abuf: make([]byte, 0, SendfileMin),
	}
	if cfg.Trace != nil {
		c.trace = &tracer{w: cfg.Trace}
	}
	return c
}

func (c *Client) readGreeting() error {
	r, err := c.readReply("greeting")
	if err == nil {
		switch r.Code {
		case 200, 201:
			c.greeting = r
			return nil
		default:
			err = replyError("greeting", r)
		}
	}
	c.Close()
	return err
}

// Greeting returns the peer's greeting (code 200 or 201).
func (c *Client) Greeting() Reply { return c.greeting }

// Authenticate sends AUTHINFO USER and, on 381, AUTHINFO PASS. A 281 at either step is
// success; anything else (481 wrong credentials, 502 not allowed) is an *Error. Like
// innxmit, it sends the values verbatim (a password may hold spaces); only empty values
// and line breaks are refused.
func (c *Client) Authenticate(user, pass string) error {
	if user == "" || pass == "" {
		return errors.New("nntp: AUTHINFO: empty user or password")
	}
	if c.cfg.TLS != nil && !c.tls {
		// STARTTLS was optional and refused: the password would cross in the clear.
		return errors.New("nntp: AUTHINFO: not sent in the clear to a peer configured for TLS (STARTTLS was refused)")
	}
	r, err := c.cmd("AUTHINFO USER", "AUTHINFO USER "+user, "")
	if err != nil {
		return err
	}
	switch r.Code {
	case 281:
		return nil
	case 381:
	default:
		return replyError("AUTHINFO USER", r)
	}
	r, err = c.cmd("AUTHINFO PASS", "AUTHINFO PASS "+pass, "AUTHINFO PASS ********")
	if err != nil {
		return err
	}
	if r.Code != 281 {
		return replyError("AUTHINFO PASS", r)
	}
	return nil
}

// ModeStream sends MODE STREAM and reports whether the peer allows streaming (203).
// A refusal (500, 501, or any other reply) is false with a nil error, since the caller
// then falls back to IHAVE; only a failed connection, or a 400 saying the peer is
// closing it, is an error.
func (c *Client) ModeStream() (bool, error) {
	r, err := c.cmd("MODE STREAM", "MODE STREAM", "")
	if err != nil {
		return false, err
	}
	switch r.Code {
	case 203:
		return true, nil
	case 400:
		return false, c.fail(&Error{Op: "MODE STREAM", Reply: r})
	}
	return false, nil
}

// Quit sends QUIT and closes the connection without waiting for the reply, as innxmit
// does: every article has its answer by then, and over a long path the wait for 205
// would add a round trip to the pass.
func (c *Client) Quit() error {
	if c.broken == nil {
		c.dc.interrupt(time.Now().Add(min(quitTimeout, c.cfg.WriteTimeout)))
		c.tracef("> QUIT")
		c.bw.WriteString("QUIT\r\n")
		c.bw.Flush()
	}
	return c.Close()
}

// Close closes the connection without QUIT. It may be called concurrently with other
// methods, to abort them, and more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.dc.Close() })
	return c.closeErr
}

// fail marks the client unusable with err, closes the connection, and returns err.
func (c *Client) fail(err error) error {
	if c.broken == nil {
		c.broken = err
	}
	c.Close()
	return err
}

// cmd sends one command line and reads its reply. traced, if not empty, replaces the line
// in the trace (for passwords).
func (c *Client) cmd(op, line, traced string) (Reply, error) {
	if c.broken != nil {
		return Reply{}, c.broken
	}
	if err := checkLine(line); err != nil {
		return Reply{}, fmt.Errorf("nntp: %s: %w", op, err)
	}
	if traced == "" {
		traced = line
	}
	c.tracef("> %s", traced)
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	sent := time.Now()
	if err := c.bw.Flush(); err != nil {
		return Reply{}, c.fail(&ConnError{Op: "send " + op, Err: err})
	}
	r, err := c.readReply(op)
	if err != nil {
		return Reply{}, c.fail(err)
	}
	if d := time.Since(sent); c.rtt == 0 || d < c.rtt {
		c.rtt = d
	}
	return r, nil
}

// readReply reads and parses one reply line.
func (c *Client) readReply(op string) (Reply, error) {
	line, err := c.readLine()
	if err != nil {
		return Reply{}, withOp(err, op)
	}
	s := string(line)
	c.tracef("< %s", s)
	r, err := ParseReply(s)
	if err != nil {
		return Reply{}, withOp(err, op)
	}
	return r, nil
}

// readLine returns the next line without its line ending; the slice is only valid until
// the next read. Its errors name no operation yet: see withOp.
func (c *Client) readLine() ([]byte, error) {
	c.dc.startLine()
	line, err := c.br.ReadSlice('\n')
	c.dc.endLine()
	switch {
	case err == bufio.ErrBufferFull:
		return nil, tooLong(line)
	case err == io.EOF && len(line) == 0:
		return nil, &ConnError{Err: errors.New("connection closed by peer")}
	case err != nil:
		return nil, &ConnError{Err: lineTimeout(err, len(line))}
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > MaxReplyLine {
		return nil, tooLong(line)
	}
	return line, nil
}

// withOp names the operation whose reply failed in an error from readLine or
// ParseReply. The operation's name is built only on failure, which keeps it off the
// streaming hot path.
func withOp(err error, op string) error {
	switch e := err.(type) {
	case *ProtocolError:
		e.Op = op
	case *ConnError:
		e.Op = "read reply to " + op
	}
	return err
}

// lineBuffered reports whether a whole line is already buffered, so that reading it
// will not block.
func (c *Client) lineBuffered() bool {
	n := c.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := c.br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

func (c *Client) tracef(format string, args ...any) {
	if c.trace != nil {
		c.trace.printf(format, args...)
	}
}

// checkLine refuses command lines that would break the protocol: CR or LF would end
// the command early and let the rest be read as another command.
func checkLine(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' || s[i] == 0 {
			return errors.New("CR, LF or NUL in command")
		}
	}
	return nil
}

// checkArg refuses a single argument with spaces or control characters.
func checkArg(s string) error {
	if s == "" {
		return errors.New("empty argument")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return errors.New("space or control character in argument")
		}
	}
	return nil
}

// tracer serializes trace lines from the writer and reader goroutines.
type tracer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (t *tracer) printf(format string, args ...any) {
	t.mu.Lock()
	t.buf = fmt.Appendf(t.buf[:0], format, args...)
	t.buf = append(t.buf, '\n')
	t.w.Write(t.buf)
	t.mu.Unlock()
}

// deadlineConn gives every read and write its own deadline, so that a timeout means
// "nothing moved for this long" whoever does the I/O (bufio flushing on its own, the
// reader goroutine), and a stop can cap every deadline at once.
type deadlineConn struct {
	net.Conn
	readTimeout, writeTimeout time.Duration
	limit                     atomic.Int64 // UnixNano cap on every deadline; 0: none
	line                      atomic.Int64 // UnixNano deadline of the reply line being read; 0: none
}

// setDeadline sets the read or write deadline to now+timeout, capped by interrupt. The
// limit is loaded after the deadline is set: an interrupt racing with us either sees our
// deadline and overrides it, or we see its limit.
func (d *deadlineConn) setDeadline(write bool, timeout time.Duration) {
	set := d.Conn.SetReadDeadline
	if write {
		set = d.Conn.SetWriteDeadline
	}
	t := time.Now().Add(timeout)
	set(t)
	if l := d.limit.Load(); l != 0 && l < t.UnixNano() {
		set(time.Unix(0, l))
	}
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.setDeadline(false, d.readTimeoutNow())
	return d.Conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.setDeadline(true, d.writeTimeout)
	return d.Conn.Write(p)
}

// interrupt caps all deadlines at t, including those of reads and writes in progress.
func (d *deadlineConn) interrupt(t time.Time) {
	d.limit.Store(t.UnixNano())
	d.Conn.SetDeadline(t)
}

// clearLimit removes the cap set by interrupt.
func (d *deadlineConn) clearLimit() {
	d.limit.Store(0)
	d.Conn.SetDeadline(time.Time{})
}
