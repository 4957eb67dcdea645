package innlab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"
)

// This is a deliberately small NNTP client of its own, independent of the
// project's nntp package, so that the harness that checks that package
// does not rely on it.

// injectWindow is the number of TAKETHIS commands in flight.
const injectWindow = 100

// injectTimeout bounds each network read and write of an injection.
const injectTimeout = time.Minute

// Rejection is one article innd did not accept.
type Rejection struct {
	MessageID string
	Reply     string // innd's reply line, e.g. "439 <mid> Duplicate"
}

// InjectError reports the articles of an injection that innd did not accept
// (TAKETHIS not answered 239, or IHAVE not answered 335 and 235). The others
// were accepted.
type InjectError struct {
	Sent     int         // articles sent
	Rejected []Rejection // in the order sent
}

func (e *InjectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "innlab: %d of %d injected articles not accepted", len(e.Rejected), e.Sent)
	for k, r := range e.Rejected {
		if k == 5 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; %s: %s", r.MessageID, r.Reply)
	}
	return b.String()
}

// Inject sends the articles to innd with pipelined TAKETHIS over one
// streaming connection and checks that each is answered "239 <its id>". An
// article that is not is reported in an *InjectError naming its
// message-id; a protocol or connection failure is another error. An
// instance that refuses MODE STREAM (Options.Streaming false) is fed with
// IHAVE instead, one article at a time.
func (i *Instance) Inject(arts []Article) error {
	return i.InjectSeq(slices.Values(arts))
}

// InjectSeq is Inject for articles produced one by one (see GenerateSeq), so
// that a large set is never held in memory as a whole.
func (i *Instance) InjectSeq(arts iter.Seq[Article]) error {
	conn, err := net.DialTimeout("tcp", i.Addr, 10*time.Second)
	if err != nil {
		return fmt.Errorf("innlab: inject: %w", err)
	}
	defer conn.Close()
	c := &injectConn{conn: conn, r: bufio.NewReaderSize(quickAckReader(conn), 4096), w: bufio.NewWriterSize(conn, 256<<10)}
	streaming, err := c.handshake()
	if err != nil {
		return fmt.Errorf("innlab: inject into %s: %w", i.Addr, err)
	}
	ierr := &InjectError{}
	if streaming {
		err = c.stream(arts, ierr)
	} else {
		err = c.ihave(arts, ierr)
	}
	if err != nil {
		return fmt.Errorf("innlab: inject into %s: %w", i.Addr, err)
	}
	c.cmd("QUIT")
	c.w.Flush()
	if len(ierr.Rejected) > 0 {
		return ierr
	}
	return nil
}

type injectConn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func (c *injectConn) readLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(injectTimeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read reply: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (c *injectConn) cmd(s string) error {
	c.conn.SetWriteDeadline(time.Now().Add(injectTimeout))
	c.w.WriteString(s)
	c.w.WriteString("\r\n")
	return c.w.Flush()
}

// handshake reads the greeting and asks for streaming, which an instance
// with Options.Streaming false refuses.
func (c *injectConn) handshake() (streaming bool, err error) {
	greet, err := c.readLine()
	if err != nil {
		return false, err
	}
	if !strings.HasPrefix(greet, "200") && !strings.HasPrefix(greet, "201") {
		return false, fmt.Errorf("greeting %q", greet)
	}
	if err := c.cmd("MODE STREAM"); err != nil {
		return false, err
	}
	reply, err := c.readLine()
	if err != nil {
		return false, err
	}
	switch {
	case strings.HasPrefix(reply, "203"):
		return true, nil
	case strings.HasPrefix(reply, "500"), strings.HasPrefix(reply, "501"):
		return false, nil
	}
	return false, fmt.Errorf("MODE STREAM: %q", reply)
}

// ihave offers the articles one by one with IHAVE, for an innd that does not
// stream. Refused (435) and rejected (437) articles are Rejections.
func (c *injectConn) ihave(arts iter.Seq[Article], ierr *InjectError) error {
	var wire []byte
	for a := range arts {
		if a.MessageID == "" || strings.ContainsAny(a.MessageID, " \t\r\n") {
			return fmt.Errorf("article with bad message-id %q", a.MessageID)
		}
		if err := c.cmd("IHAVE " + a.MessageID); err != nil {
			return err
		}
		reply, err := c.readLine()
		if err != nil {
			return err
		}
		ierr.Sent++
		switch {
		case strings.HasPrefix(reply, "335"):
		case strings.HasPrefix(reply, "435"), strings.HasPrefix(reply, "436"):
			ierr.Rejected = append(ierr.Rejected, Rejection{MessageID: a.MessageID, Reply: reply})
			continue
		default:
			return fmt.Errorf("IHAVE %s: unexpected reply %q", a.MessageID, reply)
		}
		wire = appendWire(wire[:0], a.Body)
		c.conn.SetWriteDeadline(time.Now().Add(injectTimeout))
		if _, err := c.w.Write(wire); err != nil {
			return fmt.Errorf("send %s: %w", a.MessageID, err)
		}
		if err := c.flush(); err != nil {
			return err
		}
		if reply, err = c.readLine(); err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(reply, "235"):
		case strings.HasPrefix(reply, "436"), strings.HasPrefix(reply, "437"):
			ierr.Rejected = append(ierr.Rejected, Rejection{MessageID: a.MessageID, Reply: reply})
		default:
			return fmt.Errorf("IHAVE %s: unexpected reply %q after the article", a.MessageID, reply)
		}
	}
	return nil
}

