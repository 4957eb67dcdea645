package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"nxmit/innctl"
)

// Rotation turns the live feed file F (S), which innd never stops appending
// to, into a backlog, in one pass and without losing or duplicating a line
// whatever dies when. It is innduct's state machine reduced to one pass:
//
//	Idle        F exists (innd writing), no D
//	  link F → D (S.rotating)
//	Hardlinked  F and D the same inode (innd writing)
//	  unlink F
//	Moved       only D (innd still writing to it until flushed)
//	  flush (innd writes what it holds to D, closes it, creates a new F)
//	Separated   F and D differ, or only D after a successful flush: D complete
//	  drop a partial last line (plain: truncate D to its last "\n")
//	  [Compress: write S.rotating.zst.tmp, fsync, rename it over D]
//	Compressed  D holds zstd data: complete
//	  install: rename D to S.B.<hex>[.zst], without replacing anything
//
// Every state is recognized from the files alone, so a run that finds D
// first finishes the rotation it belongs to. The rules:
//
//   - F and D the same inode: unlink F, flush, install.
//   - only D: flush (again, harmlessly: innd may have flushed already),
//     install. A flush is the only way to know innd has closed D.
//   - F and D different inodes: D is complete, because innd creates F only
//     when it (re)opens the site's file, and it closes the old descriptor
//     first or had none. Install without a flush.
//   - D starts with the zstd magic: it is the finished compressed copy of a
//     complete D. Install.
//   - S.rotating.zst.tmp: a compression that did not finish. Remove it; D,
//     still the plain file, is recovered by the rules above.
//
// Installing is always a rename of D itself (without replacing anything),
// so there is no state with both D and its backlog, and a compressed
// backlog replaces D's content before it gets a backlog name. A crash can
// therefore re-do a step but never install a line twice.
//
// innd writes whole lines, except after a short write (disk full), when the
// rest of the line goes to the next file. A partial last line in a complete
// D is dropped (D is truncated before the rename), with a warning that shows
// it.

// RotateState is the stage of a rotation found in the files of a site.
type RotateState uint8

// Rotation states; see the comment at the top of rotate.go.
const (
	StateIdle       RotateState = iota // no S.rotating: no rotation in progress
	StateHardlinked                    // S and S.rotating are one file: crashed after the link
	StateMoved                         // only S.rotating: not known to be flushed
	StateSeparated                     // S and S.rotating differ: flushed, not installed
	StateCompressed                    // S.rotating is the compressed copy: not installed
)

var stateNames = [...]string{"idle", "hardlinked", "moved", "separated", "compressed"}

