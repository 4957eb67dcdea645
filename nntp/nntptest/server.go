// Package nntptest provides a scriptable in-process NNTP peer for testing feeders, in
// the manner of net/http/httptest: NewServer starts one on 127.0.0.1 and stops it when
// the test ends. By default it is a sink that accepts every article; a Script makes it
// refuse, defer or reject chosen message-ids, require authentication, refuse streaming,
// answer slowly, and inject faults. It records what it received, byte for byte, and
// counts commands and decisions.
//
// Start gives the same server without a testing.TB, for programs and benchmarks.
package nntptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Stage is the point in a transfer at which the Script decides.
type Stage uint8

// Stages.
const (
	Check        Stage = iota + 1 // CHECK: 238, 431 or 438
	Takethis                      // TAKETHIS, after the article: 239 or 439
	IHave                         // IHAVE: 335, 435 or 436
	IHaveArticle                  // after an IHAVE article: 235, 436 or 437
)

// String returns the stage's command name.
func (s Stage) String() string {
	switch s {
	case Check:
		return "CHECK"
	case Takethis:
		return "TAKETHIS"
	case IHave:
		return "IHAVE"
	case IHaveArticle:
		return "IHAVE article"
	}
	return "Stage(" + strconv.Itoa(int(s)) + ")"
}

// A Script says how the server behaves. The zero value is a streaming sink that accepts
// everything.
//
// Fault positions count the feeding commands (CHECK, TAKETHIS, IHAVE) of one
// connection from 1, except CutArticleAt, which counts articles; zero disables a fault.
type Script struct {
	// Greeting is the greeting's code (default 200). With 400 or 502 the server
	// closes the connection after it, as innd does.
	Greeting int
	// GreetingLine, when set, is sent verbatim (without CRLF) instead of the greeting.
	GreetingLine string
	// NoStream makes MODE STREAM answer 501 and CHECK and TAKETHIS 500, as innd does
	// for a peer with "streaming: false"; the article lines of a TAKETHIS then also
	// get 500s, and the 20th unknown command gets 400 and a close.
	NoStream bool
	// User and Pass, when User is set, are the only AUTHINFO credentials accepted
	// (481 otherwise), and feeding commands and MODE STREAM get 480 until they are
	// given. When User is empty AUTHINFO gets 502.
	User, Pass string
	// Decide, when set, chooses the reply code for a message-id at each stage; 0 means
	// the default (accept, or with Dedupe refuse what was already accepted). Any code
	// may be returned: 400 closes the connection after the reply.
	Decide func(stage Stage, mid string) int
	// Text, when set and it returns a line, is the reply (without CRLF) sent for code at
	// stage for mid instead of nntptest's wording: the exact replies of other servers.
	Text func(stage Stage, code int, mid string) string
	// ModeStreamReply, when set, is the reply to MODE STREAM (say nntp-rs's "500 Unknown
	// command"); with NoStream too, CHECK and TAKETHIS then get "500 What?".
	ModeStreamReply string
	// Dedupe refuses (438, 435) and rejects (439, 437) message-ids accepted before, on
	// any connection.
	Dedupe bool
	// CountOnly keeps counts and sizes only, not article bytes, so memory stays flat in
	// benchmarks.
	CountOnly bool
	// Delay sends each reply this long after its command arrived (for TAKETHIS and
	// IHAVE articles: after the article), without serializing: a pipelined round trip.
	Delay time.Duration
	// DelayOf, when set, gives the delay of the reply to the n-th feeding command of
	// a connection (counting from 1) in place of Delay, for a path whose round trip
	// changes; replies still come in command order.
	DelayOf func(n int) time.Duration
	// SlowRead pauses this long before each read of at most 1 KiB, with a small socket
	// buffer, so that the sender meets TCP back-pressure.
	SlowRead time.Duration

	FailAt       int // answer the N-th command with 400 and close (after reading its article)
	CutArticleAt int // close the connection in the middle of the N-th article (counting articles)
	WrongIDAt    int // the reply to the N-th command names another message-id
	GarbageAt    int // the reply to the N-th command is not an NNTP reply
	StallAt      int // no reply to the N-th command and later ones (reading goes on)
	// StopReadingAt stops reading, and answering, at the N-th command, until the
	// server is closed: the sender's writes then block once the socket buffers fill.
	StopReadingAt int

	// TLS, when set, makes the server speak TLS from the first byte (implicit TLS, as
	// NNTPS on port 563).
	TLS *tls.Config
	// StartTLS, when set, makes STARTTLS answer 382 and run the TLS handshake with this
	// configuration (RFC 4642); without it STARTTLS is an unknown command (500), as for
	// innd. Not with Delay.
	StartTLS *tls.Config
	// StartTLSCode, when set, is the answer to STARTTLS instead (580: TLS not possible).
	StartTLSCode int
	// StartTLSDrop answers 382, reads the client's first handshake bytes and closes the
	// connection: a peer that fails in the middle of the handshake.
	StartTLSDrop bool
}

