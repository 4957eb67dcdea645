//go:build unix

package batch

import "syscall"

// signalable reports whether pid names a live process (kill(pid, 0) as shlock does;
// EPERM means it runs under another user).
func signalable(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
