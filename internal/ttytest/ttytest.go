// Package ttytest runs a program in a real terminal for tests, as a person would see
// it: a private tmux server gives the program a pseudo-terminal of a chosen size, and
// Screen captures what the terminal shows.
package ttytest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Terminal is a tmux session running one command.
type Terminal struct {
	t      testing.TB
	socket string // tmux -L name: a private server, not the user's
}

// Require skips the test when tmux is missing, or fails it when the environment
// variable CI is set (CI installs tmux).
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tmux is required in CI: %v", err)
		}
		t.Skipf("tmux not installed: %v", err)
	}
}

// Start runs command (a shell command line) in a new terminal of cols x rows and stops
// the tmux server when the test ends. The pane stays after the command exits, so its
// last screen can be read.
func Start(t testing.TB, cols, rows int, command string) *Terminal {
	t.Helper()
	Require(t)
	term := &Terminal{t: t, socket: fmt.Sprintf("ttytest-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { exec.Command("tmux", "-L", term.socket, "kill-server").Run() })
	// remain-on-exit keeps the pane, and its last screen, when the command exits.
	args := []string{"-L", term.socket, "-f", "/dev/null",
		"new-session", "-d", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows), "sh", "-c", command,
		";", "set-option", "-g", "remain-on-exit", "on"}
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return term
}

// Screen returns the visible text of the terminal, trailing spaces removed.
func (term *Terminal) Screen() string {
	out, err := exec.Command("tmux", "-L", term.socket, "capture-pane", "-p").CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux capture-pane: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// Watch captures the screen every interval until done reports true for a screen or
// timeout passes, and returns every distinct screen seen, in order.
func (term *Terminal) Watch(interval, timeout time.Duration, done func(screen string) bool) []string {
	var screens []string
	deadline := time.Now().Add(timeout)
	for {
		s := term.Screen()
		if len(screens) == 0 || screens[len(screens)-1] != s {
			screens = append(screens, s)
		}
		if done(s) || time.Now().After(deadline) {
			return screens
		}
		time.Sleep(interval)
	}
}

// SendKeys types keys into the terminal, in tmux's names ("C-c" is Ctrl-C).
func (term *Terminal) SendKeys(keys ...string) {
	term.t.Helper()
	args := append([]string{"-L", term.socket, "send-keys"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		term.t.Fatalf("tmux send-keys: %v\n%s", err, out)
	}
}
