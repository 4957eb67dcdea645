package nntp

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// rateBurst is how far ahead of the steady rate a RateLimiter lets writes go: enough to
// fill a socket buffer in one write at modest rates, little enough that the average over
// a second stays close to the cap.
const rateBurst = 50 * time.Millisecond

// rateWait bounds each sleep of a throttled write, so that a deadline set meanwhile (a
// stop) is noticed soon.
const rateWait = 20 * time.Millisecond

// A RateLimiter caps the bytes per second written by every connection that shares it (a
// token bucket over the writes, as a virtual-time scheduler: each write moves the time
// at which the bucket is empty again). Share one among a site's connections through
// Config.Limiter. It is safe for concurrent use.
type RateLimiter struct {
	rate  float64 // bytes per second
	chunk int     // largest single write

	mu  sync.Mutex
	tat time.Time // when everything reserved so far has drained at the rate
}

// NewRateLimiter returns a limiter of bytesPerSecond (which must be positive).
func NewRateLimiter(bytesPerSecond int64) *RateLimiter {
	chunk := int(float64(bytesPerSecond) * rateBurst.Seconds())
	return &RateLimiter{rate: float64(bytesPerSecond), chunk: max(chunk, 512)}
}

// Rate returns the cap in bytes per second.
func (l *RateLimiter) Rate() int64 { return int64(l.rate) }

// reserve takes n bytes and returns when they may be written.
func (l *RateLimiter) reserve(n int, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tat.Before(now) {
		l.tat = now
	}
	l.tat = l.tat.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	return l.tat.Add(-rateBurst)
}

// limitConn throttles the writes of a connection through a RateLimiter. It sits under TLS,
// so the cap counts the bytes on the wire.
type limitConn struct {
	net.Conn
	lim      *RateLimiter
	deadline atomic.Int64 // write deadline, UnixNano; 0: none
}

func (c *limitConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), c.lim.chunk)
		at := c.lim.reserve(n, time.Now())
		for {
			now := time.Now()
			if !at.After(now) {
				break
			}
			if d := c.deadline.Load(); d != 0 && d <= now.UnixNano() {
				return written, os.ErrDeadlineExceeded
			}
			time.Sleep(min(at.Sub(now), rateWait))
		}
		m, err := c.Conn.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (c *limitConn) SetDeadline(t time.Time) error {
	c.setWrite(t)
	return c.Conn.SetDeadline(t)
}

func (c *limitConn) SetWriteDeadline(t time.Time) error {
	c.setWrite(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *limitConn) setWrite(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
}
