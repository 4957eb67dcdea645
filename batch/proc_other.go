//go:build !unix

package batch

func signalable(pid int) bool { return pid > 0 }