// Stats counts what a Server received and answered, over all connections.
type Stats struct {
	Connections int
	Commands    map[string]int // by verb: "CHECK", "TAKETHIS", "IHAVE", "MODE", "AUTHINFO", "QUIT", "other"
	Wanted      int            // 238 and 335
	Accepted    int            // 239 and 235
	Refused     int            // 438 and 435
	Rejected    int            // 439 and 437
	Deferred    int            // 431 and 436
	Articles    int            // articles received completely
	Bytes       int64          // their wire bytes, ".\r\n" included
	Remotes     []string       // the remote ("ip:port") address of each connection, in order
	TLS         int            // TLS handshakes completed (implicit or after STARTTLS)
	Resumed     int            // ... of which resumed an earlier session
}

// A Server is a running scripted peer.
type Server struct {
	Addr string // "127.0.0.1:port"

	script Script
	ln     net.Listener
	wg     sync.WaitGroup
	done   chan struct{} // closed by Close: ends sleeps and stalls

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	stats    Stats
	articles map[string][]byte
	accepted map[string]bool // for Dedupe
}

// NewServer starts a Server on 127.0.0.1 for the test and closes it at the test's end.
func NewServer(t testing.TB, sc Script) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0", sc)
	if err != nil {
		t.Fatalf("nntptest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts a Server listening on addr (such as "127.0.0.1:0"). Close stops it.
func Start(addr string, sc Script) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	s := &Server{
		Addr:     ln.Addr().String(),
		script:   sc,
		ln:       ln,
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
		articles: make(map[string][]byte),
		accepted: make(map[string]bool),
		stats:    Stats{Commands: make(map[string]int)},
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops listening, closes every connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Commands = make(map[string]int, len(s.stats.Commands))
	for k, v := range s.stats.Commands {
		st.Commands[k] = v
	}
	st.Remotes = append([]string(nil), s.stats.Remotes...)
	return st
}

// Article returns the wire bytes received for mid (dot-stuffed, ending ".\r\n"), as the
// last TAKETHIS or IHAVE that delivered it sent them, whatever the answer was.
func (s *Server) Article(mid string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.articles[mid]
	return b, ok
}

// Articles returns the received articles by message-id (a new map; the byte slices are
// shared and must not be modified).
func (s *Server) Articles() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string][]byte, len(s.articles))
	for k, v := range s.articles {
		m[k] = v
	}
	return m
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.stats.Connections++
		s.stats.Remotes = append(s.stats.Remotes, conn.RemoteAddr().String())
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			var c net.Conn = conn
			if s.script.TLS != nil {
				tc := tls.Server(conn, s.script.TLS)
				if tc.Handshake() != nil {
					conn.Close()
					s.mu.Lock()
					delete(s.conns, conn)
					s.mu.Unlock()
					return
				}
				s.recordTLS(tc)
				c = tc
			}
			newSession(s, c).run()
			conn.Close()
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
		}()
	}
}

