//go:build !linux

package xmit

import (
	"errors"
	"os"
)

// lockBatch needs Linux's open file description locks: a classic fcntl lock would be
// released when any other descriptor of the batch is closed.
func lockBatch(f *os.File) error {
	return errors.New("innxmit mode needs open file description locks (Linux)")
}
