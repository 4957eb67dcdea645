package spoolfmt

import (
	"bytes"
	"syscall"
)

// maxHeld bounds the descriptors that Opened articles keep at once, far
// below the usual limits on open files: past it Find only checks that the
// article exists, and the read opens it again.
const maxHeld = 2048

// An Opened article was found in the spool by Find and is read by
// ReadOpened. For timehash and tradspool it usually holds the file's
// descriptor, so that the check before an offer and the read for its
// TAKETHIS cost one lookup together. The zero value holds nothing. It must
// be read or closed once.
type Opened struct {
	tok  Token
	fd   int   // the file's descriptor + 1; 0: nothing held
	size int64 // the file's size + 1 once a stat saw it, so the read needs none; 0: unknown
}

// Find checks that the article tok names is in the spool, as Exists does,
// and keeps what the check found for ReadOpened. A missing article gives an
// error wrapping ErrMissing; other errors are failures to find out.
func (s *Store) Find(tok Token) (Opened, error) {
	switch tok.Method() {
	case TimeHash, TradSpool:
		fd, err := s.openArticle(tok)
		if err != nil {
			return Opened{}, err
		}
		if s.held.Add(1) > maxHeld {
			s.held.Add(-1)
			syscall.Close(fd)
			return Opened{tok: tok}, nil
		}
		return Opened{tok: tok, fd: fd + 1}, nil
	}
	ok, err := s.Exists(tok)
	if err == nil && !ok {
		err = missing(tok.String(), "not in the spool")
	}
	return Opened{tok: tok}, err
}

// ReadOpened returns the article o holds, as Retrieve does, and releases
// what o holds. An o that holds nothing (the zero value, a method without
// files, an article read already) reads the token again, or fails when it
// has none.
func (s *Store) ReadOpened(o *Opened, buf []byte) ([]byte, error) {
	if o.fd == 0 {
		return s.Retrieve(o.tok, buf)
	}
	fd := o.fd - 1
	defer s.CloseOpened(o)
	return s.readFD(fd, source{s: s, tok: o.tok}, buf, o.tok.Method() == TradSpool, o.size-1)
}

// CloseOpened releases what o holds; o can still be read, from the spool
// again. It may be called more than once.
func (s *Store) CloseOpened(o *Opened) {
	if o.fd != 0 {
		syscall.Close(o.fd - 1)
		o.fd = 0
		s.held.Add(-1)
	}
}

// Held returns the number of descriptors Opened articles hold now: 0 once
// every Opened article was read or closed (a leak check for callers' tests).
func (s *Store) Held() int { return int(s.held.Load()) }

// A WireFile is an article stored alone in a file in wire format, for sending
// it from the file (sendfile(2)) rather than reading it.
type WireFile struct {
	FD   int    // the descriptor the Opened article holds: still its own
	Size int64  // the article's size in bytes, the whole file
	Head []byte // the article's first bytes, its whole header
}

// WireFile returns o's article as a file when o holds its descriptor, the
// file holds at least least bytes, is in wire format and ends in CRLF.CRLF,
// and its header fits in head (read into it). ok false: read it with
// ReadOpened, which also reports what is wrong with it, if anything. The
// descriptor stays o's, released by CloseOpened or ReadOpened: the caller
// must not close it, and may send it again after a failure.
func (s *Store) WireFile(o *Opened, least int64, head []byte) (w WireFile, ok bool) {
	if o.fd == 0 {
		return WireFile{}, false
	}
	fd := o.fd - 1
	if o.size > 0 && o.size-1 < least {
		return WireFile{}, false
	}
	var st syscall.Stat_t
	if fstatFD(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return WireFile{}, false
	}
	// The read that follows a refusal needs no stat of its own: most articles are
	// below least, and the stat was a fifth of their system calls.
	o.size = st.Size + 1
	if st.Size < least || st.Size > s.maxSize || st.Size < int64(len(wireEnd)) {
		return WireFile{}, false
	}
	n := int(min(int64(len(head)), st.Size))
	if preadFull(fd, head[:n], 0) != nil {
		return WireFile{}, false
	}
	head = head[:n]
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 {
		return WireFile{}, false // a header longer than head: read it whole
	}
	if o.tok.Method() == TradSpool {
		if wire, ok := IsWireFormat(head); !ok || !wire {
			return WireFile{}, false
		}
	}
	var tail [5]byte
	if preadFull(fd, tail[:], st.Size-int64(len(tail))) != nil || !bytes.Equal(tail[:], wireEnd) {
		return WireFile{}, false
	}
	return WireFile{FD: fd, Size: st.Size, Head: head[:end+4]}, true
}