// record counts a command (unless verb is empty), its decision, and an article if one
// was read, under one lock.
func (s *Server) record(verb string, code int, mid string, art []byte, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if verb != "" {
		s.stats.Commands[verb]++
	}
	switch code {
	case 238, 335:
		s.stats.Wanted++
	case 239, 235:
		s.stats.Accepted++
		if s.script.Dedupe {
			s.accepted[mid] = true
		}
	case 438, 435:
		s.stats.Refused++
	case 439, 437:
		s.stats.Rejected++
	case 431, 436:
		s.stats.Deferred++
	}
	if size > 0 {
		s.stats.Articles++
		s.stats.Bytes += int64(size)
		if art != nil {
			s.articles[mid] = art
		}
	}
}

func (s *Server) recordTLS(tc *tls.Conn) {
	s.mu.Lock()
	s.stats.TLS++
	if tc.ConnectionState().DidResume {
		s.stats.Resumed++
	}
	s.mu.Unlock()
}

func (s *Server) count(verb string) {
	s.mu.Lock()
	s.stats.Commands[verb]++
	s.mu.Unlock()
}

// decide returns the code for mid at stage.
func (s *Server) decide(stage Stage, mid string) int {
	if s.script.Decide != nil {
		if code := s.script.Decide(stage, mid); code != 0 {
			return code
		}
	}
	seen := false
	if s.script.Dedupe {
		s.mu.Lock()
		seen = s.accepted[mid]
		s.mu.Unlock()
	}
	switch stage {
	case Check:
		return pick(seen, 438, 238)
	case Takethis:
		return pick(seen, 439, 239)
	case IHave:
		return pick(seen, 435, 335)
	default:
		return pick(seen, 437, 235)
	}
}

func pick(cond bool, yes, no int) int {
	if cond {
		return yes
	}
	return no
}

// replyText gives innd's wording for a code; streaming replies start with the id.
func replyText(code int, mid string) string {
	c := strconv.Itoa(code)
	switch code {
	case 238, 239:
		return c + " " + mid
	case 431:
		return c + " " + mid + " Retry later"
	case 438:
		return c + " " + mid + " Duplicate"
	case 439:
		return c + " " + mid + " Rejected by nntptest"
	case 335:
		return c + " Send it"
	case 435:
		return c + " Duplicate"
	case 436:
		return c + " Retry later"
	case 235:
		return c + " Article transferred OK"
	case 437:
		return c + " Rejected by nntptest"
	case 400:
		return c + " nntptest closing connection"
	case 480:
		return c + " Authentication required"
	}
	return c + " nntptest reply"
}

// session is one connection.
type session struct {
	srv    *Server
	sc     *Script
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	queue  chan reply // Delay mode: replies for the writer goroutine
	wdone  chan struct{}
	n      int // feeding commands so far
	arts   int // articles started so far
	authed bool
	user   string
	bad    int // unknown commands
	closed bool
	tls    bool // STARTTLS done
}

type reply struct {
	line  string
	due   time.Time
	close bool
}

func newSession(s *Server, conn net.Conn) *session {
	ss := &session{srv: s, sc: &s.script}
	ss.attach(conn)
	return ss
}

// attach sets the session's reader and writer on conn: at the start, and again after
// STARTTLS.
func (ss *session) attach(conn net.Conn) {
	s := ss.srv
	ss.conn = conn
	var r io.Reader = conn
	if ss.sc.SlowRead > 0 {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetReadBuffer(32 << 10)
		}
		r = &slowReader{r: conn, pause: ss.sc.SlowRead, done: s.done}
	}
	ss.bw = bufio.NewWriterSize(conn, 64<<10)
	if (ss.sc.Delay > 0 || ss.sc.DelayOf != nil) && ss.queue == nil {
		ss.queue = make(chan reply, 4096)
		ss.wdone = make(chan struct{})
		go ss.writeDelayed()
	} else {
		// Replies are flushed only when the next read would block, as a real server
		// does when it has more input to process.
		r = &flushingReader{r: r, w: ss.bw}
	}
	ss.br = bufio.NewReaderSize(r, 64<<10)
}

