package spoolfmt

import (
	"container/list"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// CAF layout (inn-formats.md §1.8, LP64 little-endian).
const (
	cafHeaderSize = 96
	cafTOCEntry   = 24
)

// cafRecheck is how long an open CAF file is used before checking that its
// path still names it: expiry removes CAF files and cleaning replaces them.
const cafRecheck = time.Second

func (s *Store) cafPath(tok Token) string {
	t, _ := tok.timecaf()
	return fmt.Sprintf("%s/timecaf-%02x/%02x/%02x%02x.CF", s.articles, tok.Class(),
		(t>>8)&0xff, (t>>16)&0xff, t&0xff)
}

// cafFile is an open CAF file with its fixed header fields.
type cafFile struct {
	path    string
	f       *os.File
	ino     uint64
	low     int64
	slots   int64
	tocBase int64 // file offset of the entry for article low
	checked time.Time

	refs    int // guarded by cafCache.mu
	evicted bool
	elem    *list.Element
}

// cafCache keeps the most recently used CAF files open.
type cafCache struct {
	mu     sync.Mutex
	max    int
	files  map[string]*cafFile
	lru    *list.List // front = most recent
	closed bool
}

func newCAFCache(max int) *cafCache {
	return &cafCache{max: max, files: make(map[string]*cafFile), lru: list.New()}
}

// get returns the open file for path with a reference the caller releases.
func (c *cafCache) get(path string) (*cafFile, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, os.ErrClosed
	}
	if cf := c.files[path]; cf != nil {
		if time.Since(cf.checked) < cafRecheck {
			cf.refs++
			c.lru.MoveToFront(cf.elem)
			c.mu.Unlock()
			return cf, nil
		}
		// Check the path still names this file (one stat a second per file).
		fi, err := os.Stat(path)
		if err == nil && inode(fi) == cf.ino {
			cf.checked = time.Now()
			cf.refs++
			c.lru.MoveToFront(cf.elem)
			c.mu.Unlock()
			return cf, nil
		}
		c.dropLocked(cf)
	}
	c.mu.Unlock()

	cf, err := openCAF(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cf.f.Close()
		return nil, os.ErrClosed
	}
	if other := c.files[path]; other != nil && other.ino == cf.ino {
		cf.f.Close() // another goroutine opened it meanwhile
		other.refs++
		c.lru.MoveToFront(other.elem)
		return other, nil
	} else if other != nil {
		c.dropLocked(other)
	}
	cf.refs = 1
	cf.elem = c.lru.PushFront(cf)
	c.files[path] = cf
	for c.lru.Len() > c.max {
		c.dropLocked(c.lru.Back().Value.(*cafFile))
	}
	return cf, nil
}

// dropLocked removes cf from the cache; it is closed once unreferenced.
func (c *cafCache) dropLocked(cf *cafFile) {
	if cf.evicted {
		return
	}
	cf.evicted = true
	c.lru.Remove(cf.elem)
	if c.files[cf.path] == cf {
		delete(c.files, cf.path)
	}
	if cf.refs == 0 {
		cf.f.Close()
	}
}

func (c *cafCache) release(cf *cafFile) {
	c.mu.Lock()
	cf.refs--
	if cf.evicted && cf.refs == 0 {
		cf.f.Close()
	}
	c.mu.Unlock()
}

func (c *cafCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for c.lru.Len() > 0 {
		c.dropLocked(c.lru.Back().Value.(*cafFile))
	}
	return nil
}

