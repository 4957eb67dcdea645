//go:build !linux

package nntp

import (
	"errors"
	"syscall"
)

// sendfileSupported is false where sendfile(2)'s semantics differ: articles are
// copied.
const sendfileSupported = false

var errShrank = errors.New("article file shrank while sent")

func sendfile(out, in int, off *int64, n int) (int, error) { return 0, syscall.ENOSYS }