func (ss *session) run() {
	defer func() {
		if ss.queue != nil {
			close(ss.queue)
			<-ss.wdone
		} else {
			ss.bw.Flush()
		}
	}()
	if ss.sc.GreetingLine != "" {
		ss.send(ss.sc.GreetingLine, false)
	} else {
		code := ss.sc.Greeting
		if code == 0 {
			code = 200
		}
		line := strconv.Itoa(code) + " nntptest ready (transit mode)"
		if code >= 400 {
			ss.send(line, true)
			return
		}
		ss.send(line, false)
	}
	for !ss.closed {
		line, err := ss.readLine()
		if err != nil {
			return
		}
		ss.command(line)
	}
}

// send queues or writes one reply line; close ends the connection after it.
func (ss *session) send(line string, close bool) {
	if ss.queue != nil {
		d := ss.sc.Delay
		if ss.sc.DelayOf != nil {
			d = ss.sc.DelayOf(ss.n)
		}
		ss.queue <- reply{line: line, due: time.Now().Add(d), close: close}
	} else {
		ss.bw.WriteString(line)
		ss.bw.WriteString("\r\n")
		if close {
			ss.bw.Flush()
			ss.closeGracefully()
		}
	}
	if close {
		ss.closed = true
	}
}

func (ss *session) writeDelayed() {
	defer close(ss.wdone)
	for r := range ss.queue {
		if d := time.Until(r.due); d > 0 {
			ss.bw.Flush()
			time.Sleep(d)
		}
		ss.bw.WriteString(r.line)
		ss.bw.WriteString("\r\n")
		if r.close {
			ss.bw.Flush()
			ss.closeGracefully()
			for range ss.queue {
			}
			return
		}
		if len(ss.queue) == 0 {
			ss.bw.Flush()
		}
	}
	ss.bw.Flush()
}

// closeGracefully ends our side but lets the sender's pipelined data drain, so that its
// kernel does not answer a reset that could destroy the reply we just sent.
func (ss *session) closeGracefully() {
	if tc, ok := ss.conn.(*net.TCPConn); ok {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, tc)
	}
	ss.conn.Close()
}

