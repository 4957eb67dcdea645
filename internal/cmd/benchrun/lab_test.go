package main

import (
	"os"
	"testing"
	"time"
)

// procCPU reads a process's CPU time from /proc: this process's grows as it works, and
// a process that is gone reads as 0.
func TestProcCPU(t *testing.T) {
	before := procCPU(os.Getpid())
	for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
	}
	if d := procCPU(os.Getpid()) - before; d < 30*time.Millisecond {
		t.Errorf("100 ms of work read as %v of CPU", d)
	}
	if d := procCPU(1 << 30); d != 0 {
		t.Errorf("a process that does not exist: %v", d)
	}
}
