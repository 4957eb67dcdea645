package batch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of a queue file created by Create or Install; its value
// is the letter in the file name.
type Kind uint8

// Queue file kinds.
const (
	KindBacklog  Kind = 'B' // S.B.<hex>: ready to send
	KindDeferred Kind = 'D' // S.D.<hex>: deferred, waiting for the retry delay
)

// String returns "backlog" or "deferred".
func (k Kind) String() string {
	switch k {
	case KindBacklog:
		return "backlog"
	case KindDeferred:
		return "deferred"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Suffixes of names this package creates next to a site's files.
const (
	// TempSuffix marks a file being written; it is never sent.
	TempSuffix = ".tmp"
	// ZstdSuffix marks a zstd-compressed backlog.
	ZstdSuffix = ".zst"
	// ProgressSuffix is appended to a compressed backlog's name to name the
	// file recording which of its lines are done (see Backlog).
	ProgressSuffix = ".done"
	// CheckpointSuffix is appended to a partial output's name (S.scan) to name the
	// file recording how far its writer got, so that a killed scan resumes.
	CheckpointSuffix = ".ckpt"
)

// Queue names the files of one site in INN's outgoing directory.
type Queue struct {
	Dir  string // pathoutgoing
	Site string // the site's name in newsfeeds
	// OtherSites optionally lists the other sites feeding into Dir. A
	// site whose name starts with "Site.B." or "Site.D." (such as "a.B.x"
	// next to "a") has a feed file that looks like a backlog of Site
	// dropped in by an administrator; naming it here keeps Backlogs and
	// Deferrals off all its files. Without it, such a feed file is
	// recognized only once it has queue files of its own.
	OtherSites []string
}

// FeedPath returns the path of the live feed file innd writes, Dir/S.
func (q Queue) FeedPath() string { return filepath.Join(q.Dir, q.Site) }

// RotatingPath returns Dir/S.rotating, the hard link made during rotation.
func (q Queue) RotatingPath() string { return filepath.Join(q.Dir, q.Site+".rotating") }

// DeferPath returns Dir/S.defer, the deferrals of the send pass in progress.
func (q Queue) DeferPath() string { return filepath.Join(q.Dir, q.Site+".defer") }

// BadPath returns Dir/S.bad, the quarantine of malformed lines (DESIGN.md).
func (q Queue) BadPath() string { return filepath.Join(q.Dir, q.Site+".bad") }

// TotalsPath returns Dir/S.totals, the site's running totals of answers and its last
// send pass (see package audit), rewritten atomically after every pass.
func (q Queue) TotalsPath() string { return filepath.Join(q.Dir, q.Site+".totals") }

// ScanPath returns Dir/S.scan, the partial output of "nxmit scan --site S" until it is
// complete and installed as a backlog; its checkpoint is S.scan.ckpt.
func (q Queue) ScanPath() string { return filepath.Join(q.Dir, q.Site+".scan") }

// LockPath returns the path of the lock file of kind k.
func (q Queue) LockPath(k LockKind) string {
	return filepath.Join(q.Dir, q.Site+"."+k.fileWord()+".lock")
}

// Name returns the file name (without directory) of a kind k queue file
// created at t: S.B.<8 lowercase hex digits of Unix seconds>, plus ".zst"
// when compressed.
func (q Queue) Name(k Kind, t time.Time, compressed bool) string {
	n := fmt.Sprintf("%s.%c.%08x", q.Site, byte(k), uint32(t.Unix()))
	if compressed {
		n += ZstdSuffix
	}
	return n
}

// File describes one queue file of a site.
type File struct {
	Path       string
	Kind       Kind
	Created    time.Time // from the <hex> of the name; the mtime for other names
	Size       int64
	Compressed bool // zstd or gzip, by the ".zst" suffix or the magic number
	// Foreign is set for a name not made by nxmit (S.B.<anything but hex>),
	// such as a file an administrator dropped in.
	Foreign bool
	// Info is what the listing saw (lstat): opening checks it still names that file.
	Info os.FileInfo
}

// Backlogs lists the site's backlogs S.B.*: nxmit's own S.B.<hex>[.zst]
// oldest first, then any other S.B.* names by modification time. Files
// being written (*.tmp), progress files (*.done) and the files of other
// sites whose names start with S.B. are left out.
func (q Queue) Backlogs() ([]File, error) { return q.list(KindBacklog) }

// Deferrals lists the site's closed deferral files S.D.*, in the same order
// and with the same exclusions as Backlogs.
func (q Queue) Deferrals() ([]File, error) { return q.list(KindDeferred) }

// otherSiteSuffixes end the names of a site's own files; a candidate whose
// name ends so belongs to some site "S.B.x".
var otherSiteSuffixes = []string{".rotating", ".defer", ".deferrals", ".send.lock", ".queue.lock", LastRunSuffix, HoldSuffix}

// bookkeepingSuffixes end the names of a site's files that hold no article: locks, the
// running totals, the last-run record, the hold marker and the deferral tally.
var bookkeepingSuffixes = []string{".lock", ".totals", LastRunSuffix, HoldSuffix, ".deferrals"}

// IsBookkeeping reports whether the file name is one of a site's records about its queue
// rather than a queue file: tools (and tests) that compare queues leave these out.
func IsBookkeeping(name string) bool {
	for _, suf := range bookkeepingSuffixes {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

func (q Queue) list(k Kind) ([]File, error) {
	ents, err := os.ReadDir(q.Dir)
	if err != nil {
		return nil, fmt.Errorf("list %s queue of site %s: %w", k, q.Site, err)
	}
	prefix := q.Site + "." + string(rune(k)) + "."
	names := make(map[string]bool, len(ents))
	for _, e := range ents {
		names[e.Name()] = true
	}
	var own, foreign []File
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || rest == "" || !e.Type().IsRegular() {
			continue
		}
		created, isOwn := parseHexName(rest)
		if !isOwn && !q.foreignCandidate(name, rest, names) {
			continue
		}
		path := filepath.Join(q.Dir, name)
		info, err := e.Info()
		if os.IsNotExist(err) {
			continue // sent and removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list %s queue of site %s: %w", k, q.Site, err)
		}
		f := File{Path: path, Kind: k, Size: info.Size(), Created: created, Foreign: !isOwn, Info: info}
		f.Compressed = strings.HasSuffix(name, ZstdSuffix) || sniffCompressed(path)
		if isOwn {
			own = append(own, f)
		} else {
			f.Created = info.ModTime()
			foreign = append(foreign, f)
		}
	}
	slices.SortStableFunc(own, func(a, b File) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	slices.SortStableFunc(foreign, func(a, b File) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return append(own, foreign...), nil
}

// parseHexName parses "<8 lowercase hex>" or "<8 lowercase hex>.zst".
func parseHexName(rest string) (time.Time, bool) {
	h := strings.TrimSuffix(rest, ZstdSuffix)
	if len(h) != 8 {
		return time.Time{}, false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return time.Time{}, false
		}
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(v), 0), true
}

// foreignCandidate decides whether S.B.rest (name), not one of nxmit's own
// names, is a file dropped in for this site rather than a file of ours or of
// another site whose name begins with S.B.
func (q Queue) foreignCandidate(name, rest string, names map[string]bool) bool {
	dotted := "." + rest
	if strings.HasSuffix(dotted, TempSuffix) || strings.HasSuffix(dotted, ProgressSuffix) {
		return false
	}
	// Site "S.B.x" has files "S.B.x.B.<hex>", "S.B.x.D.<hex>", "S.B.x.defer"...
	if strings.Contains(dotted, ".B.") || strings.Contains(dotted, ".D.") {
		return false
	}
	for _, suf := range otherSiteSuffixes {
		if strings.HasSuffix(dotted, suf) {
			return false
		}
	}
	// ...and its feed file is plain "S.B.x".
	if slices.Contains(q.OtherSites, name) {
		return false
	}
	for other := range names {
		if o, ok := strings.CutPrefix(other, name+"."); ok && o != "" {
			for _, marker := range []string{"B.", "D."} {
				if strings.HasPrefix(o, marker) {
					return false
				}
			}
			for _, suf := range otherSiteSuffixes {
				if "."+o == suf {
					return false
				}
			}
		}
	}
	return true
}

// sniffCompressed reports whether the file starts with a compression magic.
func sniffCompressed(path string) bool {
	f, err := openRead(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [4]byte
	n, _ := io.ReadFull(f, head[:])
	return compression(head[:n]) != ""
}

// HasFiles reports whether the site has a queue file in the directory: the feed file,
// S.rotating, S.defer, a backlog or a deferral file. Lock files do not count: a command
// run for a mistyped site name used to leave them behind, and they hold nothing to send.
func (q Queue) HasFiles() (bool, error) {
	for _, p := range []string{q.FeedPath(), q.RotatingPath(), q.DeferPath()} {
		if _, err := os.Lstat(p); err == nil {
			return true, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	for _, k := range []Kind{KindBacklog, KindDeferred} {
		files, err := q.list(k)
		if err != nil || len(files) > 0 {
			return len(files) > 0, err
		}
	}
	return false, nil
}
