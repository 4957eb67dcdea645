package spoolfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// CNFS layout constants (inn-formats.md §1.7, LP64 little-endian).
const (
	cnfsHeaderSize   = 208
	cnfsBitmapOffset = 512   // CNFS_BEFOREBITF
	cnfsHdrPage      = 16384 // CNFS_HDR_PAGESIZE
	cnfsArtHdrSize   = 24    // sizeof(CNFSARTHEADER) on LP64
)

// cnfsRefresh is how old the buffer's free pointer and cycle number may be
// before they are read again. INN's readers use refreshinterval (30 s);
// reading 208 bytes once a second is cheap and narrows the window in
// which an overwritten article still looks present.
const cnfsRefresh = time.Second

// cnfsBuffers is the lazily loaded set of cyclic buffers.
type cnfsBuffers struct {
	store    *Store
	confPath string
	mu       sync.Mutex // serialises loading
	set      atomic.Pointer[cnfsSet]
	closed   bool
	// pins counts the articles being sent from the buffers' descriptors
	// (Opened.pinned): close leaves the buffers open until it is 0 again,
	// so that a descriptor is never closed, and perhaps reused, under a
	// sendfile. Guarded by mu.
	pins    int
	closing *cnfsSet // closed while pinned: closed by the last unpin
}

type cnfsSet struct {
	conf *CycbuffConf
	bufs map[string]*cycbuff
}

// cycbuff is one open buffer.
type cycbuff struct {
	name    string
	path    string
	f       *os.File
	err     error // opening or checking the buffer failed
	size    int64
	blksz   int64
	minOff  int64
	version int

	mu   sync.Mutex // serialises header re-reads
	head atomic.Pointer[cnfsHead]
}

// cnfsHead is the changing part of a buffer header.
type cnfsHead struct {
	free  int64
	cycle uint32
	read  time.Time
}

// cnfsLoc is where a present article lies.
type cnfsLoc struct {
	b       *cycbuff
	off     int64 // of the article header
	size    int64 // of the article
	arrival uint32
	cycle   uint32
	block   uint32
}

// load returns the buffer set, reading cycbuff.conf and opening the
// buffers on first use. A failure is not remembered: the next token tries
// again, so a fixed permission or file takes effect without a restart.
func (c *cnfsBuffers) load(tok Token) (*cnfsSet, error) {
	if set := c.set.Load(); set != nil {
		return set, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if set := c.set.Load(); set != nil {
		return set, nil
	}
	if c.closed {
		return nil, &ReadError{Article: tok.String(), Path: c.confPath, Op: "open", Err: os.ErrClosed}
	}
	f, err := os.Open(c.confPath)
	if err != nil {
		return nil, &ReadError{Article: tok.String(), Path: c.confPath, Op: "open", Err: unwrapPathError(err)}
	}
	conf, err := ParseCycbuffConf(f, c.confPath)
	f.Close()
	if err != nil {
		return nil, &ReadError{Article: tok.String(), Path: c.confPath, Op: "parse", Err: err}
	}
	set := &cnfsSet{conf: conf, bufs: make(map[string]*cycbuff, len(conf.Buffers))}
	for _, cb := range conf.Buffers {
		set.bufs[cb.Name] = openCycbuff(cb)
	}
	c.set.Store(set)
	return set, nil
}

// pin keeps the buffers open until unpin; false once closed.
func (c *cnfsBuffers) pin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.pins++
	return true
}

func (c *cnfsBuffers) unpin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pins--
	if c.pins == 0 && c.closing != nil {
		closeSet(c.closing)
		c.closing = nil
	}
}

func (c *cnfsBuffers) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	set := c.set.Swap(nil)
	if set == nil {
		return nil
	}
	if c.pins > 0 {
		c.closing = set
		return nil
	}
	return closeSet(set)
}

