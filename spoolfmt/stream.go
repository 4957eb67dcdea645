package spoolfmt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ArticleReader streams one article in wire format without holding it in
// memory whole: for very large articles, where Retrieve's single copy into
// a buffer is still a copy too many. It is not safe for concurrent use;
// several readers of one Store may be used concurrently.
type ArticleReader struct {
	article string
	path    string
	src     io.ReaderAt // wire or native bytes
	off     int64       // start of the article in src
	size    int64       // bytes of src that belong to the article
	pos     int64       // next byte of src to read, relative to off
	native  bool
	conv    nativeToWire
	out     []byte // conversion buffer (native only)
	pending []byte // converted bytes not yet returned, in out
	done    bool   // native: terminator appended
	scratch *[]byte
	closeFn func() error
	closed  bool
}

// Open returns a reader of the article tok names, in wire format. Errors
// are those of Retrieve: missing articles wrap ErrMissing. A wire-format
// article is checked to end in CRLF.CRLF before any byte is returned.
func (s *Store) Open(tok Token) (*ArticleReader, error) {
	art := tok.String()
	switch tok.Method() {
	case TimeHash:
		return s.openFile(art, s.timehashPath(tok), false)
	case TradSpool:
		p, err := s.tradspoolPath(tok)
		if err != nil {
			return nil, err
		}
		return s.openFile(art, p, true)
	case CNFS:
		loc, err := s.cnfs.locate(tok)
		if err != nil {
			return nil, err
		}
		r := &ArticleReader{article: art, path: loc.b.path, src: loc.b.f, off: loc.off + cnfsArtHdrSize, size: loc.size}
		return r, r.checkEnd()
	case TimeCAF:
		loc, err := s.cafLocate(tok)
		if err != nil {
			return nil, err
		}
		r := &ArticleReader{article: art, path: loc.cf.path, src: loc.cf.f, off: loc.off, size: loc.size,
			closeFn: func() error { s.caf.release(loc.cf); return nil }}
		if err := r.checkEnd(); err != nil {
			r.Close()
			return nil, err
		}
		return r, nil
	}
	return nil, noMethod(tok)
}

// OpenFile is Open for an article file, like RetrieveFile.
func (s *Store) OpenFile(path string) (*ArticleReader, error) {
	p, err := s.ArticlePath(path)
	if err != nil {
		return nil, err
	}
	return s.openFile(path, p, true)
}

func (s *Store) openFile(article, path string, native bool) (*ArticleReader, error) {
	// A raw open and os.NewFile: os.Open would try to register the file with the
	// poller (two fcntl and an epoll_ctl per article, a third of a 2 KB article's cost).
	fd, err := openRead(path)
	var f *os.File
	if err == nil {
		f = os.NewFile(uintptr(fd), path)
	} else {
		err = &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err != nil {
		if isNotExist(err) {
			return nil, missing(article, "no file "+path)
		}
		return nil, &ReadError{Article: article, Path: path, Op: "open", Err: unwrapPathError(err)}
	}
	r := &ArticleReader{article: article, path: path, src: f, closeFn: f.Close}
	fail := func(err error) (*ArticleReader, error) { r.Close(); return nil, err }
	fi, err := f.Stat()
	if err != nil {
		return fail(&ReadError{Article: article, Path: path, Op: "stat", Err: unwrapPathError(err)})
	}
	if !fi.Mode().IsRegular() {
		return fail(&ReadError{Article: article, Path: path, Op: "read", Err: errors.New("not a regular file")})
	}
	r.size = fi.Size()
	if native {
		var head [512]byte
		n, err := f.ReadAt(head[:min(int64(len(head)), r.size)], 0)
		if err != nil && err != io.EOF {
			return fail(&ReadError{Article: article, Path: path, Op: "read", Err: unwrapPathError(err)})
		}
		wire, ok := IsWireFormat(head[:n])
		if !ok && n == len(head) {
			// The first line is longer than the sample: look further.
			var sample []byte
			if sample, err = s.readFile(article, path, nil, true); err != nil {
				return fail(err)
			}
			wire, ok = IsWireFormat(sample)
		}
		if !ok {
			return fail(&ReadError{Article: article, Path: path, Op: "read", Err: fmt.Errorf("%w: no line end in the first line", ErrCorrupt)})
		}
		r.native = !wire
	}
	if !r.native {
		if err := r.checkEnd(); err != nil {
			return fail(err)
		}
	}
	return r, nil
}

// checkEnd verifies that a wire-format article ends in CRLF.CRLF, so that a
// damaged one is refused before part of it has been sent.
func (r *ArticleReader) checkEnd() error {
	var tail [5]byte
	if r.size < int64(len(tail)) {
		return &ReadError{Article: r.article, Path: r.path, Op: "read", Err: fmt.Errorf("%w: %d-byte article", ErrCorrupt, r.size)}
	}
	if _, err := r.src.ReadAt(tail[:], r.off+r.size-5); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: article runs past the end of the file", ErrCorrupt)
		}
		return &ReadError{Article: r.article, Path: r.path, Op: "read", Err: unwrapPathError(err)}
	}
	if string(tail[:]) != string(wireEnd) {
		return &ReadError{Article: r.article, Path: r.path, Op: "read", Err: fmt.Errorf("%w: does not end in CRLF.CRLF", ErrCorrupt)}
	}
	return nil
}

