package batch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MergeOptions configure Merge.
type MergeOptions struct {
	// Inputs are the files to merge, in order; "-" reads Stdin. Each may be an old feed
	// file, an innxmit batch (tokens, tokens with Message-IDs, or article paths),
	// nntpsend's SITE=n or SITE.work, an innduct backlog (blanked lines are skipped), an
	// innfeed tape file (its checkpoint is honoured), or a backlog of any site; plain,
	// zstd or gzip, recognized by the magic number.
	Inputs []string
	Stdin  io.Reader
	// Opened holds inputs the caller opened already, by their name in Inputs: a run
	// started as root opens the files root named before it switches to news, who may
	// not be allowed to read them (see docs/SECURITY.md). The others are opened here.
	Opened map[string]*os.File

	// Compress writes the new backlog zstd-compressed (S.B.<hex>.zst).
	Compress bool
	// DedupeQueued also drops lines whose article is already queued for the site: in
	// its feed file, S.rotating, backlogs, deferral files or S.defer (the inputs
	// themselves excepted). The set of queued keys costs IDSetBytesPerLine each.
	DedupeQueued bool
	// Remove removes the input files once the new backlog is installed (never stdin).
	Remove bool

	// Command describes this process in the queue lock ("nxmit merge peer").
	Command string
	// ShlockDir is INN's pathrun, where nntpsend keeps LOCK.<site>. When set, an input
	// named SITE=n, SITE.work or SITE.nntp is checked against (and, with Remove, locked
	// through) that lock, so that nntpsend never appends to a file being merged away.
	ShlockDir string
	// Warn receives malformed lines ("FILE:LINE: reason", a *LineError) and notices.
	Warn func(error)
}

// InputStats count what became of one input's lines.
type InputStats struct {
	Name       string
	Lines      int64 // all lines read
	Blank      int64 // empty or blanked lines (already done)
	Resumed    int64 // recorded done by a checkpoint (compressed backlog, innfeed tape)
	Malformed  int64 // reported and dropped
	Duplicates int64 // dropped: seen earlier in the inputs
	Queued     int64 // dropped: already queued for the site (DedupeQueued)
	Written    int64 // written to the new backlog
}

// MergeStats summarise a Merge or Requeue.
type MergeStats struct {
	Output  string // the new backlog's path; "" when no line was left to write
	Inputs  []InputStats
	Total   InputStats // sums over Inputs (Name "total")
	Bytes   int64      // size of the input files read (compressed size for compressed ones)
	Queued  int        // distinct keys loaded from the site's queue (DedupeQueued)
	Removed []string   // inputs removed
	Kept    []string   // inputs not removed because their path now names another file
}

// source is one input being read.
type source struct {
	name   string // as given ("-" for stdin)
	r      *inputReader
	remove bool
	id     fileID
}

