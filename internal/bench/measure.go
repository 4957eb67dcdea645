// Package bench holds the pieces of nxmit's benchmark driver (internal/cmd/benchrun)
// that are worth testing on their own: measuring a child process through wait4's rusage,
// parsing innxmit's statistics lines (which nxmit prints too), and reducing repeated runs
// to medians and ratios in a Markdown table.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TimeProgram is GNU time (Debian package "time"). Measure runs programs under it when it
// exists, for their peak RSS: Go starts children with clone(CLONE_VM|CLONE_VFORK), and
// the kernel then charges the parent's peak RSS to the child at exec, so wait4's
// ru_maxrss of a child of a big Go process is the parent's, not the child's. GNU time
// fork()s from its own small image and reports its child's own figure.
var TimeProgram = "/usr/bin/time"

// Usage is what the kernel reports about one finished child process.
type Usage struct {
	Wall      time.Duration // from Start to the end of Wait
	User, Sys time.Duration // CPU time of the process (and of its waited-for children)
	MaxRSSKiB int64         // peak resident set size, in KiB (Linux ru_maxrss)
	ExitCode  int
	// RSSExact is false when MaxRSSKiB comes from this process's own wait4 (no
	// TimeProgram): then it is at least this process's own peak RSS.
	RSSExact bool
}

// CPU returns user plus system time.
func (u Usage) CPU() time.Duration { return u.User + u.Sys }

// Output is a finished child's usage with what it printed.
type Output struct {
	Usage
	Stdout, Stderr []byte
}

// Combined returns stdout followed by stderr, for parsing lines wherever they went.
func (o Output) Combined() []byte {
	b := make([]byte, 0, len(o.Stdout)+len(o.Stderr)+1)
	b = append(b, o.Stdout...)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(b, o.Stderr...)
}

// Measure runs cmd to completion and returns its resource usage from wait4. A non-zero
// exit is not an error here: the caller decides (innxmit exits 1 after a partial batch);
// the error is for a program that could not be started or was killed by ctx. cmd's Stdout
// and Stderr are captured into the Output unless the caller set them.
func Measure(ctx context.Context, cmd *exec.Cmd) (Output, error) {
	var out Output
	if cmd.Err != nil {
		return out, cmd.Err
	}
	rssFile := ""
	if _, err := os.Stat(TimeProgram); err == nil {
		f, err := os.CreateTemp("", "bench-rss-")
		if err != nil {
			return out, err
		}
		rssFile = f.Name()
		f.Close()
		defer os.Remove(rssFile)
		cmd.Args = append([]string{TimeProgram, "-f", "%M", "-o", rssFile, cmd.Path}, cmd.Args[1:]...)
		cmd.Path = TimeProgram
	}
	// A process group of its own, so that a kill reaches the program under the wrapper.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	var stdout, stderr bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	if cmd.WaitDelay == 0 {
		// After a kill, a grandchild holding the output pipes must not keep Wait waiting.
		cmd.WaitDelay = 2 * time.Second
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return out, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	// A hung program must not hang the whole benchmark: kill it when ctx ends.
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	out.Wall = time.Since(start)
	out.Stdout, out.Stderr = stdout.Bytes(), stderr.Bytes()
	if cmd.ProcessState == nil {
		return out, fmt.Errorf("wait %s: %w", cmd.Path, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		out.User = time.Duration(ru.Utime.Nano())
		out.Sys = time.Duration(ru.Stime.Nano())
		out.MaxRSSKiB = ru.Maxrss
	}
	out.ExitCode = cmd.ProcessState.ExitCode()
	if rssFile != "" && ctx.Err() == nil {
		kib, err := readTimeRSS(rssFile)
		if err != nil {
			return out, fmt.Errorf("%s: %w", TimeProgram, err)
		}
		out.MaxRSSKiB, out.RSSExact = kib, true
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s: %w", cmd.Path, ctx.Err())
	}
	if out.ExitCode < 0 {
		return out, fmt.Errorf("%s: %v", cmd.Path, cmd.ProcessState)
	}
	return out, nil
}

// readTimeRSS reads the "%M" figure GNU time wrote: the last line (a line before it says
// "Command exited with non-zero status N" when the program failed).
func readTimeRSS(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	n, err := strconv.ParseInt(last, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("peak RSS: unexpected output %q", b)
	}
	return n, nil
}