func closeSet(set *cnfsSet) error {
	var first error
	for _, b := range set.bufs {
		if b.f != nil {
			if err := b.f.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func openCycbuff(cb Cycbuff) *cycbuff {
	b := &cycbuff{name: cb.Name, path: cb.Path, size: cb.Size}
	f, err := os.Open(cb.Path)
	if err != nil {
		b.err = unwrapPathError(err)
		return b
	}
	b.f = f
	h, err := b.readHeader()
	if err != nil {
		b.err = err
		return b
	}
	b.head.Store(h)
	return b
}

// hexField parses a header number: hex digits up to the first other byte.
func hexField(p []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(p); i++ {
		c := p[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return n, i > 0
		}
		n = n<<4 | int64(d)
	}
	return n, i > 0
}

func cstr(p []byte) string {
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return string(p)
}

// readHeader reads the buffer header, checking it against cycbuff.conf the
// first time (when blksz is still 0).
func (b *cycbuff) readHeader() (*cnfsHead, error) {
	var h [cnfsHeaderSize]byte
	if _, err := b.f.ReadAt(h[:], 0); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: buffer shorter than its %d-byte header", ErrCorrupt, cnfsHeaderSize)
		}
		return nil, err
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	version := 0
	switch cstr(h[0:8]) {
	case "CBuf4":
		version = 4
	case "CBuf3":
		version = 3
	default:
		return nil, corrupt("bad magic %q (not an initialised CNFS v3/v4 buffer)", cstr(h[0:8]))
	}
	if name := cstr(h[8:24]); name != b.name {
		return nil, corrupt("header names buffer %q, cycbuff.conf %q", name, b.name)
	}
	length, ok1 := hexField(h[88:104])
	free, ok2 := hexField(h[104:120])
	cycle, ok3 := hexField(h[136:152])
	if !ok1 || !ok2 || !ok3 {
		return nil, corrupt("unreadable length, free or cycle field")
	}
	if b.blksz == 0 {
		if length != b.size {
			return nil, corrupt("header length %d, cycbuff.conf size %d", length, b.size)
		}
		blksz := int64(512)
		if version == 4 {
			var ok bool
			if blksz, ok = hexField(h[192:208]); !ok {
				return nil, corrupt("unreadable block size")
			}
		}
		if blksz < 512 || blksz > 16384 || blksz%2 != 0 {
			return nil, corrupt("block size %d", blksz)
		}
		b.version, b.blksz = version, blksz
		m := b.size/(blksz*8) + cnfsBitmapOffset
		b.minOff = m + cnfsHdrPage - m%cnfsHdrPage
	}
	return &cnfsHead{free: free, cycle: uint32(cycle), read: time.Now()}, nil
}

// current returns the header state, re-reading it when stale or when the
// token is from the cycle after the one last seen.
func (b *cycbuff) current(cycle uint32) (*cnfsHead, error) {
	h := b.head.Load()
	if h != nil && time.Since(h.read) < cnfsRefresh && cycle != nextCycle(h.cycle, b.version) {
		return h, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if h2 := b.head.Load(); h2 != h && h2 != nil && time.Since(h2.read) < cnfsRefresh && cycle != nextCycle(h2.cycle, b.version) {
		return h2, nil
	}
	h, err := b.readHeader()
	if err != nil {
		return nil, err
	}
	b.head.Store(h)
	return h, nil
}

// mayBeHere is CNFSArtMayBeHere's cycle test, quirks included, with one
// addition: a token from the cycle after the header's is taken as present.
// innd writes the header only every cycbuffupdate articles, so just after
// a wrap the header on disk still shows the old cycle; INN's readers call
// such fresh articles overwritten, but a token cannot come from a cycle
// that has not started, so they can only be new.
func mayBeHere(h *cnfsHead, version int, cycle uint32, off int64) bool {
	switch {
	case cycle == h.cycle, cycle == nextCycle(h.cycle, version):
		return true
	case cycle == h.cycle-1 && off >= h.free:
		return true
	case cycle == 0xFFFFFFFF && h.cycle == 2 && off > h.free:
		return true
	}
	return false
}

// nextCycle is the cycle number after c: v4 buffers wrap when the low 24
// bits reach 0, v3 buffers at 2^32, both to 2.
func nextCycle(c uint32, version int) uint32 {
	n := c + 1
	if n == 0 || version == 4 && n&0xFFFFFF == 0 {
		return 2
	}
	return n
}

// inUse reads the usage bit of block.
func (b *cycbuff) inUse(block uint32) (bool, error) {
	var w [8]byte
	if _, err := b.f.ReadAt(w[:], cnfsBitmapOffset+8*int64(block/64)); err != nil {
		return false, err
	}
	return binary.LittleEndian.Uint64(w[:])&(1<<(63-block%64)) != 0, nil
}

// locate runs INN's checks for tok and reads the article header.
func (c *cnfsBuffers) locate(tok Token) (cnfsLoc, error) {
	art := tok.String()
	set, err := c.load(tok)
	if err != nil {
		return cnfsLoc{}, err
	}
	name, block, cycle := tok.cnfs()
	b := set.bufs[name]
	if b == nil {
		return cnfsLoc{}, missing(art, "unknown cycbuff "+strconv.Quote(name))
	}
	if b.err != nil {
		return cnfsLoc{}, &ReadError{Article: art, Path: b.path, Op: "open", Err: b.err}
	}
	rerr := func(op string, err error) error {
		if err == io.EOF {
			err = fmt.Errorf("%w: read past the end of the buffer", ErrCorrupt)
		}
		return &ReadError{Article: art, Path: b.path, Op: op, Err: unwrapPathError(err)}
	}
	h, err := b.current(cycle)
	if err != nil {
		return cnfsLoc{}, rerr("header", err)
	}
	off := int64(block) * b.blksz
	if !mayBeHere(h, b.version, cycle, off) {
		return cnfsLoc{}, missing(art, fmt.Sprintf("overwritten (cycle %d, buffer %s now in cycle %d)", cycle, name, h.cycle))
	}
	if off < b.minOff || off+cnfsArtHdrSize > b.size {
		return cnfsLoc{}, missing(art, fmt.Sprintf("block %d outside the data area of %s", block, name))
	}
	used, err := b.inUse(block)
	if err != nil {
		return cnfsLoc{}, rerr("bitmap", err)
	}
	if !used {
		return cnfsLoc{}, missing(art, "cancelled or expired (block not in use)")
	}
	var ah [cnfsArtHdrSize]byte
	if _, err := b.f.ReadAt(ah[:], off); err != nil {
		return cnfsLoc{}, rerr("read", err)
	}
	loc := cnfsLoc{b: b, off: off, cycle: cycle, block: block,
		size:    int64(binary.BigEndian.Uint32(ah[0:4])),
		arrival: binary.BigEndian.Uint32(ah[8:12])}
	if err := c.checkSize(loc); err != nil {
		return cnfsLoc{}, rerr("read", err)
	}
	return loc, nil
}

func (c *cnfsBuffers) checkSize(loc cnfsLoc) error {
	if loc.off > loc.b.size-loc.b.blksz-loc.size-1 {
		return fmt.Errorf("%w: article header at %d gives size %d, past the end of the buffer", ErrCorrupt, loc.off, loc.size)
	}
	conf := c.store.conf
	if conf.CNFSCheckFudgeSize != 0 && conf.MaxArtSize != 0 && loc.size > conf.MaxArtSize+conf.CNFSCheckFudgeSize {
		return fmt.Errorf("%w: article header at %d gives size %d, over maxartsize+cnfscheckfudgesize", ErrCorrupt, loc.off, loc.size)
	}
	if loc.size > c.store.maxSize {
		return fmt.Errorf("%w: article header at %d gives size %d", ErrCorrupt, loc.off, loc.size)
	}
	return nil
}

func (c *cnfsBuffers) retrieve(tok Token, buf []byte) ([]byte, error) {
	loc, err := c.locate(tok)
	if err != nil {
		return nil, err
	}
	out := grow(buf, int(loc.size))
	if _, err := loc.b.f.ReadAt(out, loc.off+cnfsArtHdrSize); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: article runs past the end of the buffer", ErrCorrupt)
		}
		return nil, &ReadError{Article: tok.String(), Path: loc.b.path, Op: "read", Err: unwrapPathError(err)}
	}
	if !validWire(out) {
		// innd may have wrapped over the article while it was read; if the
		// block is no longer ours, it is simply gone.
		if _, err := c.locateFresh(tok, loc); errors.Is(err, ErrMissing) {
			return nil, err
		}
		return nil, &ReadError{Article: tok.String(), Path: loc.b.path, Op: "read",
			Err: fmt.Errorf("%w: article at offset %d (%d bytes) does not end in CRLF.CRLF", ErrCorrupt, loc.off, loc.size)}
	}
	return out, nil
}

// locateFresh repeats locate with a header read now.
func (c *cnfsBuffers) locateFresh(tok Token, loc cnfsLoc) (cnfsLoc, error) {
	loc.b.mu.Lock()
	if h, err := loc.b.readHeader(); err == nil {
		loc.b.head.Store(h)
	}
	loc.b.mu.Unlock()
	return c.locate(tok)
}