// Size returns the article's size in wire format, or -1 when it is only
// known once read (a native-format file converted on the fly).
func (r *ArticleReader) Size() int64 {
	if r.native {
		return -1
	}
	return r.size
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunk); return &b }}

// Read reads the next bytes of the article in wire format.
func (r *ArticleReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	if !r.native {
		if r.pos >= r.size {
			return 0, io.EOF
		}
		n, err := r.src.ReadAt(p[:min(int64(len(p)), r.size-r.pos)], r.off+r.pos)
		r.pos += int64(n)
		if err == io.EOF {
			if r.pos < r.size {
				return n, r.readErr(fmt.Errorf("file shrank while read (%d bytes expected)", r.size))
			}
			err = nil
		} else if err != nil {
			return n, r.readErr(err)
		}
		return n, nil
	}
	for len(r.pending) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// fill converts the next chunk of a native file.
func (r *ArticleReader) fill() error {
	if r.scratch == nil {
		r.scratch = chunkPool.Get().(*[]byte)
	}
	if r.pos >= r.size {
		r.out = r.conv.finish(r.out[:0])
		r.pending = r.out
		r.done = true
		return nil
	}
	// The conversion buffer grows to at most about twice a chunk.
	in := (*r.scratch)[:min(int64(chunk), r.size-r.pos)]
	n, err := r.src.ReadAt(in, r.off+r.pos)
	if err != nil && err != io.EOF {
		return r.readErr(err)
	}
	if n == 0 {
		return r.readErr(fmt.Errorf("file shrank while read (%d bytes expected)", r.size))
	}
	r.pos += int64(n)
	r.out = r.conv.append(r.out[:0], in[:n])
	r.pending = r.out
	return nil
}

func (r *ArticleReader) readErr(err error) error {
	return &ReadError{Article: r.article, Path: r.path, Op: "read", Err: unwrapPathError(err)}
}

// WriteTo writes the rest of the article to w.
func (r *ArticleReader) WriteTo(w io.Writer) (int64, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	var total int64
	for {
		n, err := r.Read(*bp)
		if n > 0 {
			m, werr := w.Write((*bp)[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close releases the file the reader uses.
func (r *ArticleReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.scratch != nil {
		chunkPool.Put(r.scratch)
		r.scratch = nil
	}
	r.pending, r.out = nil, nil
	if r.closeFn != nil {
		return r.closeFn()
	}
	return nil
}
