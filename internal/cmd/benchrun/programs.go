package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"nxmit/internal/bench"
)

// Programs compared, for -programs.
var allPrograms = []string{"nxmit", "nxmit-c1", "innxmit", "innfeed"}

// innxmitExitSleep is innxmit's unconditional sleep(1) before it exits (ExitWithStats);
// it is taken off its wall time.
const innxmitExitSleep = time.Second

// owner is a user and group id.
type owner struct{ uid, gid int }

func lookupNews() (owner, error) {
	u, err := user.Lookup("news")
	if err != nil {
		return owner{}, fmt.Errorf("user news: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return owner{uid, gid}, nil
}

// nxmitArgs are the send flags of each nxmit variant: its defaults, one connection for a
// like-for-like comparison with innxmit's single connection, or "nxmit:FLAGS" for any
// other (e.g. "nxmit:-c 1 -w 512").
func nxmitArgs(prog string) []string {
	if prog == "nxmit-c1" {
		return []string{"-c", "1"}
	}
	if _, flags, ok := strings.Cut(prog, ":"); ok {
		return strings.Fields(flags)
	}
	return nil
}

func validProgram(p string) bool {
	return contains(allPrograms, p) || strings.HasPrefix(p, "nxmit:")
}

// runNxmit sends the batch as nxmit would find it after a rotate: peer.B.<hex> in an
// outgoing directory of its own (--outgoing), reading the articles from the sender's
// spool through the sender's inn.conf.
// extra are more flags of send (TLS).
func (l *lab) runNxmit(ctx context.Context, prog string, b *batchSet, port int, dir string, extra ...string) (bench.Sample, error) {
	out := filepath.Join(dir, "outgoing")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return bench.Sample{}, err
	}
	name := fmt.Sprintf("peer.B.%08x", time.Now().Unix())
	if err := copyFile(b.path, filepath.Join(out, name), nil); err != nil {
		return bench.Sample{}, err
	}
	if err := giveTree(out, l.news); err != nil {
		return bench.Sample{}, err
	}
	args := []string{"-v", "--outgoing", out, "send", "peer", "--host", "127.0.0.1", "--port", strconv.Itoa(port)}
	args = append(args, extra...)
	args = append(args, nxmitArgs(prog)...)
	cmd := exec.Command(l.c.nxmit, args...)
	cmd.Env = l.senderEnv()
	cmd.Dir = dir
	o, err := bench.Measure(ctx, cmd)
	if err != nil {
		return bench.Sample{}, err
	}
	if o.ExitCode != 0 {
		return bench.Sample{}, fmt.Errorf("%w: nxmit %s: exit status %d:\n%s", errCheck, strings.Join(args, " "), o.ExitCode, clip(o.Combined()))
	}
	st, err := bench.ParseXmitStats(o.Stderr)
	if err != nil {
		return bench.Sample{}, fmt.Errorf("nxmit: %w:\n%s", err, clip(o.Combined()))
	}
	if err := checkAllAccepted("nxmit", st, b.lines, o); err != nil {
		return bench.Sample{}, err
	}
	left, _ := filepath.Glob(filepath.Join(out, "peer.[BD].*"))
	if defer_, _ := filepath.Glob(filepath.Join(out, "peer.defer")); len(defer_) > 0 {
		left = append(left, defer_...)
	}
	if len(left) > 0 {
		return bench.Sample{}, fmt.Errorf("%w: nxmit left %s behind", errCheck, strings.Join(left, " "))
	}
	return bench.Sample{
		Articles: st.Accepted, Bytes: st.AccSize, Elapsed: st.Elapsed,
		Wall: o.Wall, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB, Window: st.Window,
	}, nil
}

// runInnxmit runs INN's innxmit as news with the sender's inn.conf on a copy of the batch
// (it consumes its batch file), given as an absolute path.
func (l *lab) runInnxmit(ctx context.Context, b *batchSet, port int, dir string) (bench.Sample, error) {
	// innxmit rewrites or removes its batch and makes a temporary file beside it.
	if err := os.Chown(dir, l.news.uid, l.news.gid); err != nil {
		return bench.Sample{}, err
	}
	batch := filepath.Join(dir, "batch")
	if err := copyFile(b.path, batch, &l.news); err != nil {
		return bench.Sample{}, err
	}
	cmd := l.sender.Command("innxmit", "-v", "-P", strconv.Itoa(port), "127.0.0.1", batch)
	o, err := bench.Measure(ctx, cmd)
	if err != nil {
		return bench.Sample{}, err
	}
	if o.ExitCode != 0 {
		return bench.Sample{}, fmt.Errorf("%w: innxmit: exit status %d:\n%s", errCheck, o.ExitCode, clip(o.Combined()))
	}
	st, err := bench.ParseXmitStats(o.Stdout)
	if err != nil {
		return bench.Sample{}, fmt.Errorf("innxmit: %w:\n%s", err, clip(o.Combined()))
	}
	if err := checkAllAccepted("innxmit", st, b.lines, o); err != nil {
		return bench.Sample{}, err
	}
	if _, err := os.Stat(batch); err == nil {
		return bench.Sample{}, fmt.Errorf("%w: innxmit left its batch file with lines in it", errCheck)
	}
	wall := o.Wall - innxmitExitSleep
	return bench.Sample{
		Articles: st.Accepted, Bytes: st.AccSize, Elapsed: st.Elapsed,
		Wall: wall, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB,
	}, nil
}

func checkAllAccepted(prog string, st bench.XmitStats, want int, o bench.Output) error {
	if st.Accepted != int64(want) || st.Refused != 0 || st.Rejected != 0 || st.Missing != 0 || st.Queued != 0 {
		return fmt.Errorf("%w: %s accepted %d of %d (refused %d, rejected %d, missing %d, queued %d):\n%s",
			errCheck, prog, st.Accepted, want, st.Refused, st.Rejected, st.Missing, st.Queued, clip(o.Combined()))
	}
	if st.Elapsed <= 0 {
		return fmt.Errorf("%w: %s printed no elapsed time:\n%s", errCheck, prog, clip(o.Combined()))
	}
	return nil
}

func (l *lab) senderEnv() []string {
	env := l.sender.Env()
	// nxmit's site file would be looked for in the sender's pathetc; there is none, and a
	// developer's NXMIT_CONFIG must not change what is measured.
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NXMIT_CONFIG=") {
			out = append(out, kv)
		}
	}
	return out
}

// copyFile copies src to dst, owned by o when o is not nil.
func copyFile(src, dst string, o *owner) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if o != nil {
		return os.Chown(dst, o.uid, o.gid)
	}
	return nil
}

// clip keeps the end of a program's output for an error message.
func clip(b []byte) string {
	const max = 3000
	if len(b) > max {
		b = append([]byte("..."), b[len(b)-max:]...)
	}
	return strings.TrimSpace(string(b))
}

func thousands(n int) string { return bench.Thousands(float64(n), 0) }

// giveTree gives dir and everything in it to o: nxmit started as root works as INN's user
// (news) before it touches an outgoing directory, as on a real server.
func giveTree(dir string, o owner) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, o.uid, o.gid)
	})
}