// String returns "idle", "hardlinked", "moved", "separated" or "compressed".
func (s RotateState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Describe says in an administrator's words what an interrupted rotation in state s
// left: the file S.rotating and where innd was.
func (s RotateState) Describe() string {
	switch s {
	case StateIdle:
		return "no rotation in progress"
	case StateHardlinked:
		return "still the feed file itself, stopped before innd was told to flush"
	case StateMoved:
		return "set aside, innd's flush not confirmed"
	case StateSeparated:
		return "complete, innd already writing a new feed file"
	case StateCompressed:
		return "compressed, not yet installed"
	}
	return s.String()
}

// RotateOptions configure Rotate.
type RotateOptions struct {
	// The feed file is rotated when it has at least MinSize bytes, or when
	// it is at least MaxAge old (time since innd created it, its birth
	// time; where the file system does not record one, the age rule always
	// holds). A zero value turns its rule off; with both off every
	// non-empty feed file is rotated. An empty feed file never is.
	MinSize int64
	MaxAge  time.Duration
	// Flusher asks innd to flush the site (required).
	Flusher innctl.Flusher
	// Compress writes the backlog zstd-compressed, as S.B.<hex>.zst.
	Compress bool
	// Warn receives problems that do not stop the rotation: a partial last
	// line dropped, innd not knowing the site, an interrupted rotation found.
	Warn func(msg string)
	// Command names the holder of the queue lock (Rotate only); default
	// "nxmit rotate S".
	Command string
	// Now is the clock for the age rule; nil means time.Now.
	Now func() time.Time
}

// RotateResult tells what Rotate did.
type RotateResult struct {
	// Recovered is the state of an interrupted rotation found and finished;
	// StateIdle when there was none (then the feed file was considered).
	Recovered RotateState
	// Rotated is set when this run linked the feed file away.
	Rotated bool
	// FeedSize and FeedAge describe the feed file when this run looked at it
	// (FeedAge < 0 when unknown, FeedSize < 0 when there was no file).
	FeedSize int64
	FeedAge  time.Duration
	// Flushed is set when innd confirmed a flush; NoSuchSite when innd
	// answered that it has no such site (what was there was installed).
	Flushed    bool
	NoSuchSite bool
	// Backlog is the path of the backlog installed, "" when none (nothing
	// to rotate, or the file was empty).
	Backlog string
	// Lines and Bytes count the complete lines installed and their size
	// before compression.
	Lines, Bytes int64
	// Partial counts partial last lines dropped (0 or 1).
	Partial int
}

// CrashEnv names the environment variable with which tests make a rotation
// kill itself (SIGKILL) at one point, to build each intermediate state for
// real: after-link, after-unlink, after-flush, after-truncate,
// during-compress, after-compress, after-compress-rename. It has no effect
// unless set to one of these.
const CrashEnv = "NXMIT_TEST_CRASH"

func rotateCrashPoint(point string) {
	if os.Getenv(CrashEnv) == point {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// RotatingTempPath returns Dir/S.rotating.zst.tmp, where a compressed copy
// of S.rotating is written before it replaces S.rotating.
func (q Queue) RotatingTempPath() string { return q.RotatingPath() + ZstdSuffix + TempSuffix }

// Rotate takes the site's queue lock (a held lock gives a *LockedError),
// finishes an interrupted rotation if one is found, and otherwise rotates the
// feed file when RotateOptions say it is due: hard link S to S.rotating,
// unlink S, flush the site, install S.rotating as a new backlog.
//
// A flush that fails leaves the files as they are and returns the Flusher's
// error (temporary: *innctl.FlushError); the next run retries. innd
// answering that it has no such site is not an error: the feed was dropped
// from newsfeeds, so innd no longer writes the file, which is installed with
// a warning.
func (q Queue) Rotate(ctx context.Context, opt RotateOptions) (RotateResult, error) {
	if err := checkWritable(q.Dir); errors.Is(err, os.ErrNotExist) {
		return RotateResult{FeedSize: -1, FeedAge: -1}, fmt.Errorf("site %s: outgoing directory %s: %w", q.Site, q.Dir, err)
	} else if err != nil {
		return RotateResult{FeedSize: -1, FeedAge: -1}, fmt.Errorf("site %s: outgoing directory %s is not writable: %w", q.Site, q.Dir, err)
	}
	cmd := opt.Command
	if cmd == "" {
		cmd = "nxmit rotate " + q.Site
	}
	l, err := q.Lock(QueueLock, cmd)
	if err != nil {
		return RotateResult{FeedSize: -1, FeedAge: -1}, err
	}
	res, err := q.RotateLocked(ctx, opt)
	if uerr := l.Unlock(); err == nil && uerr != nil {
		err = fmt.Errorf("site %s: %w", q.Site, uerr)
	}
	return res, err
}

// RotateLocked is Rotate for a caller that already holds the site's queue
// lock.
func (q Queue) RotateLocked(ctx context.Context, opt RotateOptions) (RotateResult, error) {
	r := rotation{q: q, opt: opt, d: q.RotatingPath(), f: q.FeedPath()}
	r.res.FeedSize, r.res.FeedAge = -1, -1
	if opt.Flusher == nil {
		return r.res, fmt.Errorf("site %s: rotate: no flusher", q.Site)
	}
	if r.opt.Warn == nil {
		r.opt.Warn = func(string) {}
	}
	if r.opt.Now == nil {
		r.opt.Now = time.Now
	}
	err := r.run(ctx)
	if err != nil {
		return r.res, fmt.Errorf("site %s: %w", q.Site, err)
	}
	return r.res, nil
}

// RotationState reports the stage of a rotation left on disk (StateIdle
// when none), without locking or changing anything; for status displays.
func (q Queue) RotationState() (RotateState, error) {
	r := rotation{q: q, d: q.RotatingPath(), f: q.FeedPath()}
	st, err := r.state()
	if err != nil {
		return st, fmt.Errorf("site %s: %w", q.Site, err)
	}
	return st, nil
}

// rotation is one run of the state machine.
type rotation struct {
	q    Queue
	opt  RotateOptions
	d, f string // S.rotating, S
	res  RotateResult
}

func (r *rotation) warn(format string, args ...any) { r.opt.Warn(fmt.Sprintf(format, args...)) }

func (r *rotation) run(ctx context.Context) error {
	// A compression that did not finish: D is still the plain file.
	if err := os.Remove(r.q.RotatingTempPath()); err == nil {
		r.warn("removed %s left by an interrupted compression", filepath.Base(r.q.RotatingTempPath()))
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", r.q.RotatingTempPath(), err)
	}

	state, err := r.state()
	if err != nil {
		return err
	}
	r.res.Recovered = state
	if state == StateIdle {
		return r.rotateFeed(ctx)
	}
	// Said once it worked: a flush failing again (innd still down) needs no second line.
	if err := r.recover(ctx, state); err != nil {
		return err
	}
	r.warn("finished a rotation interrupted earlier (%s: %s)", filepath.Base(r.d), state.Describe())
	return nil
}

// recover finishes the rotation found in state.
func (r *rotation) recover(ctx context.Context, state RotateState) error {
	if done, err := r.alreadyInstalled(); err != nil || done {
		return err
	}
	switch state {
	case StateHardlinked:
		if err := r.unlinkFeed(); err != nil {
			return err
		}
		fallthrough
	case StateMoved:
		if err := r.flush(ctx); err != nil {
			return err
		}
		fallthrough
	case StateSeparated, StateCompressed:
		return r.install()
	}
	return fmt.Errorf("rotate: unknown state %v", state)
}

// state recognizes the stage of a rotation from the files.
func (r *rotation) state() (RotateState, error) {
	dfi, err := os.Lstat(r.d)
	if errors.Is(err, os.ErrNotExist) {
		return StateIdle, nil
	}
	if err != nil {
		return 0, fmt.Errorf("rotate: %w", err)
	}
	if !dfi.Mode().IsRegular() {
		return 0, fmt.Errorf("rotate: %s is not a regular file", r.d)
	}
	if head, err := readHead(r.d); err != nil {
		return 0, fmt.Errorf("rotate: %w", err)
	} else if compression(head) != "" {
		return StateCompressed, nil
	}
	ffi, err := os.Lstat(r.f)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return StateMoved, nil
	case err != nil:
		return 0, fmt.Errorf("rotate: %w", err)
	case os.SameFile(ffi, dfi):
		return StateHardlinked, nil
	}
	return StateSeparated, nil
}

func readHead(path string) ([]byte, error) {
	f, err := openRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var head [4]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	return head[:n], nil
}

// alreadyInstalled handles D that also has a backlog name: Install, where
// the kernel or file system has no renameat2, links and then unlinks, and a
// crash in between leaves both names. D is then simply removed.
func (r *rotation) alreadyInstalled() (bool, error) {
	dfi, err := os.Lstat(r.d)
	if err != nil {
		return false, fmt.Errorf("rotate: %w", err)
	}
	st, ok := dfi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 {
		return false, nil
	}
	files, err := r.q.Backlogs()
	if err != nil {
		return false, err
	}
	for _, b := range files {
		if bfi, err := os.Lstat(b.Path); err == nil && os.SameFile(bfi, dfi) {
			if err := os.Remove(r.d); err != nil {
				return false, fmt.Errorf("rotate: %w", err)
			}
			r.res.Backlog = b.Path
			return true, SyncDir(r.q.Dir)
		}
	}
	return false, nil
}

// rotateFeed starts a new rotation when the feed file is due.
func (r *rotation) rotateFeed(ctx context.Context) error {
	fi, err := os.Lstat(r.f)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("rotate: feed file %s is not a regular file", r.f)
	}
	r.res.FeedSize = fi.Size()
	if btime, ok := birthTime(r.f); ok {
		r.res.FeedAge = max(r.opt.Now().Sub(btime), 0)
	}
	if !r.due() {
		return nil
	}
	if c, ok := r.opt.Flusher.(interface{ Check() error }); ok {
		if err := c.Check(); err != nil {
			return fmt.Errorf("cannot flush innd, %s left alone: %w", filepath.Base(r.f), err)
		}
	}
	if err := os.Link(r.f, r.d); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	r.res.Rotated = true
	rotateCrashPoint("after-link")
	if err := r.unlinkFeed(); err != nil {
		return err
	}
	rotateCrashPoint("after-unlink")
	if err := r.flush(ctx); err != nil {
		return err
	}
	rotateCrashPoint("after-flush")
	return r.install()
}

// due applies RotateOptions' rules to the feed file.
func (r *rotation) due() bool { return r.opt.Due(r.res.FeedSize, r.res.FeedAge) }

// Due applies the rotation rules to a feed file of size bytes (< 0: none) and age
// (< 0: unknown).
func (o RotateOptions) Due(size int64, age time.Duration) bool {
	switch {
	case size <= 0:
		return false
	case o.MinSize <= 0 && o.MaxAge <= 0:
		return true
	case o.MinSize > 0 && size >= o.MinSize:
		return true
	case o.MaxAge > 0 && (age < 0 || age >= o.MaxAge):
		return true
	}
	return false
}

// DueIn returns how long until a feed file of that age is old enough to rotate, or -1
// when age alone never makes it due (no age rule, or an empty file: innd writes
// nothing, so nothing to rotate).
func (o RotateOptions) DueIn(size int64, age time.Duration) time.Duration {
	if size <= 0 || o.MaxAge <= 0 || age < 0 {
		return -1
	}
	return max(o.MaxAge-age, 0)
}

// Waiting says in one line why a feed file is not rotated, or "" when it is due: "feed
// 21K, 14s old: rotates at 10M or 4m old (in 3m46s)", "no feed file", "feed file
// empty".
func (o RotateOptions) Waiting(size int64, age time.Duration) string {
	switch {
	case size < 0:
		return "no feed file"
	case size == 0:
		return "feed file empty"
	case o.Due(size, age):
		return ""
	}
	old := "age unknown"
	if age >= 0 {
		old = ShortDuration(age) + " old"
	}
	var rules []string
	if o.MinSize > 0 {
		rules = append(rules, "at "+HumanBytes(o.MinSize))
	}
	if o.MaxAge > 0 {
		rules = append(rules, ShortDuration(o.MaxAge)+" old")
	}
	msg := fmt.Sprintf("feed %s, %s: rotates %s", HumanBytes(size), old, strings.Join(rules, " or "))
	if in := o.DueIn(size, age); in >= 0 {
		msg += " (in " + ShortDuration(in) + ")"
	}
	return msg
}

// FeedStat returns the size of the site's feed file (-1 when there is none) and its
// age, the time since innd created it (-1 when the file system records no birth time).
func (q Queue) FeedStat(now time.Time) (size int64, age time.Duration) {
	fi, err := os.Stat(q.FeedPath())
	if err != nil || !fi.Mode().IsRegular() {
		return -1, -1
	}
	age = -1
	if btime, ok := birthTime(q.FeedPath()); ok {
		age = max(now.Sub(btime), 0)
	}
	return fi.Size(), age
}

// HumanBytes writes a size with powers of 1024, as ls -h does: 980, 21K, 9.8M.
func HumanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	f, units := float64(n), "KMGTPE"
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f%c", f, units[i])
	}
	return fmt.Sprintf("%.0f%c", f, units[i])
}

