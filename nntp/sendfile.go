package nntp

import (
	"net"
	"sync/atomic"
	"syscall"
)

// SendfileMin is the smallest article a FileFeeder is asked for as a file. Below it
// the copy through the write buffer is cheaper: the fast path must flush the buffer
// first (one more write), look at the file's size, head and tail (a stat and two
// reads) and cannot coalesce the article with its neighbours. Above it the two copies
// of the read-and-write path (page cache to buffer, buffer to socket) cost more than
// those calls. Sending scripts/bench's mixed batch (70 % 1–4 KB, 25 % 10–100 KB, 5 %
// 0.5–2 MB) to a null sink, interleaved medians of 5 runs of the sender's own CPU:
// 0.41–0.48 s from 32 KB against 0.47–0.58 s from 128 KB, 0.51 s from 64 KB.
// BenchmarkSendfile cannot tell them apart: the in-process sink's copy dominates it.
const SendfileMin = 32 << 10

// A FileFeeder is a Feeder that can hand over an article stored in wire format in a
// file, for the connection to send from the file without copying it through user space
// (sendfile(2)). The connection asks for it only where the kernel can do that: a plain
// TCP connection, no TLS, no rate limit.
type FileFeeder interface {
	Feeder
	// ArticleFile returns where o's article lies in a file, when it is stored there in
	// wire format (CRLF lines, dot-stuffed, ending in CRLF.CRLF, checked), and is at
	// least min bytes (ok). An article below min may come back read whole into buf
	// instead (art, ok false), as Article would return it: a Feeder that learns the
	// size by reading saves a stat and a second read that way. Neither (ok false, art
	// nil, a nil error): the connection calls Article. Errors are those of Article.
	// The descriptor must stay open until o's result reaches Done; the connection
	// never closes it.
	ArticleFile(o *Offer, min int64, buf []byte) (r FileRange, art []byte, ok bool, err error)
	// FileUnchanged is called for a Shared range once all of it but its last three
	// bytes (".\r\n") went to the peer: nil if o's article is still in the file as
	// ArticleFile found it, so the bytes sent were the article's; the connection then
	// ends the article. An error: the article changed while it was sent, and the
	// connection is closed before the article ends, so that the peer drops what it
	// got; o ends Unsent, and the Feeder's next read finds what became of it.
	FileUnchanged(o *Offer) error
}

// A FileRange is where an article lies in a file: Size bytes at Off of FD.
type FileRange struct {
	FD        int
	Off, Size int64
	// Shared says the file holds other articles and may be overwritten while the
	// article is sent (a CNFS buffer, a CAF file): the connection holds the article's
	// end back until FileUnchanged says the bytes sent were the article's.
	Shared bool
}

// heldBack is the end of an article sent from a Shared file that the connection
// writes itself, once FileUnchanged confirmed the rest: the last bytes of a wire-format
// article, which ArticleFile checked.
const heldBack = ".\r\n"

// sendfileCount counts the articles sent from a file, for tests that check that the
// fast path was taken.
var sendfileCount atomic.Int64

// rawTCP returns the connection's socket when articles may be sent from a file: a plain
// TCP connection (not TLS, not rate-limited).
func (c *Client) rawTCP() syscall.RawConn {
	if c.tls || !sendfileSupported {
		return nil
	}
	tc, ok := c.dc.Conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// sendFile writes the size bytes at off of fd to the socket with sendfile(2). The write
// buffer must be flushed first. Each call that moves bytes renews the write deadline, as
// deadlineConn does for writes: a timeout means nothing moved for that long.
func (c *Client) sendFile(rc syscall.RawConn, fd int, off, size int64) error {
	end := off + size
	var serr error
	for off < end && serr == nil {
		c.dc.setDeadline(true, c.dc.writeTimeout)
		err := rc.Write(func(s uintptr) bool {
			n, err := sendfile(int(s), fd, &off, int(min(end-off, 1<<30)))
			switch {
			case err == syscall.EAGAIN:
				return false // nothing moved: wait until the socket takes more
			case err == syscall.EINTR:
				return false
			case err != nil:
				serr = err
			case n == 0:
				serr = errShrank
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	return serr
}

// SentFromFiles returns the number of articles this process sent from their files
// with sendfile, over all connections: for tests and benchmarks that must know the
// fast path was taken.
func SentFromFiles() int64 { return sendfileCount.Load() }
