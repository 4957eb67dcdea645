package reliability

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A deferProxy sits between nxmit and a real innd. It forwards both directions
// unchanged, except that it answers the first CHECK of a fixed DeferPct percent of
// message-ids itself with 431 (chosen by a hash of the id, so a later pass delivers
// them): the honest way to have a real receiver defer a known share of a feed, since
// innd itself defers only while an id is in progress elsewhere or while paused.
//
// It also watches the conversation: for each message-id the offers (CHECK, or TAKETHIS
// without a CHECK before it) in each numbered pass, innd's final answer (239, 438, 439)
// and whether that answer was written to nxmit's socket. That is how the crash soak
// tells an article re-offered after a kill (nxmit had its answer) from one that was
// still unanswered.
//
// Only streaming is understood; a connection that does not stream is forwarded but its
// IHAVE articles would be taken for commands, so tests using IHAVE must not use it.
type deferProxy struct {
	Addr     string
	DeferPct int

	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	upstream string
	pass     int
	mids     map[string]*midRecord
	passes   map[int]*passRecord
	conns    map[net.Conn]struct{}
	closed   bool
	total    passRecord
	perConn  int // connections accepted
	maxConns int // most connections open at once
}

// midRecord is what the proxy knows of one message-id.
type midRecord struct {
	offers    int
	lastOffer int  // pass of the latest offer
	final     int  // innd's final answer code, 0 before there is one
	finalPass int  // pass in which innd gave it
	told      bool // the final answer was written to nxmit's socket
	deferred  bool // the proxy answered 431 to it once
	refusals  int  // 438 and 439 answers: offers of an article innd already had
	history   []string
}

// passRecord counts one pass (or all of them).
type passRecord struct {
	Offers   int // CHECK, and TAKETHIS without CHECK
	Reoffers int // offers of ids innd had already answered finally: duplicates
	// ReoffersTold are the Reoffers whose final answer had reached nxmit's socket.
	ReoffersTold                         int
	ProxyDeferred, InndDeferred          int
	Accepted, Refused, Rejected, Other   int
	Takethis, Checks, Connections, Drops int
}

func startProxy(t testing.TB, upstream string, deferPct int) *deferProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &deferProxy{
		Addr: ln.Addr().String(), DeferPct: deferPct, ln: ln, upstream: upstream,
		mids: map[string]*midRecord{}, passes: map[int]*passRecord{}, conns: map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// SetUpstream changes the innd new connections go to (innd restarted on another port).
func (p *deferProxy) SetUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

// SetPass starts counting a new pass.
func (p *deferProxy) SetPass(n int) {
	p.mu.Lock()
	p.pass = n
	p.mu.Unlock()
}

// Pass returns the counts of pass n.
func (p *deferProxy) Pass(n int) passRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.passes[n]; r != nil {
		return *r
	}
	return passRecord{}
}

// Total returns the counts of every pass together.
func (p *deferProxy) Total() passRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// Mid returns what the proxy knows of a message-id.
func (p *deferProxy) Mid(mid string) midRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.mids[mid]; r != nil {
		return *r
	}
	return midRecord{}
}

// Refusals returns, for every message-id innd refused at least once, how many times.
func (p *deferProxy) Refusals() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string]int{}
	for mid, r := range p.mids {
		if r.refusals > 0 {
			m[mid] = r.refusals
		}
	}
	return m
}

// Finals returns how many message-ids innd has answered finally.
func (p *deferProxy) Finals() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.mids {
		if r.final != 0 {
			n++
		}
	}
	return n
}

