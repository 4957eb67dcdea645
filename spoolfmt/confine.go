package spoolfmt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutsideSpool is wrapped by the error for an article path that names a file outside
// patharticles. Such a line is malformed, never read: whoever can write a queue file (news)
// must not be able to make a run as root send, say, root's mailbox to a peer.
var ErrOutsideSpool = errors.New("article path outside patharticles")

// ArticlePath returns the file a batch line's path names: a relative path is taken against
// patharticles, and the result, symbolic links resolved, must lie inside patharticles
// (itself resolved when the Store was opened). Anything else gives an error wrapping
// ErrOutsideSpool. A path that does not exist gives a MissingError when it lies inside
// patharticles as written (nothing is opened: a file appearing later behind a link is not
// read), else ErrOutsideSpool.
func (s *Store) ArticlePath(path string) (string, error) {
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.articles, p)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	switch {
	case err == nil:
		if !within(real, s.articlesReal) {
			return "", fmt.Errorf("%w: %s resolves to %s", ErrOutsideSpool, path, real)
		}
		return real, nil
	case !within(p, s.articles) && !within(p, s.articlesReal):
		return "", fmt.Errorf("%w: %s", ErrOutsideSpool, path)
	case errors.Is(err, os.ErrNotExist):
		return "", missing(path, "no file "+p)
	}
	return "", &ReadError{Article: path, Path: p, Op: "resolve", Err: unwrapPathError(err)}
}

// within reports whether path (clean, absolute) is dir or below it.
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	if dir == "/" {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}