func openCAF(path string) (*cafFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var h [cafHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		f.Close()
		if err == io.EOF {
			err = fmt.Errorf("%w: shorter than a CAF header", ErrCorrupt)
		}
		return nil, err
	}
	if string(h[0:4]) != "CRMT" {
		f.Close()
		return nil, fmt.Errorf("%w: bad CAF magic %q", ErrCorrupt, h[0:4])
	}
	le := binary.LittleEndian
	cf := &cafFile{path: path, f: f, ino: inode(fi), checked: time.Now(),
		low:   int64(le.Uint64(h[8:16])),
		slots: int64(le.Uint64(h[16:24])),
	}
	zoneTab := int64(le.Uint64(h[56:64]))
	if cf.slots < 0 || zoneTab < 0 || zoneTab > 1<<40 || cf.slots > 1<<40 {
		f.Close()
		return nil, fmt.Errorf("%w: impossible CAF header (slots %d, free zone table %d)", ErrCorrupt, cf.slots, zoneTab)
	}
	cf.tocBase = cafHeaderSize + zoneTab
	return cf, nil
}

// cafLoc is where a present timecaf article lies.
type cafLoc struct {
	cf        *cafFile
	off, size int64
}

// cafLocate finds the article's TOC entry; the caller releases loc.cf.
func (s *Store) cafLocate(tok Token) (cafLoc, error) {
	art := tok.String()
	path := s.cafPath(tok)
	cf, err := s.caf.get(path)
	if err != nil {
		if isNotExist(err) {
			return cafLoc{}, missing(art, "no file "+path)
		}
		return cafLoc{}, &ReadError{Article: art, Path: path, Op: "open", Err: unwrapPathError(err)}
	}
	loc, err := s.cafEntry(tok, cf)
	if err != nil {
		s.caf.release(cf)
		return cafLoc{}, err
	}
	return loc, nil
}

// cafEntry reads the article's TOC entry in cf, which the caller holds.
func (s *Store) cafEntry(tok Token, cf *cafFile) (cafLoc, error) {
	_, n := tok.timecaf()
	slot := int64(n) - cf.low
	if slot < 0 || slot >= cf.slots {
		return cafLoc{}, missing(tok.String(), fmt.Sprintf("article %d not in %s (lowest %d)", n, cf.path, cf.low))
	}
	var e [cafTOCEntry]byte
	if _, err := cf.f.ReadAt(e[:], cf.tocBase+slot*cafTOCEntry); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: table of contents cut short", ErrCorrupt)
		}
		return cafLoc{}, &ReadError{Article: tok.String(), Path: cf.path, Op: "read", Err: unwrapPathError(err)}
	}
	le := binary.LittleEndian
	loc := cafLoc{cf: cf, off: int64(le.Uint64(e[0:8])), size: int64(le.Uint64(e[8:16]))}
	if loc.size == 0 {
		return cafLoc{}, missing(tok.String(), fmt.Sprintf("article %d cancelled or expired in %s", n, cf.path))
	}
	if loc.off < cf.tocBase || loc.size < 0 || loc.size > s.maxSize {
		return cafLoc{}, &ReadError{Article: tok.String(), Path: cf.path, Op: "read",
			Err: fmt.Errorf("%w: impossible TOC entry for article %d (offset %d, size %d)", ErrCorrupt, n, loc.off, loc.size)}
	}
	return loc, nil
}

func (s *Store) cafRetrieve(tok Token, buf []byte) ([]byte, error) {
	loc, err := s.cafLocate(tok)
	if err != nil {
		return nil, err
	}
	defer s.caf.release(loc.cf)
	return s.cafRead(tok, loc, buf)
}

// cafRead reads the article at loc, whose file the caller holds.
func (s *Store) cafRead(tok Token, loc cafLoc, buf []byte) ([]byte, error) {
	out := grow(buf, int(loc.size))
	if _, err := loc.cf.f.ReadAt(out, loc.off); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: article at %d (%d bytes) runs past the end of the file", ErrCorrupt, loc.off, loc.size)
		}
		return nil, &ReadError{Article: tok.String(), Path: loc.cf.path, Op: "read", Err: unwrapPathError(err)}
	}
	if !validWire(out) {
		return nil, &ReadError{Article: tok.String(), Path: loc.cf.path, Op: "read",
			Err: fmt.Errorf("%w: article at %d (%d bytes) does not end in CRLF.CRLF", ErrCorrupt, loc.off, loc.size)}
	}
	return out, nil
}
