package spoolfmt

import (
	"bytes"
	"fmt"
	"syscall"
)

// maxHeld bounds the descriptors and CAF file references that Opened
// articles keep at once, far below the usual limits on open files: past it
// Find only checks that the article exists, and the read opens it again.
const maxHeld = 2048

// An Opened article was found in the spool by Find and is read by
// ReadOpened. For timehash and tradspool it usually holds the file's
// descriptor, so that the check before an offer and the read for its
// TAKETHIS cost one lookup together; for timecaf a reference on the open CAF
// file and where the article lies in it; for CNFS where the article lies in
// its buffer. The zero value holds nothing. It must be read or closed once.
type Opened struct {
	tok  Token
	fd   int   // timehash, tradspool: the file's descriptor + 1; 0: nothing held
	size int64 // timehash, tradspool: the file's size + 1 once a stat saw it, so the read needs none; 0: unknown

	caf    cafLoc  // timecaf: caf.cf is Find's reference on the CAF file; nil: none
	cnfs   cnfsLoc // CNFS: cnfs.b nil: not located
	pinned bool    // CNFS: WireFile keeps the buffers open (cnfsBuffers.pin)
}

// Find checks that the article tok names is in the spool, as Exists does,
// and keeps what the check found for ReadOpened and WireFile. A missing
// article gives an error wrapping ErrMissing; other errors are failures to
// find out.
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
	case TimeCAF:
		loc, err := s.cafLocate(tok)
		if err != nil {
			return Opened{tok: tok}, err
		}
		if s.held.Add(1) > maxHeld {
			s.held.Add(-1)
			s.caf.release(loc.cf)
			return Opened{tok: tok}, nil
		}
		return Opened{tok: tok, caf: loc}, nil
	case CNFS:
		loc, err := s.cnfs.locate(tok)
		if err != nil {
			return Opened{tok: tok}, err
		}
		return Opened{tok: tok, cnfs: loc}, nil
	}
	return Opened{tok: tok}, noMethod(tok)
}

// ReadOpened returns the article o holds, as Retrieve does, and releases
// what o holds. An o that holds nothing (the zero value, an article read
// already) reads the token again, or fails when it has none. A CNFS article
// is located again (its buffer may have wrapped over it since Find), a
// timecaf article looked up again in the CAF file Find holds.
func (s *Store) ReadOpened(o *Opened, buf []byte) ([]byte, error) {
	defer s.CloseOpened(o)
	switch {
	case o.fd != 0:
		return s.readFD(o.fd-1, source{s: s, tok: o.tok}, buf, o.tok.Method() == TradSpool, o.size-1)
	case o.caf.cf != nil:
		// The table of contents again (a cancel clears the entry), from the file
		// Find opened: cleaning writes a new file rather than rewrite this one.
		loc, err := s.cafEntry(o.tok, o.caf.cf)
		if err != nil {
			return nil, err
		}
		return s.cafRead(o.tok, loc, buf)
	}
	return s.Retrieve(o.tok, buf)
}

// CloseOpened releases what o holds; o can still be read, from the spool
// again. It may be called more than once.
func (s *Store) CloseOpened(o *Opened) {
	if o.fd != 0 {
		syscall.Close(o.fd - 1)
		o.fd = 0
		s.held.Add(-1)
	}
	if o.caf.cf != nil {
		s.caf.release(o.caf.cf)
		o.caf = cafLoc{}
		s.held.Add(-1)
	}
	if o.pinned {
		s.cnfs.unpin()
		o.pinned = false
		s.held.Add(-1)
	}
	o.cnfs = cnfsLoc{}
}

// Held returns the number of descriptors and file references Opened
// articles hold now: 0 once every Opened article was read or closed (a leak
// check for callers' tests).
func (s *Store) Held() int { return int(s.held.Load()) }

// A WireFile is an article stored in wire format in a file, for sending it
// from the file (sendfile(2)) rather than reading it: Size bytes at Off.
type WireFile struct {
	FD   int   // the descriptor: still the Store's or the Opened article's
	Off  int64 // where the article starts in the file: 0 for a file of its own
	Size int64 // the article's size in bytes
	// Shared is true for a file that holds other articles (a CNFS buffer, a
	// CAF file), where the article's bytes may change while they are sent:
	// check them afterwards with WireUnchanged.
	Shared bool
	Head   []byte // the article's first bytes, its whole header
}

