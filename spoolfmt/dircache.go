package spoolfmt

import (
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Whole-file articles (timehash, tradspool) are opened relative to a cached
// handle of their directory: the open then looks up one name instead of
// walking patharticles and three more directories, and the existence check
// before an offer is that same open (see Open), not a stat that walks them
// again. A backlog is in arrival order, so its timehash articles come from
// few directories (one per class and 256 s) at a time.

// dirCacheSize bounds the directory handles kept open.
const dirCacheSize = 16

// dirRecheck is the age after which a handle that does not find a file is
// opened again before the article is called missing: within it, a run of
// missing articles costs one lookup each, not a walk each.
var dirRecheck = time.Second

// A dirKey names an article directory: a timehash class and the 16 bits of
// arrival time in its path, or a tradspool group number.
type dirKey struct {
	method Method
	id     uint32
}

type dirEntry struct {
	key  dirKey
	fd   int    // -1: free slot
	refs int    // lookups using fd now; it is closed only at 0
	used uint64 // clock of the last lookup, for eviction
	gone bool   // evicted or closed while in use: close at the last release
	born time.Time
}

// dirCache keeps the most recently used article directories open. It is safe
// for concurrent use; a handle is never closed while an openat uses it.
type dirCache struct {
	mu     sync.Mutex
	ents   [dirCacheSize]*dirEntry
	clock  uint64
	closed bool
	// gone remembers, for dirRecheck, directories found missing: a backlog of
	// expired articles then costs no lookup per line. A directory cannot appear
	// for an article of the backlog meanwhile: innd stores an article, in the
	// directory of its arrival time, before it writes the line.
	gone map[dirKey]time.Time
}

// maxGone bounds the missing directories remembered.
const maxGone = 256

// isGone reports whether key was found missing less than dirRecheck ago.
func (c *dirCache) isGone(key dirKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.gone[key]
	if ok && time.Since(t) > dirRecheck {
		delete(c.gone, key)
		return false
	}
	return ok
}

func (c *dirCache) noteGone(key dirKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone == nil || len(c.gone) >= maxGone {
		c.gone = make(map[dirKey]time.Time)
	}
	c.gone[key] = time.Now()
}

// get returns an open handle of the directory key names, opening it with
// open when it is not cached. The caller must release the entry.
func (c *dirCache) get(key dirKey, open func() (int, error)) (*dirEntry, error) {
	c.mu.Lock()
	c.clock++
	for _, e := range c.ents {
		if e != nil && e.key == key {
			e.refs++
			e.used = c.clock
			c.mu.Unlock()
			return e, nil
		}
	}
	c.mu.Unlock()

	fd, err := open()
	if err != nil {
		return nil, err
	}
	e := &dirEntry{key: key, fd: fd, refs: 1, born: time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		e.gone = true
		return e, nil
	}
	// Another goroutine may have cached it meanwhile; one copy is enough.
	for _, o := range c.ents {
		if o != nil && o.key == key {
			o.refs++
			o.used = c.clock
			syscall.Close(fd)
			return o, nil
		}
	}
	victim := -1
	for i, o := range c.ents {
		if o == nil {
			victim = i
			break
		}
		if victim < 0 || o.used < c.ents[victim].used {
			victim = i
		}
	}
	if o := c.ents[victim]; o != nil {
		c.dropLocked(o)
	}
	e.used = c.clock
	c.ents[victim] = e
	return e, nil
}

// release ends a use of e.
func (c *dirCache) release(e *dirEntry) {
	c.mu.Lock()
	e.refs--
	if e.gone && e.refs == 0 {
		syscall.Close(e.fd)
	}
	c.mu.Unlock()
}

// forget drops e from the cache (its directory was replaced or removed), so
// that the next lookup opens the directory again.
func (c *dirCache) forget(e *dirEntry) {
	c.mu.Lock()
	for i, o := range c.ents {
		if o == e {
			c.ents[i] = nil
			c.dropLocked(e)
		}
	}
	c.mu.Unlock()
}

func (c *dirCache) dropLocked(e *dirEntry) {
	e.gone = true
	if e.refs == 0 {
		syscall.Close(e.fd)
	}
}

func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for i, e := range c.ents {
		if e != nil {
			c.ents[i] = nil
			c.dropLocked(e)
		}
	}
}

