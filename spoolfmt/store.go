package spoolfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Store reads articles from an INN spool. It is safe for concurrent use by
// several goroutines: files that stay open (CNFS buffers, recently used CAF
// files) are read with pread, and no lock is held while reading.
type Store struct {
	conf     *InnConf
	articles string // patharticles, absolute
	// articlesReal is patharticles with symbolic links resolved: article paths of batch
	// lines must lead inside it (see ArticlePath).
	articlesReal string
	spool        string // pathspool, absolute
	etc          string // pathetc, absolute

	// maxSize bounds the size of one article; a larger file is refused
	// rather than read into memory.
	maxSize int64

	trad tradspoolMaps
	cnfs cnfsBuffers
	caf  *cafCache
	dirs dirCache

	// held counts the descriptors of Opened articles not read yet, bounded
	// by maxHeld.
	held atomic.Int64
}

// chunk is the unit of reading when an article is converted while read.
const chunk = 64 << 10

var scratchPool = sync.Pool{New: func() any { b := make([]byte, chunk); return &b }}

// OpenStore prepares to read the spool that conf describes. Relative paths
// in conf are taken against the current directory now, as INN would.
// patharticles must exist. The
// method-specific files (cycbuff.conf and the buffers, tradspool.map) are
// opened when a token first needs them, so a site using one method needs
// nothing of the others.
func OpenStore(conf *InnConf) (*Store, error) {
	if conf == nil {
		return nil, errors.New("spoolfmt: OpenStore: nil InnConf")
	}
	s := &Store{
		conf:     conf,
		articles: abs(conf.PathArticles),
		spool:    abs(conf.PathSpool),
		etc:      abs(conf.PathEtc),
		maxSize:  1 << 30,
	}
	if conf.MaxArtSize > 0 {
		s.maxSize = max(4*conf.MaxArtSize, 64<<20)
	}
	// Without patharticles every article would read as missing and be
	// dropped: a wrong INNCONF must fail loudly instead.
	fi, err := os.Stat(s.articles)
	if err != nil {
		return nil, fmt.Errorf("spoolfmt: patharticles: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("spoolfmt: patharticles %s: not a directory", s.articles)
	}
	if s.articlesReal, err = filepath.EvalSymlinks(s.articles); err != nil {
		return nil, fmt.Errorf("spoolfmt: patharticles: %w", err)
	}
	s.trad.path = filepath.Join(s.spool, "tradspool.map")
	s.cnfs.confPath = filepath.Join(s.etc, "cycbuff.conf")
	s.cnfs.store = s
	s.caf = newCAFCache(64)
	return s, nil
}

// Close closes the files the Store keeps open. Reads after Close fail.
func (s *Store) Close() error {
	s.dirs.close()
	err := s.cnfs.close()
	if e := s.caf.close(); err == nil {
		err = e
	}
	return err
}

// Retrieve returns the article tok names in wire format (CRLF line ends,
// dot-stuffed, ending in ".\r\n"), byte for byte what `sm -R` prints. It
// uses buf's storage when it is large enough (buf may be nil); the result
// is valid until buf is reused. An article that is gone returns an error
// wrapping ErrMissing; other failures are *ReadError.
func (s *Store) Retrieve(tok Token, buf []byte) ([]byte, error) {
	switch tok.Method() {
	case TimeHash, TradSpool:
		fd, err := s.openArticle(tok)
		if err != nil {
			return nil, err
		}
		defer syscall.Close(fd)
		return s.readFD(fd, source{s: s, tok: tok}, buf, tok.Method() == TradSpool, -1)
	case CNFS:
		return s.cnfs.retrieve(tok, buf)
	case TimeCAF:
		return s.cafRetrieve(tok, buf)
	}
	return nil, noMethod(tok)
}

func noMethod(tok Token) error {
	if tok.Method() == Trash {
		return missing(tok.String(), "trash token")
	}
	return missing(tok.String(), "unknown storage method "+tok.Method().String())
}

// RetrieveFile reads an article file, as innxmit does for batch lines that
// are not tokens. A relative path is taken against patharticles; a path
// leading outside patharticles is refused (ErrOutsideSpool, see
// ArticlePath). A file in native format (first line not ending in CRLF) is
// converted to wire format while it is read. A file that does not exist is
// missing.
func (s *Store) RetrieveFile(path string, buf []byte) ([]byte, error) {
	p, err := s.ArticlePath(path)
	if err != nil {
		return nil, err
	}
	return s.readFile(path, p, buf, true)
}

// FileExists reports whether the article file of a batch line that is not a token
// exists (a stat, the path taken as RetrieveFile takes it). A missing file gives false
// and a nil error; the error is for failures to find out.
func (s *Store) FileExists(path string) (bool, error) {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.articles, p)
	}
	_, err := os.Stat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return false, nil
	}
	return false, err
}

