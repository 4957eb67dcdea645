package spoolfmt

import "syscall"

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
	tok Token
	fd  int // the file's descriptor + 1; 0: nothing held
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
	return s.readFD(fd, source{s: s, tok: o.tok}, buf, o.tok.Method() == TradSpool)
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