// Merge merges the inputs into one new de-duplicated backlog S.B.<hex> of the site,
// written atomically, and with Remove removes the inputs afterwards. It takes the
// site's queue lock (a *LockedError when held) and first recovers an interrupted merge
// or requeue (RecoverMerge). A line is kept the first time its article is seen (see
// Key) and dropped after; blank lines are dropped silently, malformed ones reported
// through Warn. Every input is opened before anything is written, and a read error
// stops the merge with no backlog installed and no input removed.
//
// Inputs that belong to a running program are refused when they are to be removed,
// and announced through Warn otherwise: a backlog or deferral file of a site whose send
// lock is held, a file an innxmit holds its fcntl lock on, and nntpsend's files while
// its LOCK.<site> is held. Memory stays bounded except for the de-duplication set.
func (q Queue) Merge(opt MergeOptions) (MergeStats, error) {
	var st MergeStats
	if len(opt.Inputs) == 0 {
		return st, errors.New("merge: no input files")
	}
	cmd := opt.Command
	if cmd == "" {
		cmd = "nxmit merge " + q.Site
	}
	lk, err := q.Lock(QueueLock, cmd)
	if err != nil {
		return st, err
	}
	defer lk.Unlock()
	if _, err := q.RecoverMerge(); err != nil {
		return st, err
	}

	var guards guardSet
	defer guards.release()
	var srcs []*source
	defer func() {
		for _, s := range srcs {
			s.r.close()
		}
	}()
	stdinUsed := false
	for _, name := range opt.Inputs {
		if name == "-" {
			if stdinUsed {
				return st, errors.New("merge: stdin (-) given twice")
			}
			stdinUsed = true
			in := opt.Stdin
			if in == nil {
				in = os.Stdin
			}
			srcs = append(srcs, &source{name: "-", r: newInputReader(in, "-", true)})
			continue
		}
		if err := q.refuseOwnLiveFile(name, opt.Remove); err != nil {
			return st, err
		}
		if err := guards.guardQueueFile(name, cmd, opt.Remove, opt.Warn); err != nil {
			return st, err
		}
		if err := guards.guardShlock(opt.ShlockDir, name, opt.Remove, opt.Warn); err != nil {
			return st, err
		}
		var r *inputReader
		if f := opt.Opened[name]; f != nil {
			r, err = newFileInputReader(f, name, true)
		} else {
			// A name the administrator gave may be a link: only queue files are not
			// followed.
			r, err = openNamedInput(name, true)
		}
		if err != nil {
			return st, fmt.Errorf("merge: %w", err)
		}
		s := &source{name: name, r: r, remove: opt.Remove, id: fileIDOf(r.info)}
		srcs = append(srcs, s)
		if busy, err := lockInputFile(r.f); err != nil {
			return st, fmt.Errorf("merge: lock %s: %w", name, err)
		} else if busy {
			if opt.Remove {
				return st, &BusyError{Path: name, By: "an innxmit (it holds the file's fcntl lock)"}
			}
			warn(opt.Warn, fmt.Errorf("%s: an innxmit is sending this file; merging a copy of its lines", name))
		}
		for _, w := range r.warnings {
			warn(opt.Warn, w)
		}
	}

	var queued *IDSet
	if opt.DedupeQueued {
		queued, err = q.queuedKeys(srcs, opt.Warn)
		if err != nil {
			return st, fmt.Errorf("merge: %w", err)
		}
		st.Queued = queued.Len()
	}
	return q.combine(srcs, queued, opt.Compress, opt.Warn, st)
}

// queuedKeys collects the keys of every line queued for the site, skipping the inputs.
func (q Queue) queuedKeys(srcs []*source, warnf func(error)) (*IDSet, error) {
	skip := map[fileID]bool{}
	for _, s := range srcs {
		if s.r.info != nil {
			skip[s.id] = true
		}
	}
	paths := []string{q.FeedPath(), q.RotatingPath()}
	for _, list := range []func() ([]File, error){q.Backlogs, q.Deferrals} {
		files, err := list()
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			paths = append(paths, f.Path)
		}
	}
	paths = append(paths, q.DeferPath())
	set := NewIDSet()
	for _, p := range paths {
		r, err := openInput(p, false)
		if errors.Is(err, os.ErrNotExist) {
			continue // sent and removed meanwhile, or never there
		}
		if err != nil {
			return nil, fmt.Errorf("read queued lines: %w", err)
		}
		if skip[fileIDOf(r.info)] {
			r.close()
			continue
		}
		for {
			l, err := r.next()
			if err == io.EOF {
				break
			}
			var le *LineError
			if errors.As(err, &le) {
				continue // its own reader reports it
			}
			if err != nil {
				r.close()
				return nil, fmt.Errorf("read queued lines: %w", err)
			}
			set.Add(l)
		}
		for _, w := range r.warnings {
			warn(warnf, w)
		}
		r.close()
	}
	return set, nil
}