// Exists reports whether the article is in the spool, more cheaply than
// Retrieve: a stat for timehash and tradspool, the cycle and bitmap checks
// for CNFS, the table of contents for timecaf. A missing article gives
// false and a nil error; the error is for failures to find out.
func (s *Store) Exists(tok Token) (bool, error) {
	var err error
	switch tok.Method() {
	case TimeHash, TradSpool:
		var fd int
		if fd, err = s.openArticle(tok); err == nil {
			syscall.Close(fd)
		}
	case CNFS:
		_, err = s.cnfs.locate(tok)
	case TimeCAF:
		var loc cafLoc
		if loc, err = s.cafLocate(tok); err == nil {
			s.caf.release(loc.cf)
		}
	default:
		err = noMethod(tok)
	}
	if errors.Is(err, ErrMissing) {
		return false, nil
	}
	return err == nil, err
}

// Arrival returns when the article arrived in the spool: from the token for
// timehash and timecaf (timecaf rounds down to 256 s), from the article's
// header for CNFS, from the file's mtime for tradspool. ok is false when
// it cannot be known (missing article, unreadable spool).
func (s *Store) Arrival(tok Token) (t time.Time, ok bool) {
	switch tok.Method() {
	case TimeHash, TimeCAF:
		return tok.Arrival()
	case TradSpool:
		fi, err := s.fileInfo(tok)
		if err != nil {
			return time.Time{}, false
		}
		return fi.ModTime(), true
	case CNFS:
		loc, err := s.cnfs.locate(tok)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(int64(loc.arrival), 0), true
	}
	return time.Time{}, false
}

func (s *Store) fileInfo(tok Token) (fs.FileInfo, error) {
	var p string
	if tok.Method() == TimeHash {
		p = s.timehashPath(tok)
	} else {
		var err error
		if p, err = s.tradspoolPath(tok); err != nil {
			return nil, err
		}
	}
	fi, err := os.Stat(p)
	if err != nil {
		if isNotExist(err) {
			return nil, missing(tok.String(), "no file "+p)
		}
		return nil, &ReadError{Article: tok.String(), Path: p, Op: "stat", Err: unwrapPathError(err)}
	}
	return fi, nil
}

// Path returns the file that holds the article: the article file for
// timehash and tradspool, the CAF file for timecaf, the buffer for CNFS
// (like the file= of `sm -c`).
func (s *Store) Path(tok Token) (string, error) {
	switch tok.Method() {
	case TimeHash:
		return s.timehashPath(tok), nil
	case TradSpool:
		return s.tradspoolPath(tok)
	case TimeCAF:
		return s.cafPath(tok), nil
	case CNFS:
		name, _, _ := tok.cnfs()
		set, err := s.cnfs.load(tok)
		if err != nil {
			return "", err
		}
		if b := set.bufs[name]; b != nil {
			return b.path, nil
		}
		return "", missing(tok.String(), "unknown cycbuff "+strconv.Quote(name))
	}
	return "", noMethod(tok)
}

func (s *Store) timehashPath(tok Token) string {
	t, seq := tok.timehash()
	return fmt.Sprintf("%s/time-%02x/%02x/%02x/%04x-%02x%02x", s.articles, tok.Class(),
		(t>>16)&0xff, (t>>8)&0xff, seq, (t>>24)&0xff, t&0xff)
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// unwrapPathError drops the *PathError wrapper, whose op and path the
// ReadError already carries.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// grow returns buf resliced to n bytes, reallocating when too small.
func grow(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]byte, n)
}

var wireEnd = []byte("\r\n.\r\n")

// validWire checks the end of a stored wire-format article: anything else
// would desynchronise the NNTP stream it is written to.
func validWire(a []byte) bool { return bytes.HasSuffix(a, wireEnd) }

// readFile reads a whole-file article named by path (file paths of
// batch lines). With native allowed, a native-format file is converted while
// read.
func (s *Store) readFile(article, path string, buf []byte, native bool) ([]byte, error) {
	fd, err := openRead(path)
	if err != nil {
		if isNotExist(err) {
			return nil, missing(article, "no file "+path)
		}
		return nil, &ReadError{Article: article, Path: path, Op: "open", Err: err}
	}
	defer syscall.Close(fd)
	return s.readFD(fd, source{file: article, path: path}, buf, native, -1)
}

