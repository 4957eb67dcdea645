package nntptest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// peer is a raw client: it writes what the test says and reads lines back.
type peer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func connect(t *testing.T, s *Server) *peer {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &peer{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (p *peer) send(s string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) line() string {
	p.t.Helper()
	l, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (p *peer) expect(prefixes ...string) {
	p.t.Helper()
	for _, want := range prefixes {
		if got := p.line(); !strings.HasPrefix(got, want) {
			p.t.Fatalf("got %q, want %q...", got, want)
		}
	}
}

// closed reports whether the server closed the connection.
func (p *peer) closed() bool {
	_, err := p.r.ReadString('\n')
	return err != nil
}

const art = "Subject: x\r\nMessage-ID: <a@b>\r\n\r\n..dot\r\nbody\r\n.\r\n"

func TestSinkStreaming(t *testing.T) {
	s := NewServer(t, Script{})
	p := connect(t, s)
	p.expect("200 ")
	p.send("MODE STREAM\r\nCHECK <a@b>\r\nTAKETHIS <a@b>\r\n" + art + "CHECK <c@d>\r\nQUIT\r\n")
	p.expect("203 ", "238 <a@b>", "239 <a@b>", "238 <c@d>", "205")
	if !p.closed() {
		t.Error("open after QUIT")
	}
	got, ok := s.Article("<a@b>")
	if !ok || string(got) != art {
		t.Fatalf("received %q", got)
	}
	st := s.Stats()
	if st.Connections != 1 || st.Commands["CHECK"] != 2 || st.Commands["TAKETHIS"] != 1 || st.Wanted != 2 ||
		st.Accepted != 1 || st.Articles != 1 || st.Bytes != int64(len(art)) {
		t.Errorf("stats %+v", st)
	}
}

func TestIHaveAndDecide(t *testing.T) {
	s := NewServer(t, Script{Dedupe: true, Decide: func(st Stage, mid string) int {
		if st == IHaveArticle && mid == "<rej@x>" {
			return 437
		}
		if st == IHave && mid == "<later@x>" {
			return 436
		}
		return 0
	}})
	p := connect(t, s)
	p.expect("200 ")
	p.send("IHAVE <a@b>\r\n")
	p.expect("335 ")
	p.send(art)
	p.expect("235 ")
	p.send("IHAVE <a@b>\r\n")
	p.expect("435 ")
	p.send("IHAVE <later@x>\r\n")
	p.expect("436 ")
	p.send("IHAVE <rej@x>\r\n")
	p.expect("335 ")
	p.send(art)
	p.expect("437 ")
	p.send("CHECK <a@b>\r\nTAKETHIS <a@b>\r\n" + art)
	p.expect("438 <a@b>", "439 <a@b>")
	st := s.Stats()
	if st.Accepted != 1 || st.Refused != 2 || st.Rejected != 2 || st.Deferred != 1 || st.Commands["IHAVE"] != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestNoStream(t *testing.T) {
	s := NewServer(t, Script{NoStream: true})
	p := connect(t, s)
	p.expect("200 ")
	p.send("MODE STREAM\r\nCHECK <a@b>\r\n")
	p.expect("501 ", "500 ")
	// TAKETHIS is unknown, and so is every line of its article, as with innd.
	p.send("TAKETHIS <a@b>\r\n" + art)
	for i := 0; i < 6; i++ {
		p.expect("500 ")
	}
	p.send(strings.Repeat("junk\r\n", 20))
	for {
		l := p.line()
		if strings.HasPrefix(l, "400 ") {
			break
		}
		if !strings.HasPrefix(l, "500 ") {
			t.Fatalf("got %q", l)
		}
	}
	if !p.closed() {
		t.Error("open after 400")
	}
}

func TestAuth(t *testing.T) {
	s := NewServer(t, Script{User: "u", Pass: "p"})
	p := connect(t, s)
	p.expect("200 ")
	p.send("CHECK <a@b>\r\nMODE STREAM\r\nAUTHINFO PASS p\r\nAUTHINFO USER u\r\nAUTHINFO PASS x\r\nAUTHINFO USER u\r\nAUTHINFO PASS p\r\nCHECK <a@b>\r\n")
	p.expect("480 ", "480 ", "482 ", "381 ", "481 ", "381 ", "281 ", "238 <a@b>")
}

func TestGreetings(t *testing.T) {
	for _, sc := range []Script{{Greeting: 400}, {Greeting: 502}} {
		s := NewServer(t, sc)
		p := connect(t, s)
		p.expect(strconv.Itoa(sc.Greeting) + " ")
		if !p.closed() {
			t.Errorf("%d: open after the greeting", sc.Greeting)
		}
	}
	s := NewServer(t, Script{GreetingLine: "hello"})
	connect(t, s).expect("hello")
}

func TestFaults(t *testing.T) {
	t.Run("FailAt", func(t *testing.T) {
		s := NewServer(t, Script{FailAt: 2})
		p := connect(t, s)
		p.expect("200 ")
		p.send("CHECK <1@x>\r\nTAKETHIS <2@x>\r\n" + art + "CHECK <3@x>\r\n")
		p.expect("238 <1@x>", "400 ")
		if !p.closed() {
			t.Error("open after 400")
		}
	})
	t.Run("WrongID and garbage", func(t *testing.T) {
		s := NewServer(t, Script{WrongIDAt: 2, GarbageAt: 3})
		p := connect(t, s)
		p.expect("200 ")
		p.send("CHECK <1@x>\r\nCHECK <2@x>\r\nCHECK <3@x>\r\nCHECK <4@x>\r\n")
		p.expect("238 <1@x>", "238 <wrong-id@nntptest>", "this is not NNTP", "238 <4@x>")
	})
	t.Run("StallAt", func(t *testing.T) {
		s := NewServer(t, Script{StallAt: 2})
		p := connect(t, s)
		p.expect("200 ")
		p.send("CHECK <1@x>\r\nCHECK <2@x>\r\nCHECK <3@x>\r\n")
		p.expect("238 <1@x>")
		p.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if l, err := p.r.ReadString('\n'); err == nil {
			t.Fatalf("reply %q after the stall", l)
		}
		if n := s.Stats().Commands["CHECK"]; n != 3 {
			t.Errorf("%d CHECKs read during the stall", n)
		}
	})
	t.Run("CutArticleAt", func(t *testing.T) {
		s := NewServer(t, Script{CutArticleAt: 2})
		p := connect(t, s)
		p.expect("200 ")
		p.send("TAKETHIS <1@x>\r\n" + art + "TAKETHIS <2@x>\r\n" + art)
		p.expect("239 <1@x>")
		if !p.closed() {
			t.Error("open after the cut")
		}
		if _, ok := s.Article("<2@x>"); ok {
			t.Error("cut article recorded")
		}
	})
	t.Run("StopReadingAt", func(t *testing.T) {
		s := NewServer(t, Script{StopReadingAt: 1})
		p := connect(t, s)
		p.expect("200 ")
		p.send("CHECK <a@b>\r\n")
		big := bytes.Repeat([]byte("x"), 1<<20)
		p.conn.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		var err error
		for i := 0; i < 64 && err == nil; i++ {
			_, err = p.conn.Write(big)
		}
		if err == nil {
			t.Error("64 MiB written to a peer that stopped reading")
		}
	})
}

// Replies come Delay after their command, all at once for a pipelined burst.
func TestDelayPipelined(t *testing.T) {
	s := NewServer(t, Script{Delay: 100 * time.Millisecond})
	p := connect(t, s)
	p.expect("200 ")
	start := time.Now()
	p.send(strings.Repeat("CHECK <a@b>\r\n", 20))
	for i := 0; i < 20; i++ {
		p.expect("238 <a@b>")
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 600*time.Millisecond {
		t.Errorf("20 pipelined replies took %v with a 100 ms delay", d)
	}
}

func TestCountOnly(t *testing.T) {
	s := NewServer(t, Script{CountOnly: true})
	p := connect(t, s)
	p.expect("200 ")
	p.send("TAKETHIS <a@b>\r\n" + art)
	p.expect("239 <a@b>")
	if _, ok := s.Article("<a@b>"); ok {
		t.Error("CountOnly kept the article")
	}
	if st := s.Stats(); st.Articles != 1 || st.Bytes != int64(len(art)) {
		t.Errorf("stats %+v", st)
	}
}

// A line longer than the reader's buffer inside an article is kept whole.
func TestLongArticleLine(t *testing.T) {
	s := NewServer(t, Script{})
	p := connect(t, s)
	p.expect("200 ")
	long := "Subject: x\r\n\r\n" + strings.Repeat("y", 200<<10) + "\r\n.\r\n"
	p.send("TAKETHIS <l@x>\r\n" + long)
	p.expect("239 <l@x>")
	if got, _ := s.Article("<l@x>"); string(got) != long {
		t.Errorf("received %d bytes, sent %d", len(got), len(long))
	}
}

func TestStartWithoutTesting(t *testing.T) {
	s, err := Start("127.0.0.1:0", Script{})
	if err != nil {
		t.Fatal(err)
	}
	connect(t, s).expect("200 ")
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error("second Close:", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Error("still listening after Close")
	}
}

// The sink's skipping of articles finds the terminator wherever the reads split it, and
// only at the start of a line.
func TestSkipArticle(t *testing.T) {
	arts := []string{
		".\r\n",
		"Subject: x\r\n\r\nbody\r\n.\r\n",
		"Subject: x\r\n\r\n..\r\n.. \r\nx.\r\n\r\n.\r\n",
		"Subject: x\r\n\r\n" + strings.Repeat("line .\r\n", 5000) + ".\r\n",
	}
	const next = "CHECK <next@x>\r\n"
	for i, a := range arts {
		for _, chunk := range []int{1, 2, 3, 5, 64} {
			ss := &session{br: bufio.NewReaderSize(&chunkReader{s: a + next, n: chunk}, 16)}
			n, err := ss.skipArticle()
			if err != nil || n != len(a) {
				t.Errorf("article %d, reads of %d: %d bytes, %v; want %d", i, chunk, n, err, len(a))
				continue
			}
			if rest, _ := ss.br.ReadString('\n'); rest != next {
				t.Errorf("article %d, reads of %d: next line %q", i, chunk, rest)
			}
		}
	}
}

type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.s)
	c.s = c.s[n:]
	return n, nil
}