// Close stops accepting, cuts every connection and waits for the proxy's goroutines.
func (p *deferProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *deferProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *deferProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *deferProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// counts returns the record of the current pass; p.mu is held.
func (p *deferProxy) counts() *passRecord {
	r := p.passes[p.pass]
	if r == nil {
		r = &passRecord{}
		p.passes[p.pass] = r
	}
	return r
}

func (p *deferProxy) rec(mid string) *midRecord {
	r := p.mids[mid]
	if r == nil {
		r = &midRecord{}
		p.mids[mid] = r
	}
	return r
}

// offer records an offer of mid and reports whether the proxy defers it itself.
func (p *deferProxy) offer(mid string, check bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, c := p.rec(mid), p.counts()
	r.history = append(r.history, fmt.Sprintf("p%d:offer", p.pass))
	r.offers++
	r.lastOffer = p.pass
	for _, x := range []*passRecord{c, &p.total} {
		x.Offers++
		if r.final != 0 {
			x.Reoffers++
			if r.told {
				x.ReoffersTold++
			}
		}
	}
	if check && !r.deferred && r.final == 0 && p.DeferPct > 0 && pctOf(mid) < p.DeferPct {
		r.deferred = true
		c.ProxyDeferred++
		p.total.ProxyDeferred++
		return true
	}
	return false
}

func pctOf(mid string) int {
	h := fnv.New32a()
	io.WriteString(h, mid)
	return int(h.Sum32() % 100)
}

// answer records innd's reply to a command; told says whether it reached nxmit's socket.
func (p *deferProxy) answer(verb, mid string, code int, told bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts()
	bump := func(f func(x *passRecord)) { f(c); f(&p.total) }
	switch verb {
	case "CHECK":
		bump(func(x *passRecord) { x.Checks++ })
	case "TAKETHIS":
		bump(func(x *passRecord) { x.Takethis++ })
	}
	if mid == "" {
		return
	}
	r := p.rec(mid)
	r.history = append(r.history, fmt.Sprintf("p%d:%d", p.pass, code))
	switch code {
	case 239, 438, 439:
		if r.final == 0 || code == 239 {
			r.final, r.finalPass = code, p.pass
		}
		r.told = r.told || told
		switch code {
		case 239:
			bump(func(x *passRecord) { x.Accepted++ })
		case 438:
			r.refusals++
			bump(func(x *passRecord) { x.Refused++ })
		case 439:
			r.refusals++
			bump(func(x *passRecord) { x.Rejected++ })
		}
	case 431:
		bump(func(x *passRecord) { x.InndDeferred++ })
	case 238:
	default:
		bump(func(x *passRecord) { x.Other++ })
	}
}

type entry struct {
	local string // a reply made by the proxy
	verb  string
	mid   string
}

func (p *deferProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	p.mu.Lock()
	addr := p.upstream
	p.perConn++
	p.counts().Connections++
	p.total.Connections++
	if n := len(p.conns); n > p.maxConns {
		p.maxConns = n
	}
	p.mu.Unlock()
	u, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return // nxmit sees the connection closed before any greeting
	}
	if !p.track(u) {
		u.Close()
		return
	}
	defer p.untrack(u)

	entries := make(chan entry, 4096)
	done := make(chan struct{})
	defer close(done)
	var wanted sync.Map // ids answered 238 on this connection: their TAKETHIS is no offer
	go p.forward(c, u, entries, done, &wanted)

	ur := bufio.NewReaderSize(u, 64<<10)
	greeting, err := ur.ReadString('\n')
	if err != nil {
		return
	}
	if _, err := io.WriteString(c, greeting); err != nil {
		return
	}
	clientGone := false
	for e := range entries {
		var line string
		if e.local != "" {
			line = e.local + "\r\n"
		} else {
			line, err = ur.ReadString('\n')
			if err != nil {
				p.drop()
				return
			}
			code, _ := strconv.Atoi(strings.TrimSpace(line[:min(3, len(line))]))
			if code == 238 {
				wanted.Store(e.mid, true)
			}
			p.answer(e.verb, e.mid, code, !clientGone)
		}
		// A client that was killed no longer reads, but innd's remaining answers are
		// still recorded: they are final for the receiver.
		if !clientGone {
			if _, err := io.WriteString(c, line); err != nil {
				clientGone = true
			}
		}
	}
}

func (p *deferProxy) drop() {
	p.mu.Lock()
	p.counts().Drops++
	p.total.Drops++
	p.mu.Unlock()
}

// forward copies commands (and TAKETHIS articles) from nxmit to innd, queueing one
// entry per command for the reply path, in order.
func (p *deferProxy) forward(c, u net.Conn, entries chan<- entry, done <-chan struct{}, wanted *sync.Map) {
	defer close(entries)
	br := bufio.NewReaderSize(c, 64<<10)
	bw := bufio.NewWriterSize(u, 64<<10)
	push := func(e entry) bool {
		select {
		case entries <- e:
			return true
		case <-done:
			return false
		}
	}
	defer func() {
		bw.Flush()
		if tc, ok := u.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	for {
		// Commands go on to innd in bursts, as nxmit wrote them.
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
		arg, _, _ = strings.Cut(arg, " ")
		switch strings.ToUpper(verb) {
		case "CHECK":
			if p.offer(arg, true) {
				if !push(entry{local: "431 " + arg + " deferred by the test proxy"}) {
					return
				}
				continue
			}
			bw.Write(line)
			if !push(entry{verb: "CHECK", mid: arg}) {
				return
			}
		case "TAKETHIS":
			if _, ok := wanted.LoadAndDelete(arg); !ok {
				p.offer(arg, false)
			}
			bw.Write(line)
			if err := copyArticle(br, bw); err != nil {
				return
			}
			if !push(entry{verb: "TAKETHIS", mid: arg}) {
				return
			}
		default:
			bw.Write(line)
			if !push(entry{verb: strings.ToUpper(verb)}) {
				return
			}
		}
	}
}

// copyArticle copies a dot-terminated article.
func copyArticle(br *bufio.Reader, bw *bufio.Writer) error {
	atStart := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
		if _, werr := bw.Write(line); werr != nil {
			return werr
		}
		if atStart && err == nil && bytes.Equal(line, []byte(".\r\n")) {
			return nil
		}
		atStart = err == nil
	}
}