// combine writes the good, first-seen lines of srcs into a new backlog, installs it and
// removes the inputs marked for removal, crash-safely (see RecoverMerge).
func (q Queue) combine(srcs []*source, queued *IDSet, compress bool, warnf func(error), st MergeStats) (MergeStats, error) {
	seen := NewIDSet()
	// Malformed lines are kept in S.bad, made durable before any input is removed.
	bad := q.OpenQuarantine()
	defer bad.Close()
	warnf = quarantining(bad, warnf)
	st.Inputs = make([]InputStats, len(srcs))
	write := func(w io.Writer) error {
		var buf []byte
		for i, s := range srcs {
			is := &st.Inputs[i]
			var err error
			if buf, err = copyLines(w, s.r, queued, seen, is, warnf, buf); err != nil {
				return err
			}
			is.Name = s.name
			if s.r.info != nil {
				st.Bytes += s.r.info.Size()
				// A file that grew while it was read has lines this merge did not see.
				if s.remove {
					if info, err := s.r.f.Stat(); err == nil && info.Size() != s.r.info.Size() {
						return &BusyError{Path: s.name, By: "a writer (it grew while being merged)"}
					}
				}
			}
		}
		return nil
	}

	tmp := q.MergeTempPath()
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
	}
	if err := writeFile(f, compress, write); err != nil {
		f.Close()
		os.Remove(tmp)
		return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
	}
	if err := bad.Close(); err != nil {
		os.Remove(tmp)
		return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
	}
	for _, is := range st.Inputs {
		st.Total.Lines += is.Lines
		st.Total.Blank += is.Blank
		st.Total.Resumed += is.Resumed
		st.Total.Malformed += is.Malformed
		st.Total.Duplicates += is.Duplicates
		st.Total.Queued += is.Queued
		st.Total.Written += is.Written
	}
	st.Total.Name = "total"
	crashPoint("written")

	if st.Total.Written == 0 {
		// Nothing left to send: no empty backlog. The journal below still sees the
		// inputs removed.
		if err := os.Remove(tmp); err != nil {
			return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
		}
	}
	var inputs []journalInput
	for _, s := range srcs {
		if s.remove && s.r.f != nil {
			inputs = append(inputs, journalInput{Path: absPath(s.name), ID: s.id})
		}
	}
	if len(inputs) > 0 {
		j := journal{Tmp: tmp, Inputs: inputs}
		if err := writeAtomic(q.MergeJournalPath(), j.encode()); err != nil {
			os.Remove(tmp)
			return st, fmt.Errorf("merge into site %s: journal: %w", q.Site, err)
		}
		crashPoint("journaled")
	}
	if st.Total.Written > 0 {
		name, err := q.Install(KindBacklog, tmp)
		if err != nil {
			if name == "" {
				os.Remove(tmp)
				if len(inputs) > 0 {
					os.Remove(q.MergeJournalPath())
				}
			}
			// With a name, the backlog is in place but its directory sync failed;
			// the journal stays for the next run to finish.
			return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
		}
		st.Output = name
		crashPoint("installed")
	}
	if len(inputs) > 0 {
		removed, changed, err := removeInputs(inputs)
		st.Removed, st.Kept = removed, changed
		for _, p := range changed {
			warn(warnf, fmt.Errorf("%s: not removed: it was replaced while being merged", p))
		}
		if err != nil {
			return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
		}
		if err := os.Remove(q.MergeJournalPath()); err != nil {
			return st, fmt.Errorf("merge into site %s: %w", q.Site, err)
		}
		if err := SyncDir(q.Dir); err != nil {
			return st, err
		}
	}
	return st, nil
}

// copyLines copies the good lines of r that are neither in queued nor already in seen
// to w, adding them to seen, and counts what it does in is. Malformed lines go to warnf.
// buf is scratch space, returned for reuse.
func copyLines(w io.Writer, r *inputReader, queued, seen *IDSet, is *InputStats, warnf func(error), buf []byte) ([]byte, error) {
	lines := r.readAhead()
	defer lines.stop()
	for {
		l, err := lines.next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			warn(warnf, err)
			continue
		}
		if err != nil {
			return buf, err
		}
		if queued != nil && queued.Has(l) {
			is.Queued++
			continue
		}
		if !seen.Add(l) {
			is.Duplicates++
			continue
		}
		buf = append(l.Append(buf[:0]), '\n')
		if _, err := w.Write(buf); err != nil {
			return buf, err
		}
		is.Written++
		if is.Written == 1 || is.Written%crashEvery == 0 {
			crashPoint("writing")
		}
	}
	c := r.counts
	is.Lines, is.Blank, is.Resumed, is.Malformed = c.Lines, c.Blank, c.Resumed, c.Malformed
	return buf, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func warn(f func(error), err error) {
	if f != nil && err != nil {
		f(err)
	}
}

