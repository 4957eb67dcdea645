package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// nntpsendSite returns the site of a file name nntpsend or send-nntp works on (SITE=n,
// SITE.work, SITE.nntp; inn-formats §5), or "".
func nntpsendSite(base string) string {
	for _, suf := range []string{"=n", ".work", ".nntp"} {
		if s, ok := strings.CutSuffix(base, suf); ok && s != "" {
			return s
		}
	}
	return ""
}

// guardShlock protects an nntpsend file: with remove, it takes nntpsend's lock
// pathrun/LOCK.<site> (so nntpsend skips the site instead of appending to a file being
// merged away) or fails when a live process holds it; without remove it only warns
// when the lock is held.
func (g *guardSet) guardShlock(dir, name string, remove bool, warnf func(error)) error {
	if dir == "" {
		return nil
	}
	site := nntpsendSite(filepath.Base(name))
	if site == "" {
		return nil
	}
	lock := filepath.Join(dir, "LOCK."+site)
	if g.held[absPath(lock)] {
		return nil // taken for an earlier input of the same site
	}
	if !remove {
		if pid, ok := ReadShlock(lock); ok && ProcessAlive(pid, time.Time{}) {
			warn(warnf, fmt.Errorf("%s: nntpsend holds %s (pid %d); merging a copy of its lines", name, lock, pid))
		}
		return nil
	}
	if err := takeShlock(lock); err != nil {
		return fmt.Errorf("merge: %s: %w", name, err)
	}
	g.shlocks = append(g.shlocks, lock)
	g.have(lock)
	return nil
}

// ReadShlock reads the pid in INN's shlock(1) file (nntpsend's LOCK.SITE): "%10d\n"
// text, or a binary int (-b). ok is false when the file cannot be read; pid is 0 when
// it holds no pid.
func ReadShlock(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
		return pid, true
	}
	if len(data) == 4 {
		return int(int32(binary.NativeEndian.Uint32(data))), true
	}
	return 0, true
}

// takeShlock takes a lock the way shlock(1) does: write the pid into shlock<pid> in the
// lock's directory and link it to the lock name; a lock whose pid is gone is stale and
// taken over.
func takeShlock(path string) error {
	pid := os.Getpid()
	tmp := filepath.Join(filepath.Dir(path), "shlock"+strconv.Itoa(pid))
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%10d\n", pid)), 0o644); err != nil {
		return fmt.Errorf("take %s: %w", path, err)
	}
	defer os.Remove(tmp)
	for range 2 {
		err := os.Link(tmp, path)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("take %s: %w", path, err)
		}
		holder, ok := ReadShlock(path)
		if ok && ProcessAlive(holder, time.Time{}) {
			return &BusyError{Path: path, By: fmt.Sprintf("nntpsend (pid %d holds %s)", holder, filepath.Base(path))}
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("take %s: remove stale lock: %w", path, err)
		}
	}
	return &BusyError{Path: path, By: "another process (the lock keeps coming back)"}
}

// releaseShlock removes a shlock file if it still holds this process's pid.
func releaseShlock(path string) {
	if pid, ok := ReadShlock(path); ok && pid == os.Getpid() {
		os.Remove(path)
	}
}