// ShortDuration writes a duration briefly, to the second: 14s, 3m46s, 4m, 2h5m.
func ShortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// unlinkFeed removes the name S of the file now also named S.rotating.
//
// While the name S exists, anything that makes innd reopen the site's file
// (a flush by someone else, ctlinnd newgroup) opens that same inode again,
// so nothing can slip into a different file between the check and the
// unlink; only an outside rename of S could, and then S is left alone.
func (r *rotation) unlinkFeed() error {
	dfi, err := os.Lstat(r.d)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	ffi, err := os.Lstat(r.f)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("rotate: %w", err)
	case os.SameFile(ffi, dfi):
		if err := os.Remove(r.f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate: %w", err)
		}
	default:
		r.warn("%s was replaced after it was linked to %s; leaving it", filepath.Base(r.f), filepath.Base(r.d))
	}
	return SyncDir(r.q.Dir)
}

// flush asks innd to finish D. innd not knowing the site means it writes
// no file for it: D is complete as it is.
func (r *rotation) flush(ctx context.Context) error {
	err := r.opt.Flusher.Flush(ctx, r.q.Site)
	switch {
	case err == nil:
		r.res.Flushed = true
		return nil
	case errors.Is(err, innctl.ErrNoSuchSite):
		r.res.NoSuchSite = true
		r.warn("innd has no site %s (dropped from newsfeeds?): installing %s as it is", r.q.Site, filepath.Base(r.d))
		return nil
	}
	return fmt.Errorf("%w (%s kept; the next run retries)", err, filepath.Base(r.d))
}

