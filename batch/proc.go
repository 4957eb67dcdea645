package batch

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// Alive reports whether the holder's process still runs: a lock file naming a holder
// that is gone was left by a crash (stale). It cannot tell for another host's process.
func (h Holder) Alive() bool { return ProcessAlive(h.PID, h.Since) }

// ProcessAlive reports whether pid runs and, when since is known, started no later
// than since (else the pid was reused by another process).
func ProcessAlive(pid int, since time.Time) bool {
	if !signalable(pid) {
		return false
	}
	if since.IsZero() {
		return true
	}
	start, ok := procStart(pid)
	return !ok || !start.After(since.Add(2*time.Second))
}

// procStart returns when pid started, from /proc (Linux); ok is false elsewhere.
func procStart(pid int) (time.Time, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, false
	}
	// The command name (field 2) may contain spaces and parentheses; fields after
	// the last ')' are plain. starttime is field 22, in clock ticks since boot.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return time.Time{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, false
	}
	const hz = 100 // USER_HZ on every Linux architecture Go supports
	return boot.Add(time.Duration(ticks) * time.Second / hz), true
}

// bootTime returns when the machine booted, from /proc/stat (Linux).
func bootTime() (time.Time, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(n, 0), err == nil
		}
	}
	return time.Time{}, false
}

// ProcessCommand returns the command line of pid, from /proc (Linux), or "".
func ProcessCommand(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
}
