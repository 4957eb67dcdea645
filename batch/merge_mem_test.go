package batch

import "runtime"

type runtimeMem struct{ heap uint64 }

func readRuntimeMem(m *runtimeMem) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heap = ms.HeapAlloc
}