// partialShown bounds how much of a partial line a warning shows.
const partialShown = 200

// install makes the complete D a backlog: drop a partial last line,
// compress if asked, rename.
func (r *rotation) install() error {
	f, err := OpenFile(r.d, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	if compression(head[:n]) != "" {
		// The compressed copy made by an earlier run; its lines were counted then.
		f.Close()
		return r.rename()
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	end, err := lastLineEnd(f, fi.Size())
	if err != nil {
		return fmt.Errorf("rotate: read %s: %w", r.d, err)
	}
	if end < fi.Size() {
		r.res.Partial++
		shown := make([]byte, min(fi.Size()-end, partialShown))
		if _, err := f.ReadAt(shown, end); err != nil && err != io.EOF {
			return fmt.Errorf("rotate: read %s: %w", r.d, err)
		}
		more := ""
		if int64(len(shown)) < fi.Size()-end {
			more = "..."
		}
		r.warn("%s: dropped a partial last line of %d bytes (no newline): %s%s",
			filepath.Base(r.d), fi.Size()-end, strconv.Quote(string(shown)), more)
	}
	if end == 0 {
		// Nothing complete in it: no backlog.
		f.Close()
		if err := os.Remove(r.d); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		return SyncDir(r.q.Dir)
	}
	r.res.Bytes = end
	if r.opt.Compress {
		lines, err := r.compress(f, end)
		switch {
		case err == nil:
			r.res.Lines = lines
			f.Close()
			rotateCrashPoint("after-compress-rename")
			return r.rename()
		case errors.Is(err, syscall.ENOSPC):
			// Installing the plain file is a rename and needs no room; leaving it in
			// S.rotating would keep it from send until there is room.
			r.warn("%v: installing it uncompressed", err)
		default:
			return err
		}
	}
	if end < fi.Size() {
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("rotate: truncate %s: %w", r.d, err)
		}
	}
	if r.res.Lines, err = countLines(io.NewSectionReader(f, 0, end)); err != nil {
		return fmt.Errorf("rotate: read %s: %w", r.d, err)
	}
	// innd's writes were never synced; Install expects a durable file.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("rotate: sync %s: %w", r.d, err)
	}
	rotateCrashPoint("after-truncate")
	f.Close()
	return r.rename()
}

