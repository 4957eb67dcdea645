//go:build !linux

package batch

import "errors"

func renameat2NoReplace(oldpath, newpath string) error { return errors.ErrUnsupported }
