package commands

import (
	"runtime"
	"testing"
)

// The feeding commands run on one processor unless GOMAXPROCS says otherwise.
func TestFeedProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	tests := []struct {
		env  string
		want int
	}{
		{"", 1},
		{"3", 3}, // the runtime read it at start; feedProcs leaves it
	}
	for _, tt := range tests {
		t.Setenv("GOMAXPROCS", tt.env)
		runtime.GOMAXPROCS(3)
		feedProcs()
		if got := runtime.GOMAXPROCS(0); got != tt.want {
			t.Errorf("GOMAXPROCS=%q: %d processors, want %d", tt.env, got, tt.want)
		}
	}
}