// rename installs D under a new backlog name.
func (r *rotation) rename() error {
	name, err := r.q.Install(KindBacklog, r.d)
	if err != nil {
		return err
	}
	r.res.Backlog = name
	return nil
}

// compress replaces D by a zstd copy of its first end bytes: write
// S.rotating.zst.tmp, fsync, rename over D, fsync the directory. A crash
// before the rename leaves the plain D and the temporary file, which the next
// run removes; after it, D is the complete compressed copy.
func (r *rotation) compress(src *os.File, end int64) (int64, error) {
	tmp := r.q.RotatingTempPath()
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, fmt.Errorf("rotate: compress: %w", err)
	}
	var lines int64
	err = writeFile(out, true, func(w io.Writer) error {
		cw := &lineCounter{w: w}
		half := end / 2
		if _, err := io.Copy(cw, io.NewSectionReader(src, 0, half)); err != nil {
			return err
		}
		rotateCrashPoint("during-compress")
		if _, err := io.Copy(cw, io.NewSectionReader(src, half, end-half)); err != nil {
			return err
		}
		lines = cw.lines
		return nil
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("rotate: compress %s: %w", r.d, err)
	}
	rotateCrashPoint("after-compress")
	if err := os.Rename(tmp, r.d); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("rotate: %w", err)
	}
	return lines, SyncDir(r.q.Dir)
}

// lastLineEnd returns the offset just past the last "\n" in the first size
// bytes of f (0 when there is none), reading backwards from the end.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for pos := size; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
	}
	return 0, nil
}

// countLines counts the "\n" in r.
func countLines(r io.Reader) (int64, error) {
	c := &lineCounter{w: io.Discard}
	_, err := io.CopyBuffer(c, r, make([]byte, 256<<10))
	return c.lines, err
}

// lineCounter passes writes through, counting newlines.
type lineCounter struct {
	w     io.Writer
	lines int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return c.w.Write(p)
}
