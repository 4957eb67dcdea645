package nntp

import (
	"errors"
	"syscall"
)

const sendfileSupported = true

// errShrank is the error of a sendfile that found the file shorter than its size.
var errShrank = errors.New("article file shrank while sent")

// sendfile sends up to n bytes of in from *off to the socket out, advancing *off.
func sendfile(out, in int, off *int64, n int) (int, error) {
	return syscall.Sendfile(out, in, off, n)
}