// stream runs the pipeline: a writer goroutine sends TAKETHIS commands while
// this goroutine reads their answers in order.
func (c *injectConn) stream(arts iter.Seq[Article], ierr *InjectError) error {
	pending := make(chan string, injectWindow) // ids in flight, in send order
	slots := make(chan struct{}, injectWindow)
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		defer close(pending)
		werr <- c.writeAll(arts, pending, slots, stop)
	}()
	var rerr error
	for mid := range pending {
		line, err := c.readLine()
		if err != nil {
			rerr = fmt.Errorf("after %d answers, waiting for %s: %w", ierr.Sent, mid, err)
			break
		}
		<-slots
		ierr.Sent++
		code, rest, _ := strings.Cut(line, " ")
		gotID, _, _ := strings.Cut(rest, " ")
		switch {
		case code == "239" && gotID == mid:
		case code == "439" && gotID == mid:
			ierr.Rejected = append(ierr.Rejected, Rejection{MessageID: mid, Reply: line})
		default:
			rerr = fmt.Errorf("TAKETHIS %s: unexpected reply %q", mid, line)
		}
		if rerr != nil {
			break
		}
	}
	if rerr != nil {
		close(stop)
		c.conn.Close() // unblocks the writer
		<-werr
		return rerr
	}
	return <-werr
}

// writeAll sends every article, keeping at most injectWindow unanswered.
func (c *injectConn) writeAll(arts iter.Seq[Article], pending chan<- string, slots chan struct{}, stop <-chan struct{}) error {
	var wire []byte
	for a := range arts {
		if a.MessageID == "" || strings.ContainsAny(a.MessageID, " \t\r\n") {
			c.flush() // let the articles before it be answered
			return fmt.Errorf("article with bad message-id %q", a.MessageID)
		}
		select {
		case slots <- struct{}{}:
		default:
			// The window is full: push out what is buffered before waiting,
			// or the answers we wait for are never triggered.
			if err := c.flush(); err != nil {
				return err
			}
			select {
			case slots <- struct{}{}:
			case <-stop:
				return errors.New("stopped")
			}
		}
		pending <- a.MessageID
		wire = appendWire(append(wire[:0], "TAKETHIS "+a.MessageID+"\r\n"...), a.Body)
		c.conn.SetWriteDeadline(time.Now().Add(injectTimeout))
		if _, err := c.w.Write(wire); err != nil {
			return fmt.Errorf("send %s: %w", a.MessageID, err)
		}
	}
	return c.flush()
}

func (c *injectConn) flush() error {
	c.conn.SetWriteDeadline(time.Now().Add(injectTimeout))
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// appendWire appends a native article in wire format: CRLF line ends,
// dot-stuffed, ending with ".\r\n". Lines already ending in CRLF keep a
// single CR; a missing final newline is supplied.
func appendWire(dst, native []byte) []byte {
	for len(native) > 0 {
		line := native
		if k := bytes.IndexByte(native, '\n'); k >= 0 {
			line, native = native[:k], native[k+1:]
		} else {
			native = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > 0 && line[0] == '.' {
			dst = append(dst, '.')
		}
		dst = append(dst, line...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, '.', '\r', '\n')
}

// WireFormat returns a native article (LF line ends) in NNTP wire format,
// as innd stores it with wireformat and as `sm -R` prints it before innd adds
// its own headers.
func WireFormat(native []byte) []byte { return appendWire(nil, native) }

// quickAckReader returns a reader of conn that re-arms TCP_QUICKACK after
// every read. innd does not set TCP_NODELAY and writes each reply
// separately, so Nagle holds a reply back until the previous one is
// acknowledged; with our delayed ACKs that costs about 40 ms whenever we
// have nothing to send (a full window, the end of the stream). Quick ACKs
// avoid the stall. Linux clears the flag on its own, hence once per read.
func quickAckReader(conn net.Conn) io.Reader {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return conn
	}
	return &quickAck{conn: conn, raw: raw}
}

type quickAck struct {
	conn net.Conn
	raw  syscall.RawConn
}

func (q *quickAck) Read(p []byte) (int, error) {
	n, err := q.conn.Read(p)
	q.raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
	return n, err
}
