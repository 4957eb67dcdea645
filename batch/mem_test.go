package batch

import "runtime"

type runtime_MemStats = runtime.MemStats

// readMem collects garbage first, so HeapAlloc is what is still referenced.
func readMem(ms *runtime.MemStats) {
	runtime.GC()
	runtime.ReadMemStats(ms)
}
