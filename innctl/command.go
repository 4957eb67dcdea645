package innctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SystemCtlinnd is where Debian links ctlinnd outside INN's pathbin.
const SystemCtlinnd = "/usr/sbin/ctlinnd"

// CtlinndPath returns the ctlinnd to run for an INN whose inn.conf sets
// pathbin: pathbin/ctlinnd when it is an executable file, else SystemCtlinnd.
func CtlinndPath(pathBin string) string {
	if pathBin != "" {
		p := filepath.Join(pathBin, "ctlinnd")
		if isExecutable(p) {
			return p
		}
	}
	return SystemCtlinnd
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Command flushes a site by running INN's ctlinnd as
// "ctlinnd -s -t SECONDS flush SITE", as nntpsend does.
type Command struct {
	// Path is the ctlinnd program; empty means SystemCtlinnd.
	Path string
	// Timeout bounds the wait for innd's reply (ctlinnd's -t, rounded up to
	// whole seconds); zero means DefaultTimeout. ctlinnd is killed if it has
	// not exited a few seconds after that.
	Timeout time.Duration
	// Env is ctlinnd's environment (nil: this process's). ctlinnd finds innd
	// through inn.conf, so for an INN other than the system's it must hold
	// INNCONF.
	Env []string
}

// killGrace is how long ctlinnd gets beyond its own -t before it is killed
// (a variable for tests).
var killGrace = 5 * time.Second

// maxOutput bounds what is kept of ctlinnd's output for messages.
const maxOutput = 4096

func (c Command) path() string {
	if c.Path == "" {
		return SystemCtlinnd
	}
	return c.Path
}

// Check reports whether the ctlinnd program exists and is executable, so
// that a caller can refuse to start work it could not finish.
func (c Command) Check() error {
	p := c.path()
	if _, err := exec.LookPath(p); err != nil {
		return fmt.Errorf("ctlinnd %s: %w", p, unwrapExec(err))
	}
	return nil
}

// unwrapExec turns exec's "exec: X: ..." into its cause for a shorter message.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// Flush runs ctlinnd to flush site. ctlinnd's "No such site" gives an error
// wrapping ErrNoSuchSite; a ctlinnd that cannot be started gives a plain
// (permanent) error; every other failure is a *FlushError holding ctlinnd's
// message.
func (c Command) Flush(ctx context.Context, site string) error {
	if err := checkSite(site); err != nil {
		return err
	}
	timeout := timeoutOrDefault(c.Timeout)
	secs := int64((timeout + time.Second - 1) / time.Second)
	limit := time.Duration(secs)*time.Second + killGrace
	runCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	cmd := exec.CommandContext(runCtx, c.path(), "-s", "-t", strconv.FormatInt(secs, 10), "flush", site)
	cmd.Env = c.Env
	cmd.WaitDelay = time.Second
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) && runCtx.Err() == nil {
		// Could not start: missing, not executable. Retrying will not help.
		return fmt.Errorf("ctlinnd flush %s: run %s: %w", site, c.path(), unwrapExec(err))
	}
	msg := tidyOutput(out.String())
	if strings.Contains(msg, "No such site") {
		return fmt.Errorf("ctlinnd flush %s: innd: %w", site, ErrNoSuchSite)
	}
	fe := &FlushError{Site: site, Via: "ctlinnd", Reason: msg}
	switch {
	case ctx.Err() != nil:
		fe.Reason, fe.Err = "interrupted", ctx.Err()
	case runCtx.Err() != nil:
		fe.Reason = fmt.Sprintf("ctlinnd did not finish within %s; killed", limit)
		fe.Err = runCtx.Err()
	case msg == "":
		fe.Reason = "ctlinnd failed without a message"
		fe.Err = err
	}
	return fe
}

// tidyOutput joins ctlinnd's output lines into one, without its "ctlinnd: "
// prefixes.
func tidyOutput(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "ctlinnd: "))
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
