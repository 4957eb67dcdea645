//go:build !linux

package batch

import "time"

// birthTime is not available here: the age rule of rotation always holds.
func birthTime(path string) (time.Time, bool) { return time.Time{}, false }

// checkWritable leaves the check to the first file operation.
func checkWritable(dir string) error { return nil }
