package commands

import (
	"bytes"
	"strings"
	"testing"
)

// A stopped pass leaves the bar where it stopped, not at 100%.
func TestProgressStopKeepsPosition(t *testing.T) {
	var out bytes.Buffer
	oldOut, oldCheck := progressOut, terminalCheck
	progressOut, terminalCheck = &out, func() bool { return true }
	defer func() { progressOut, terminalCheck = oldOut, oldCheck }()

	p := newCountProgress("send peer", 100, "art")
	p.add(40)
	p.stop()
	screen := out.String()
	if i := strings.LastIndex(screen, "\r"); i >= 0 {
		screen = screen[i:]
	}
	if !strings.Contains(screen, "40%") || strings.Contains(screen, "100%") {
		t.Errorf("last state %q, want the bar at 40%%", screen)
	}

	out.Reset()
	p = newCountProgress("send peer", 100, "art")
	p.add(40)
	p.finish()
	if !strings.Contains(out.String(), "100%") {
		t.Errorf("finish: %q, want 100%%", out.String())
	}
}
