package batch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Crash safety of merge and requeue.
//
// Both write one new backlog and then remove their inputs. The new backlog is written
// to S.merge.tmp (never read as a queue file), fsynced, and renamed to S.B.<hex> by
// Install. Before that rename, when inputs are to be removed, a journal S.merge.journal
// is written atomically naming the temporary file and every input (with its device,
// inode and size). The rename is the commit point: the temporary file exists exactly
// until the backlog is installed. So after a crash, under the queue lock:
//
//   - no journal: nothing was promised; a leftover S.merge.tmp is removed, the inputs
//     are intact, no backlog was installed.
//   - journal and S.merge.tmp: the backlog was not installed; both are removed, the
//     inputs are intact.
//   - journal without S.merge.tmp: the backlog was installed (or there was nothing to
//     write); the inputs still named by the journal are removed, then the journal.
//
// An input is removed only if its path still names the same file (device, inode and
// size), so a file re-created under the same name is left alone. No line is lost, and
// none is queued twice.

const journalMagic = "nxmit-merge-journal 1"

// fileID identifies the version of a file that was read.
type fileID struct {
	Dev, Ino uint64
	Size     int64
}

type journalInput struct {
	Path string
	ID   fileID
}

type journal struct {
	Tmp    string
	Inputs []journalInput
}

// MergeTempPath returns the temporary file merge and requeue write the new backlog
// to, Dir/S.merge.tmp.
func (q Queue) MergeTempPath() string { return filepath.Join(q.Dir, q.Site+".merge.tmp") }

// MergeJournalPath returns the journal of a merge or requeue that removes its inputs,
// Dir/S.merge.journal; it exists only while the inputs are being removed, or after a
// crash (see RecoverMerge).
func (q Queue) MergeJournalPath() string { return filepath.Join(q.Dir, q.Site+".merge.journal") }

func (j journal) encode() []byte {
	var b bytes.Buffer
	b.WriteString(journalMagic + "\n")
	b.WriteString("tmp " + strconv.Quote(j.Tmp) + "\n")
	for _, in := range j.Inputs {
		fmt.Fprintf(&b, "input %d %d %d %s\n", in.ID.Dev, in.ID.Ino, in.ID.Size, strconv.Quote(in.Path))
	}
	b.WriteString("end\n")
	return b.Bytes()
}

func parseJournal(data []byte) (journal, error) {
	var j journal
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	bad := func(why string) error { return fmt.Errorf("line %d: %s", n, why) }
	n++
	if !sc.Scan() || sc.Text() != journalMagic {
		return j, bad("not an nxmit merge journal")
	}
	n++
	if !sc.Scan() {
		return j, bad("truncated")
	}
	v, ok := strings.CutPrefix(sc.Text(), "tmp ")
	if !ok {
		return j, bad("want tmp")
	}
	tmp, err := strconv.Unquote(v)
	if err != nil {
		return j, bad("bad tmp path")
	}
	j.Tmp = tmp
	for {
		n++
		if !sc.Scan() {
			return j, bad("truncated (no end)")
		}
		t := sc.Text()
		if t == "end" {
			return j, nil
		}
		rest, ok := strings.CutPrefix(t, "input ")
		if !ok {
			return j, bad("want input or end")
		}
		f := strings.SplitN(rest, " ", 4)
		if len(f) != 4 {
			return j, bad("bad input")
		}
		var in journalInput
		var e1, e2, e3 error
		in.ID.Dev, e1 = strconv.ParseUint(f[0], 10, 64)
		in.ID.Ino, e2 = strconv.ParseUint(f[1], 10, 64)
		in.ID.Size, e3 = strconv.ParseInt(f[2], 10, 64)
		p, e4 := strconv.Unquote(f[3])
		if err := errors.Join(e1, e2, e3, e4); err != nil {
			return j, bad("bad input")
		}
		in.Path = p
		j.Inputs = append(j.Inputs, in)
	}
}

// RecoverMerge completes or rolls back a merge or requeue that a crash interrupted (see
// the rules above) and returns the inputs it removed. The caller holds the queue lock;
// Merge and Requeue call it themselves.
func (q Queue) RecoverMerge() (removed []string, err error) {
	jpath, tmp := q.MergeJournalPath(), q.MergeTempPath()
	os.Remove(jpath + TempSuffix) // a journal that was never committed
	data, err := os.ReadFile(jpath)
	if errors.Is(err, os.ErrNotExist) {
		if err := removeIfExists(tmp); err != nil {
			return nil, fmt.Errorf("recover merge of site %s: %w", q.Site, err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recover merge of site %s: %w", q.Site, err)
	}
	j, err := parseJournal(data)
	if err != nil {
		// Written atomically, so this is not a crash of ours: leave it to a human.
		return nil, fmt.Errorf("recover merge of site %s: %s: %w (remove it once the inputs it names are checked)", q.Site, jpath, err)
	}
	if j.Tmp == "" {
		j.Tmp = tmp
	}
	if _, err := os.Lstat(j.Tmp); err == nil {
		// Not installed: roll back.
		if err := removeIfExists(j.Tmp); err != nil {
			return nil, fmt.Errorf("recover merge of site %s: %w", q.Site, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("recover merge of site %s: %w", q.Site, err)
	} else {
		removed, _, err = removeInputs(j.Inputs)
		if err != nil {
			return removed, fmt.Errorf("recover merge of site %s: %w", q.Site, err)
		}
	}
	if err := os.Remove(jpath); err != nil {
		return removed, fmt.Errorf("recover merge of site %s: %w", q.Site, err)
	}
	return removed, SyncDir(q.Dir)
}

// removeInputs removes each input whose path still names the file that was read, with a
// compressed backlog's checkpoint, and syncs the directories. It returns the removed
// paths and those skipped because their path now names another file.
func removeInputs(inputs []journalInput) (removed, changed []string, err error) {
	dirs := map[string]bool{}
	for _, in := range inputs {
		info, err := os.Lstat(in.Path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, changed, fmt.Errorf("remove input %s: %w", in.Path, err)
		}
		if fileIDOf(info) != in.ID {
			changed = append(changed, in.Path)
			continue
		}
		crashPoint("removing")
		if err := os.Remove(in.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, changed, fmt.Errorf("remove input: %w", err)
		}
		for _, p := range []string{ProgressPath(in.Path), ProgressPath(in.Path) + TempSuffix} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, changed, fmt.Errorf("remove input progress: %w", err)
			}
		}
		removed = append(removed, in.Path)
		dirs[filepath.Dir(in.Path)] = true
	}
	for d := range dirs {
		if err := SyncDir(d); err != nil {
			return removed, changed, err
		}
	}
	return removed, changed, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// crashPoint is called at the steps of a merge where a crash matters. Tests set
// crashHook to kill the process there (SIGKILL); it is nil otherwise.
func crashPoint(stage string) {
	if crashHook != nil {
		crashHook(stage)
	}
}

var crashHook func(stage string)

// crashEvery is how many written lines apart the "writing" crash point comes.
var crashEvery int64 = 65536