// articleDir returns the directory key of a whole-file token, and the file
// name within it, written into name (no allocation).
func (s *Store) articleDir(tok Token, name *[24]byte) (dirKey, int, error) {
	switch tok.Method() {
	case TimeHash:
		t, seq := tok.timehash()
		// time-CC/XX/YY/SSSS-WWZZ: the name holds the sequence number and the
		// outer bytes of the arrival time.
		n := appendHex(name[:0], uint32(seq), 4)
		n = append(n, '-')
		n = appendHex(n, (t>>24)&0xff, 2)
		n = appendHex(n, t&0xff, 2)
		return dirKey{TimeHash, uint32(tok.Class())<<16 | (t>>8)&0xffff}, len(n), nil
	case TradSpool:
		g, art := tok.tradspool()
		n := strconv.AppendUint(name[:0], uint64(art), 10)
		return dirKey{TradSpool, g}, len(n), nil
	}
	return dirKey{}, 0, noMethod(tok)
}

// dirPath returns the path of the directory key names, for opening it and
// for error messages.
func (s *Store) dirPath(tok Token, key dirKey) (string, error) {
	switch key.method {
	case TimeHash:
		x := key.id & 0xffff
		return s.articles + "/time-" + string(appendHex(nil, key.id>>16, 2)) + "/" +
			string(appendHex(nil, x>>8, 2)) + "/" + string(appendHex(nil, x&0xff, 2)), nil
	case TradSpool:
		dir, ok, err := s.trad.lookup(key.id)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", missing(tok.String(), "group number "+strconv.FormatUint(uint64(key.id), 10)+" not in "+s.trad.path)
		}
		return s.articles + "/" + dir, nil
	}
	return "", noMethod(tok)
}

// appendHex appends v as n lower-case hex digits.
func appendHex(dst []byte, v uint32, n int) []byte {
	const digits = "0123456789abcdef"
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, digits[(v>>(4*uint(i)))&0xf])
	}
	return dst
}

// openArticle opens the file of a whole-file token (timehash, tradspool)
// relative to its cached directory. A missing directory or file is an error
// wrapping ErrMissing.
func (s *Store) openArticle(tok Token) (int, error) {
	var name [24]byte
	key, n, err := s.articleDir(tok, &name)
	if err != nil {
		return -1, err
	}
	if s.dirs.isGone(key) {
		p, _ := s.dirPath(tok, key)
		return -1, missing(tok.String(), "no directory "+p)
	}
	for attempt := 0; ; attempt++ {
		e, err := s.dirs.get(key, func() (int, error) {
			p, err := s.dirPath(tok, key)
			if err != nil {
				return -1, err
			}
			fd, err := openDir(p)
			if err != nil {
				if isNotExist(err) {
					s.dirs.noteGone(key)
					return -1, missing(tok.String(), "no directory "+p)
				}
				return -1, &ReadError{Article: tok.String(), Path: p, Op: "open", Err: err}
			}
			return fd, nil
		})
		if err != nil {
			return -1, err
		}
		fd, err := openAt(e.fd, &name, n)
		if err == nil {
			s.dirs.release(e)
			return fd, nil
		}
		stale := time.Since(e.born) > dirRecheck
		s.dirs.release(e)
		if isNotExist(err) && attempt == 0 && stale {
			// The cached directory may have been removed and made again
			// (tradspool groups, a cleaned timehash tree): look once more
			// through a fresh handle before calling the article missing.
			s.dirs.forget(e)
			continue
		}
		p, _ := s.dirPath(tok, key)
		p += "/" + string(name[:n])
		if isNotExist(err) {
			return -1, missing(tok.String(), "no file "+p)
		}
		return -1, &ReadError{Article: tok.String(), Path: p, Op: "open", Err: err}
	}
}
