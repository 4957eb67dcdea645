package spoolfmt

import (
	"errors"
	"strings"
)

// ErrMissing is wrapped by every error that means the article is not in
// the spool any more: expired, cancelled, overwritten in a cyclic buffer,
// or stored under another Message-ID. Callers drop such articles, as innxmit
// counts them "missing". Test with errors.Is(err, ErrMissing).
var ErrMissing = errors.New("article missing")

// MissingError says why an article is missing. It matches ErrMissing.
type MissingError struct {
	Article string // token text or file name as given
	Reason  string // e.g. "no such file", "overwritten (cycle 3, buffer at 5)"
}

// Error returns "article: article missing: reason".
func (e *MissingError) Error() string {
	return e.Article + ": article missing: " + e.Reason
}

// Is reports whether target is ErrMissing.
func (e *MissingError) Is(target error) bool { return target == ErrMissing }

func missing(article, reason string) error {
	return &MissingError{Article: article, Reason: reason}
}

// ReadError is a failure to read an article that is (or may be) present:
// permission denied, an I/O error, a corrupt buffer or CAF file. Callers
// keep such articles queued for a later try.
type ReadError struct {
	Article string // token text or file name as given
	Path    string // file that was being read, if any
	Op      string // "open", "read", "header", ...
	Err     error
}

// Error returns "article: op path: reason".
func (e *ReadError) Error() string {
	var b strings.Builder
	b.WriteString(e.Article)
	b.WriteString(": ")
	b.WriteString(e.Op)
	if e.Path != "" && e.Path != e.Article {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ReadError) Unwrap() error { return e.Err }

// ErrCorrupt is wrapped by a ReadError when a spool file's contents are
// inconsistent (bad magic, impossible sizes, an article not in wire format).
var ErrCorrupt = errors.New("corrupt spool data")