// A BusyError means an input is in use by another program and cannot be merged away.
// It is temporary: the other program finishes sooner or later.
type BusyError struct {
	Path string
	By   string // who uses it, for the message
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is in use by %s; try again later", e.Path, e.By)
}

// Temporary reports true.
func (e *BusyError) Temporary() bool { return true }

// refuseOwnLiveFile refuses to remove a file innd may still be appending to: the site's
// live feed file (rotate it first), its S.defer while a send writes it, and any
// SITE.rotating, whose inode innd keeps writing until the flush that rotate finishes.
func (q Queue) refuseOwnLiveFile(name string, remove bool) error {
	if !remove {
		return nil
	}
	if strings.HasSuffix(filepath.Base(name), ".rotating") {
		return fmt.Errorf("merge: %s is a feed file being rotated; run rotate to finish it, then merge the backlog", name)
	}
	info, err := os.Stat(name)
	if err != nil {
		return nil // openInput reports it
	}
	if pi, err := os.Stat(q.FeedPath()); err == nil && os.SameFile(info, pi) {
		return fmt.Errorf("merge: %s is site %s's live feed file; rotate it first", name, q.Site)
	}
	return nil
}

// guardSet holds the locks taken on other programs' behalf during a merge.
type guardSet struct {
	locks   []*Lock
	shlocks []string
	held    map[string]bool // lock paths already taken (a site may have several inputs)
}

// have reports whether the lock at path is already held, and marks it held.
func (g *guardSet) have(path string) bool {
	if g.held == nil {
		g.held = map[string]bool{}
	}
	abs := absPath(path)
	if g.held[abs] {
		return true
	}
	g.held[abs] = true
	return false
}

func (g *guardSet) release() {
	for _, l := range g.locks {
		l.Unlock()
	}
	for _, p := range g.shlocks {
		releaseShlock(p)
	}
	g.locks, g.shlocks = nil, nil
}

// guardQueueFile takes the send lock of the site an input belongs to when the input is
// a queue file (SITE.B.*, SITE.D.*, SITE.defer) in a directory where that site has a
// send lock file, so that no send reads or blanks it while it is merged away.
func (g *guardSet) guardQueueFile(name, cmd string, remove bool, warnf func(error)) error {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	for _, site := range queueFileSites(base) {
		q := Queue{Dir: dir, Site: site}
		// A send lock file appears with the first send; SITE.defer is written only by
		// a send, so its lock is taken even if the file is missing.
		if _, err := os.Stat(q.LockPath(SendLock)); err != nil && !strings.HasSuffix(base, ".defer") {
			continue
		}
		if g.held[absPath(q.LockPath(SendLock))] {
			return nil
		}
		lk, err := q.Lock(SendLock, cmd)
		var le *LockedError
		if errors.As(err, &le) {
			if remove {
				return fmt.Errorf("merge: %s: %w", name, err)
			}
			warn(warnf, fmt.Errorf("%s: site %s is sending (%v); merging a copy of its lines", name, site, le.Holder))
			return nil
		}
		if err != nil {
			return fmt.Errorf("merge: %s: %w", name, err)
		}
		g.locks = append(g.locks, lk)
		g.have(q.LockPath(SendLock))
		return nil
	}
	return nil
}

// queueFileSites returns the site names a queue file name could belong to, longest
// first: "a.B.5db93971" → "a"; "x.B.y.D.1" → "x.B.y", "x".
func queueFileSites(base string) []string {
	if s, ok := strings.CutSuffix(base, ".defer"); ok && s != "" {
		return []string{s}
	}
	var sites []string
	for i := len(base) - 3; i > 0; i-- {
		if base[i] == '.' && (base[i+1] == 'B' || base[i+1] == 'D') && base[i+2] == '.' {
			sites = append(sites, base[:i])
		}
	}
	return sites
}

// quarantining returns a warnf that also copies each malformed line to bad. A failure
// to quarantine is reported too; the merge then fails at bad.Close, keeping its inputs.
func quarantining(bad *Quarantine, warnf func(error)) func(error) {
	return func(err error) {
		var le *LineError
		if errors.As(err, &le) && le.Line > 0 {
			if qerr := bad.Add(le, le.Text); qerr != nil {
				warn(warnf, qerr)
			}
		}
		warn(warnf, err)
	}
}
