package spoolfmt

import (
	"errors"
	"io"
	"syscall"
)

// Head returns the beginning of the article tok names, in wire format: at most limit
// bytes, the whole article when it is smaller. size is the article's whole size in wire
// format, or -1 when only reading it all would tell (a tradspool file in native format).
// It is for readers of headers (nxmit scan): for timehash, one open, fstat, pread and
// close, fewer system calls than Open and fewer bytes than Retrieve on a large article.
// The end of the article is not checked. Errors are Retrieve's: a missing article wraps
// ErrMissing.
func (s *Store) Head(tok Token, buf []byte, limit int) (head []byte, size int64, err error) {
	if tok.Method() == TimeHash {
		return s.headFile(tok.String(), s.timehashPath(tok), buf, limit)
	}
	r, err := s.Open(tok)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	head = grow(buf, limit)
	n, err := io.ReadFull(r, head)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	if err != nil {
		return nil, 0, err
	}
	size = r.Size()
	if size < 0 && n < limit {
		size = int64(n) // read to the end: the whole article
	}
	return head[:n], size, nil
}

// headFile is Head for a whole-file wire-format article.
func (s *Store) headFile(article, path string, buf []byte, limit int) ([]byte, int64, error) {
	fd, err := openRead(path)
	if err != nil {
		if isNotExist(err) {
			return nil, 0, missing(article, "no file "+path)
		}
		return nil, 0, &ReadError{Article: article, Path: path, Op: "open", Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fstatFD(fd, &st); err != nil {
		return nil, 0, &ReadError{Article: article, Path: path, Op: "stat", Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, 0, &ReadError{Article: article, Path: path, Op: "read", Err: errors.New("not a regular file")}
	}
	head := grow(buf, int(min(int64(limit), st.Size)))
	if err := preadFull(fd, head, 0); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = errors.New("file shrank while read")
		}
		return nil, 0, &ReadError{Article: article, Path: path, Op: "read", Err: err}
	}
	return head, st.Size, nil
}
