package batch

import (
	"os"
	"sync/atomic"
)

// OpKind says what a FileOp did.
type OpKind uint8

// Kinds of FileOp.
const (
	OpWrite OpKind = iota + 1 // bytes written (appended, or in place at Off)
	OpSync                    // fsync: everything written to the file before is durable
)

// A FileOp is one write or fsync of a queue file, as seen by an OpsHook.
type FileOp struct {
	Kind OpKind
	Path string
	Off  int64  // for an in-place write (a blank); -1 for an append
	Data []byte // the bytes written; valid only during the call
}

// An OpsHook observes the writes and fsyncs of backlogs and S.defer, in the order they
// happen, for tests of crash ordering (what is durable when the power fails). It is
// called after the operation succeeded, and must be quick and safe for concurrent use.
type OpsHook func(FileOp)

var opsHook atomic.Pointer[OpsHook]

// SetOpsHook installs h (nil removes it) and returns a function restoring the previous
// hook. It is for tests.
func SetOpsHook(h OpsHook) (restore func()) {
	var p *OpsHook
	if h != nil {
		p = &h
	}
	old := opsHook.Swap(p)
	return func() { opsHook.Store(old) }
}

func observe(kind OpKind, f *os.File, off int64, data []byte) {
	if h := opsHook.Load(); h != nil {
		(*h)(FileOp{Kind: kind, Path: f.Name(), Off: off, Data: data})
	}
}