// WireFile returns o's article as a range of a file when o holds it (a
// timehash or tradspool descriptor, a timecaf or CNFS location), the article
// is at least least bytes, is in wire format and ends in CRLF.CRLF, and its
// header fits in head (read into it). ok false: read it with ReadOpened,
// which also reports what is wrong with it, if anything. The descriptor
// stays valid until CloseOpened or ReadOpened (a CNFS article pins the
// buffers open until then): the caller must not close it, and may send it
// again after a failure.
//
// With a buf of at least 4 KB, a timehash file is read first, up to least
// bytes: one that ends before is returned whole in art (ok false), checked
// as ReadOpened checks it, and o is released as ReadOpened releases it. Most
// articles are far below least, and the stat that would tell their size, then
// the read, were two of their four system calls.
func (s *Store) WireFile(o *Opened, least int64, head, buf []byte) (w WireFile, art []byte, ok bool) {
	switch {
	case o.fd != 0:
		fd := o.fd - 1
		if o.size > 0 && o.size-1 < least {
			return WireFile{}, nil, false
		}
		if o.tok.Method() == TimeHash {
			// Whatever readWhole leaves is read again by the stat's path below, or
			// by ReadOpened, which says what is wrong with it.
			if art, ok := readWhole(fd, buf, min(least, s.maxSize)); ok {
				s.CloseOpened(o)
				return WireFile{}, art, false
			}
		}
		var st syscall.Stat_t
		if fstatFD(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return WireFile{}, nil, false
		}
		// The read that follows a refusal needs no stat of its own: most articles are
		// below least, and the stat was a fifth of their system calls.
		o.size = st.Size + 1
		if st.Size < least || st.Size > s.maxSize {
			return WireFile{}, nil, false
		}
		w, ok = checkWire(fd, 0, st.Size, head, o.tok.Method() == TradSpool)
		return w, nil, ok
	case o.caf.cf != nil:
		if o.caf.size < least {
			return WireFile{}, nil, false
		}
		// Still where Find found it: not cancelled since (nor by an earlier
		// send that WireUnchanged failed).
		if loc, err := s.cafEntry(o.tok, o.caf.cf); err != nil || loc != o.caf {
			return WireFile{}, nil, false
		}
		w, ok = checkWire(int(o.caf.cf.f.Fd()), o.caf.off, o.caf.size, head, false)
		w.Shared = true
		return w, nil, ok
	case o.cnfs.b != nil:
		if o.cnfs.size < least {
			return WireFile{}, nil, false
		}
		// The buffer may have wrapped since Find: the article must still be
		// where Find found it, with the same header.
		if loc, err := s.cnfs.locate(o.tok); err != nil || loc != o.cnfs {
			return WireFile{}, nil, false
		}
		if !o.pinned {
			if !s.cnfs.pin() {
				return WireFile{}, nil, false
			}
			o.pinned = true
			s.held.Add(1)
		}
		w, ok = checkWire(int(o.cnfs.b.f.Fd()), o.cnfs.off+cnfsArtHdrSize, o.cnfs.size, head, false)
		w.Shared = true
		return w, nil, ok
	}
	return WireFile{}, nil, false
}

// checkWire checks the size bytes at off of fd as WireFile does: the header
// fits in head, the end is CRLF.CRLF, and, where the format may be native
// (tradspool), the article is in wire format.
func checkWire(fd int, off, size int64, head []byte, mayBeNative bool) (WireFile, bool) {
	if size < int64(len(wireEnd)) {
		return WireFile{}, false
	}
	n := int(min(int64(len(head)), size))
	if preadFull(fd, head[:n], off) != nil {
		return WireFile{}, false
	}
	head = head[:n]
	end := bytes.Index(head, []byte("\r\n\r\n"))
	if end < 0 {
		return WireFile{}, false // a header longer than head: read it whole
	}
	if mayBeNative {
		if wire, ok := IsWireFormat(head); !ok || !wire {
			return WireFile{}, false
		}
	}
	if !endsWire(fd, off+size) {
		return WireFile{}, false
	}
	return WireFile{FD: fd, Off: off, Size: size, Head: head[:end+4]}, true
}

// endsWire reports whether the bytes of fd before end are CRLF.CRLF.
func endsWire(fd int, end int64) bool {
	var tail [5]byte
	return preadFull(fd, tail[:], end-int64(len(tail))) == nil && bytes.Equal(tail[:], wireEnd)
}

// WireUnchanged reports whether o's article is still what WireFile found,
// for a sender that sent it from a Shared file: nil for a file of its own
// (timehash and tradspool files are never rewritten in place). For CNFS the
// article is located again and its 24-byte header and end must be the
// same: innd overwrites a buffer in ascending order, one writev of header
// and article each, so no byte of the article changes before its header
// does. For timecaf the table of contents entry and the end must be the
// same (a cancel clears the entry). A change gives an error wrapping
// ErrMissing (overwritten, cancelled) or a *ReadError.
func (s *Store) WireUnchanged(o *Opened) error {
	switch {
	case o.caf.cf != nil:
		loc, err := s.cafEntry(o.tok, o.caf.cf)
		if err != nil {
			return err
		}
		if loc != o.caf {
			return missing(o.tok.String(), fmt.Sprintf("table of contents entry of %s changed while sent", o.caf.cf.path))
		}
		if !endsWire(int(loc.cf.f.Fd()), loc.off+loc.size) {
			return &ReadError{Article: o.tok.String(), Path: loc.cf.path, Op: "read",
				Err: fmt.Errorf("%w: article at %d (%d bytes) no longer ends in CRLF.CRLF", ErrCorrupt, loc.off, loc.size)}
		}
	case o.cnfs.b != nil:
		loc, err := s.cnfs.locate(o.tok)
		if err != nil {
			return err
		}
		if loc != o.cnfs {
			return missing(o.tok.String(), fmt.Sprintf("overwritten while sent (article header at %d of %s changed)", loc.off, loc.b.name))
		}
		if !endsWire(int(loc.b.f.Fd()), loc.off+cnfsArtHdrSize+loc.size) {
			return missing(o.tok.String(), fmt.Sprintf("overwritten while sent (end of the article at %d of %s changed)", loc.off, loc.b.name))
		}
	}
	return nil
}
