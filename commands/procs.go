package commands

import (
	"os"
	"runtime"
)

// feedProcs lets the commands that feed peers (send, run, innxmit) run Go code on one
// processor, unless the environment sets GOMAXPROCS. Their work is system calls (an
// open, a read and a close per article, socket writes), which block threads of their
// own whatever the setting. With more processors the runtime hands each connection's
// reader and writer goroutines between threads (futex wake-ups, idle threads spinning
// for work): 5–15 % more CPU per article on a 2-core machine sending to a null sink,
// taken from innd and the rest of the news server, for no gain in rate
// (docs/BENCHMARKS.md). One processor still moves some 100,000 small articles a second.
func feedProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}