func (ss *session) readLine() ([]byte, error) {
	line, err := ss.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Far beyond any NNTP limit; answer like innd and skip the rest.
		for err == bufio.ErrBufferFull {
			_, err = ss.br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return []byte("\x00too-long"), nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// command handles one command line.
func (ss *session) command(line []byte) {
	verb, arg, _ := bytes.Cut(line, []byte(" "))
	switch {
	case bytes.EqualFold(verb, []byte("CHECK")) && !ss.sc.NoStream:
		ss.feed(Check, "CHECK", string(arg))
	case bytes.EqualFold(verb, []byte("TAKETHIS")) && !ss.sc.NoStream:
		ss.feed(Takethis, "TAKETHIS", string(arg))
	case bytes.EqualFold(verb, []byte("IHAVE")):
		ss.feed(IHave, "IHAVE", string(arg))
	case bytes.EqualFold(verb, []byte("MODE")):
		ss.srv.count("MODE")
		switch {
		case !bytes.EqualFold(arg, []byte("STREAM")):
			ss.send("501 Unknown MODE variant", false)
		case ss.sc.User != "" && !ss.authed:
			ss.send(replyText(480, ""), false)
		case ss.sc.ModeStreamReply != "":
			ss.send(ss.sc.ModeStreamReply, false)
		case ss.sc.NoStream:
			ss.send("501 Unknown MODE variant", false)
		default:
			ss.send("203 Streaming permitted", false)
		}
	case bytes.EqualFold(verb, []byte("AUTHINFO")):
		ss.srv.count("AUTHINFO")
		ss.authinfo(arg)
	case bytes.EqualFold(verb, []byte("CAPABILITIES")):
		ss.srv.count("other")
		caps := "101 Capability list:\r\nVERSION 2\r\nIHAVE\r\n"
		if !ss.sc.NoStream {
			caps += "STREAMING\r\n"
		}
		ss.send(caps+".", false)
	case bytes.EqualFold(verb, []byte("STARTTLS")) && (ss.sc.StartTLS != nil || ss.sc.StartTLSCode != 0 || ss.sc.StartTLSDrop):
		ss.srv.count("STARTTLS")
		ss.startTLS()
	case bytes.EqualFold(verb, []byte("QUIT")):
		ss.srv.count("QUIT")
		ss.send("205 Bye", true)
	default:
		ss.srv.count("other")
		ss.bad++
		if ss.bad >= 20 {
			ss.send("400 Too many unrecognized commands", true)
			return
		}
		ss.send("500 What?", false)
	}
}

// startTLS answers STARTTLS and, on 382, runs the server side of the handshake.
func (ss *session) startTLS() {
	sc := ss.sc
	switch {
	case sc.StartTLSCode != 0:
		ss.send(strconv.Itoa(sc.StartTLSCode)+" Can not initiate TLS negotiation", false)
		return
	case ss.queue != nil || ss.tls:
		ss.send("502 STARTTLS not possible now", false)
		return
	}
	ss.send("382 Continue with TLS negotiation", false)
	if err := ss.bw.Flush(); err != nil {
		ss.closed = true
		return
	}
	if sc.StartTLSDrop {
		ss.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		ss.br.ReadByte() // the ClientHello has begun
		ss.conn.Close()
		ss.closed = true
		return
	}
	if ss.br.Buffered() > 0 {
		ss.closed = true // the client sent more in the clear: refuse, as RFC 4642 says
		return
	}
	tc := tls.Server(ss.conn, sc.StartTLS)
	if tc.Handshake() != nil {
		ss.closed = true
		return
	}
	ss.srv.recordTLS(tc)
	ss.tls = true
	ss.attach(tc)
}

func (ss *session) authinfo(arg []byte) {
	what, val, _ := bytes.Cut(arg, []byte(" "))
	switch {
	case ss.sc.User == "":
		ss.send("502 Authentication not supported", false)
	case bytes.EqualFold(what, []byte("USER")):
		ss.user = string(val)
		ss.send("381 Enter password", false)
	case bytes.EqualFold(what, []byte("PASS")):
		if ss.user == "" {
			ss.send("482 Authentication commands issued out of sequence", false)
		} else if ss.user == ss.sc.User && string(val) == ss.sc.Pass {
			ss.authed = true
			ss.send("281 Authentication accepted", false)
		} else {
			ss.send("481 Authentication failed", false)
		}
	default:
		ss.send("501 Unknown AUTHINFO variant", false)
	}
}

// feed handles CHECK, TAKETHIS and IHAVE, faults included.
func (ss *session) feed(stage Stage, verb, mid string) {
	ss.n++
	n := ss.n
	sc := ss.sc
	if n == sc.StopReadingAt {
		ss.srv.count(verb)
		<-ss.srv.done
		ss.closed = true
		return
	}
	var art []byte
	size := 0
	readArt := func() bool {
		var err error
		ss.arts++
		art, size, err = ss.readArticle(ss.arts == sc.CutArticleAt)
		return err == nil
	}
	code := 0
	switch {
	case sc.User != "" && !ss.authed:
		if stage == Takethis && !readArt() {
			return
		}
		code = 480
	case stage == Takethis:
		if !readArt() {
			return
		}
		code = ss.srv.decide(Takethis, mid)
	default:
		code = ss.srv.decide(stage, mid)
	}
	if n == sc.FailAt {
		ss.srv.record(verb, 400, mid, nil, 0)
		ss.send(replyText(400, ""), true)
		return
	}
	if stage == IHave && code == 335 {
		ss.srv.record(verb, code, mid, nil, 0)
		ss.reply(n, stage, code, mid)
		if !readArt() {
			return
		}
		code = ss.srv.decide(IHaveArticle, mid)
		if code == 400 {
			ss.send(replyText(400, ""), true)
			return
		}
		ss.srv.record("", code, mid, art, size)
		ss.send(ss.text(IHaveArticle, code, mid), false)
		return
	}
	ss.srv.record(verb, code, mid, art, size)
	if code == 400 {
		ss.send(ss.text(stage, 400, mid), true)
		return
	}
	ss.reply(n, stage, code, mid)
}

// text is the reply line for code at stage: Script.Text's, or nntptest's wording.
func (ss *session) text(stage Stage, code int, mid string) string {
	if ss.sc.Text != nil {
		if l := ss.sc.Text(stage, code, mid); l != "" {
			return l
		}
	}
	if code == 400 {
		mid = ""
	}
	return replyText(code, mid)
}

// reply sends the reply to the n-th command, unless a fault replaces it.
func (ss *session) reply(n int, stage Stage, code int, mid string) {
	sc := ss.sc
	switch {
	case sc.StallAt > 0 && n >= sc.StallAt:
	case n == sc.GarbageAt:
		ss.send("this is not NNTP", false)
	case n == sc.WrongIDAt:
		ss.send(replyText(code, "<wrong-id@nntptest>"), false)
	default:
		ss.send(ss.text(stage, code, mid), false)
	}
}

// readArticle reads a dot-terminated article and returns its wire bytes (nil with
// CountOnly) and size. cut closes the connection after the first line.
func (ss *session) readArticle(cut bool) ([]byte, int, error) {
	if ss.sc.CountOnly && !cut {
		n, err := ss.skipArticle()
		return nil, n, err
	}
	var art []byte
	size := 0
	atStart := true
	for {
		line, err := ss.br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return nil, 0, err
		}
		size += len(line)
		if !ss.sc.CountOnly {
			art = append(art, line...)
		}
		if cut {
			if ss.queue == nil {
				ss.bw.Flush() // the replies so far were sent; this article never completes
			}
			ss.conn.Close()
			ss.closed = true
			return nil, 0, errors.New("cut")
		}
		if atStart && err == nil && string(line) == ".\r\n" {
			return art, size, nil
		}
		atStart = err == nil
	}
}

// skipArticle reads past a dot-terminated article a buffer at a time and returns its
// size. Reading it line by line costs the sink more than the sender it measures costs
// itself (a benchmark's 1.5 GB are 20 million lines).
func (ss *session) skipArticle() (int, error) {
	const end = ".\r\n"
	br := ss.br
	size := 0
	atStart := true // the bytes before buf ended a line
	for {
		n := br.Buffered()
		if n == 0 || atStart && n < len(end) && strings.HasPrefix(end, string(peekN(br, n))) {
			// Nothing, or what may be the start of the terminator: wait for more.
			if _, err := br.Peek(n + 1); err != nil {
				return size, err
			}
			continue
		}
		buf := peekN(br, n)
		if atStart && bytes.HasPrefix(buf, []byte(end)) {
			br.Discard(len(end))
			return size + len(end), nil
		}
		if i := bytes.Index(buf, []byte("\n"+end)); i >= 0 {
			br.Discard(i + 1 + len(end))
			return size + i + 1 + len(end), nil
		}
		// Keep a last line that may be the start of the terminator.
		take := n
		if j := bytes.LastIndexByte(buf, '\n'); j >= 0 && n-j-1 < len(end) && strings.HasPrefix(end, string(buf[j+1:])) {
			take = j + 1
		}
		atStart = buf[take-1] == '\n'
		br.Discard(take)
		size += take
	}
}

func peekN(br *bufio.Reader, n int) []byte {
	b, _ := br.Peek(n)
	return b
}

// flushingReader flushes the replies before the session blocks reading.
type flushingReader struct {
	r io.Reader
	w *bufio.Writer
}

func (f *flushingReader) Read(p []byte) (int, error) {
	if err := f.w.Flush(); err != nil {
		return 0, err
	}
	return f.r.Read(p)
}

// slowReader reads at most 1 KiB at a time, pausing before each read.
type slowReader struct {
	r     io.Reader
	pause time.Duration
	done  <-chan struct{}
}

func (s *slowReader) Read(p []byte) (int, error) {
	t := time.NewTimer(s.pause)
	select {
	case <-t.C:
	case <-s.done:
		t.Stop()
		return 0, net.ErrClosed
	}
	if len(p) > 1024 {
		p = p[:1024]
	}
	return s.r.Read(p)
}