// source names what readFD reads, for its errors only: the strings are
// built when an error needs them, never for an article read whole.
type source struct {
	s    *Store
	tok  Token  // when file is ""
	file string // article as given (a batch line's path)
	path string // the file opened
}

func (src source) article() string {
	if src.file != "" {
		return src.file
	}
	return src.tok.String()
}

func (src source) filePath() string {
	if src.path != "" {
		return src.path
	}
	if src.tok.Method() == TimeHash {
		return src.s.timehashPath(src.tok)
	}
	p, _ := src.s.tradspoolPath(src.tok)
	return p
}

// probeMin is the least buffer a wire-format file of unknown size is read into at
// once: a read that does not fill it read the whole file, so no stat is needed.
const probeMin = 4 << 10

// readWhole reads a wire-format file of unknown size with one read of up to limit
// bytes into buf, when buf holds at least probeMin of them: ok when the read came
// back short (a regular file's read does only at its end) with a whole article.
// Anything else (a larger file, a device, a file still growing, not an article) is
// not ok, and the caller reads it again with a stat's checks.
func readWhole(fd int, buf []byte, limit int64) (art []byte, ok bool) {
	p := buf[:min(int64(cap(buf)), limit)]
	if len(p) < probeMin {
		return nil, false
	}
	n, err := syscall.Pread(fd, p, 0)
	if err != nil || n == len(p) || !validWire(p[:n]) {
		return nil, false
	}
	return p[:n], true
}

// readFD reads a whole-file article from fd, which it leaves open. With
// native allowed, a native-format file is converted while read. known is the
// file's size when a stat already saw it, else -1.
func (s *Store) readFD(fd int, src source, buf []byte, native bool, known int64) ([]byte, error) {
	fail := func(op string, err error) error {
		return &ReadError{Article: src.article(), Path: src.filePath(), Op: op, Err: err}
	}
	if known < 0 && !native {
		// One read instead of a stat and a read.
		if art, ok := readWhole(fd, buf, s.maxSize); ok {
			return art, nil
		}
	}
	var st syscall.Stat_t
	if known < 0 {
		if err := fstatFD(fd, &st); err != nil {
			return nil, fail("stat", err)
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return nil, fail("read", errors.New("not a regular file"))
		}
		known = st.Size
	}
	size := known
	if size > s.maxSize {
		return nil, fail("read", fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrCorrupt, size, s.maxSize))
	}
	rerr := func(err error) error {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("file shrank while read (%d bytes expected)", size)
		}
		return fail("read", err)
	}
	notWire := func() error {
		return fail("read", fmt.Errorf("%w: does not end in CRLF.CRLF", ErrCorrupt))
	}
	if !native {
		out := grow(buf, int(size))
		if err := preadFull(fd, out, 0); err != nil {
			return nil, rerr(err)
		}
		if !validWire(out) {
			return nil, notWire()
		}
		return out, nil
	}

	// Read the first chunk to tell wire from native format.
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	scratch := *sp
	n := int(min(int64(len(scratch)), size))
	if err := preadFull(fd, scratch[:n], 0); err != nil {
		return nil, rerr(err)
	}
	wire, ok := IsWireFormat(scratch[:n])
	if !ok {
		return nil, fail("read", fmt.Errorf("%w: no line end in the first %d bytes", ErrCorrupt, n))
	}
	if wire {
		out := grow(buf, int(size))
		copy(out, scratch[:n])
		if err := preadFull(fd, out[n:], int64(n)); err != nil {
			return nil, rerr(err)
		}
		if !validWire(out) {
			return nil, notWire()
		}
		return out, nil
	}
	// Native: converted chunk by chunk, so the text is copied once. About
	// one CR per 30 bytes of text, plus the terminator.
	out := buf[:0]
	if want := int(size + size/16 + 8); cap(out) < want {
		out = make([]byte, 0, want)
	}
	var conv nativeToWire
	out = conv.append(out, scratch[:n])
	for off := int64(n); off < size; off += int64(n) {
		n = int(min(int64(len(scratch)), size-off))
		if err := preadFull(fd, scratch[:n], off); err != nil {
			return nil, rerr(err)
		}
		out = conv.append(out, scratch[:n])
	}
	return conv.finish(out), nil
}
