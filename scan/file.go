package scan

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"nxmit/batch"
)

// checkpoint is the state of a partial output, written beside it as JSON: everything
// up to Output bytes of the output corresponds to the history up to Offset.
type checkpoint struct {
	Version int       `json:"version"`
	Key     string    `json:"key"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Dev     uint64    `json:"dev"` // identity of the history file: expire makes a new one
	Ino     uint64    `json:"ino"`
	End     int64     `json:"end"` // the history's size when the scan began: where it stops
	Offset  int64     `json:"offset"`
	Line    int64     `json:"line"`
	Output  int64     `json:"output"`
	Done    bool      `json:"done"` // the output is complete
	Stats   Stats     `json:"stats"`
}

const checkpointVersion = 1

type fileIdent struct{ dev, ino uint64 }

func identOf(info os.FileInfo) fileIdent {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileIdent{uint64(st.Dev), uint64(st.Ino)}
	}
	return fileIdent{}
}

// CheckpointPath returns the checkpoint file of the partial output partial.
func CheckpointPath(partial string) string { return partial + batch.CheckpointSuffix }

// FileResult says what File did.
type FileResult struct {
	Stats   Stats
	Resumed bool   // a checkpoint was resumed
	Notice  string // why a checkpoint found was not resumed, if it was not
}

// File writes the scan's output to the file partial, resumably: every
// CheckpointEvery the output is flushed and fsynced and a checkpoint (history
// offset, output size, counts) is written atomically to CheckpointPath(partial). A
// later File with the same History and Key resumes from the checkpoint: the output is
// cut back to the checkpoint's size (dropping what a killed run wrote after it) and the
// history is read on from its offset, so the finished output is the one an
// uninterrupted run writes. A checkpoint for another selection or history file (expire
// replaced it, or it shrank) is discarded and the scan starts over (Notice says so).
//
// When File returns without error, partial is complete and fsynced and the checkpoint
// says so; the caller installs partial and then removes the checkpoint. A complete
// checkpoint found at the start returns at once.
func File(partial string, opt Options) (FileResult, error) {
	var res FileResult
	h, size, id, err := openHistory(opt)
	if err != nil {
		return res, err
	}
	defer h.Close()

	cpPath := CheckpointPath(partial)
	cp, notice := loadCheckpoint(cpPath, opt.Key, id, size, partial)
	res.Notice = notice
	flags := os.O_RDWR | os.O_CREATE
	if cp == nil {
		cp = &checkpoint{Version: checkpointVersion, Key: opt.Key, Since: opt.Since, Until: opt.Until,
			Dev: id.dev, Ino: id.ino, End: size}
		cp.Stats.Total = size
		flags |= os.O_TRUNC
	} else {
		res.Resumed = true
		opt.Since, opt.Until = cp.Since, cp.Until
		if cp.Done {
			res.Stats = cp.Stats
			return res, nil
		}
	}
	f, err := batch.OpenFile(partial, flags, 0o644) // a queue file: never through a link
	if err != nil {
		return res, fmt.Errorf("scan: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(cp.Output); err != nil {
		return res, fmt.Errorf("scan: cut %s back to its checkpoint: %w", partial, err)
	}
	if _, err := f.Seek(cp.Output, io.SeekStart); err != nil {
		return res, fmt.Errorf("scan: %w", err)
	}
	if !res.Resumed {
		// The checkpoint exists before the first byte of output: a partial file
		// without one is never taken for a complete output.
		if err := writeCheckpoint(cpPath, cp); err != nil {
			return res, err
		}
	}

	bw := bufio.NewWriterSize(f, 256<<10)
	st := cp.Stats
	out := cp.Output
	every := opt.CheckpointEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	lastTime, lastLine := time.Now(), cp.Line
	endLine := cp.Line
	save := func(offset, line int64, s Stats) error {
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("scan: write %s: %w", partial, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("scan: sync %s: %w", partial, err)
		}
		cp.Offset, cp.Line, cp.Output, cp.Stats = offset, line, out, s
		return writeCheckpoint(cpPath, cp)
	}
	err = run(h, position{offset: cp.Offset, line: cp.Line, end: cp.End}, opt, &st, func(c *chunk) error {
		for i := range c.items {
			if it := &c.items[i]; it.v == pass {
				n, err := bw.Write(it.out)
				out += int64(n)
				if err != nil {
					return fmt.Errorf("scan: write %s: %w", partial, err)
				}
			}
		}
		if opt.crash != nil && opt.crash(c.line) {
			// As if killed after the buffer filled up: what follows the last
			// checkpoint is in the file, and no checkpoint says so.
			bw.Flush()
			return errStop
		}
		endLine = c.line
		if time.Since(lastTime) >= every || (opt.CheckpointLines > 0 && c.line-lastLine >= opt.CheckpointLines) {
			// st counts c only once emit returns.
			s := st
			s.add(&c.st)
			s.Bytes = c.offset
			lastTime, lastLine = time.Now(), c.line
			return save(c.offset, c.line, s)
		}
		return nil
	})
	if err != nil {
		// The last checkpoint stands; the output after it is cut off on resume.
		res.Stats = st
		return res, err
	}
	cp.Done = true
	if err := save(st.Bytes, endLine, st); err != nil {
		return res, err
	}
	res.Stats = st
	return res, nil
}

// loadCheckpoint returns the checkpoint at path if it may be resumed, else nil and,
// when there was one, why it is not.
func loadCheckpoint(path, key string, id fileIdent, size int64, partial string) (*checkpoint, string) {
	data, err := batch.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, fmt.Sprintf("checkpoint %s unreadable (%v): starting over", path, err)
	}
	var cp checkpoint
	if err := json.Unmarshal(data, &cp); err != nil || cp.Version != checkpointVersion {
		return nil, fmt.Sprintf("checkpoint %s is damaged: starting over", path)
	}
	switch {
	case cp.Key != key:
		return nil, fmt.Sprintf("checkpoint %s is of another selection (%s): starting over", path, cp.Key)
	case cp.Dev != id.dev || cp.Ino != id.ino || size < cp.End:
		return nil, fmt.Sprintf("checkpoint %s is of another history file (expire ran since?): starting over", path)
	}
	info, err := os.Stat(partial)
	if err != nil || info.Size() < cp.Output {
		if cp.Done && errors.Is(err, os.ErrNotExist) {
			return nil, "" // installed; the checkpoint outlived it by a crash
		}
		return nil, fmt.Sprintf("partial output %s shorter than its checkpoint: starting over", partial)
	}
	return &cp, ""
}

func writeCheckpoint(path string, cp *checkpoint) error {
	data, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("scan: checkpoint: %w", err)
	}
	if err := batch.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("scan: checkpoint %s: %w", path, err)
	}
	return nil
}

// QueueResult says what Queue did.
type QueueResult struct {
	FileResult
	Backlog string // the installed backlog; "" when nothing matched
}

// Queue scans into a new backlog of q's site: under the site's queue lock (a
// *batch.LockedError when held) it runs File on q.ScanPath(), installs the finished
// output as S.B.<hex> the way merge does (fsync, rename without replacing, fsync the
// directory), then removes the checkpoint. A killed Queue leaves S.scan and its
// checkpoint, never a backlog; the next Queue with the same selection resumes it.
func Queue(q batch.Queue, command string, opt Options) (QueueResult, error) {
	var res QueueResult
	lk, err := q.Lock(batch.QueueLock, command)
	if err != nil {
		return res, err
	}
	defer lk.Unlock()
	partial := q.ScanPath()
	res.FileResult, err = File(partial, opt)
	if err != nil {
		return res, err
	}
	if _, err := os.Stat(partial); err == nil {
		if res.Stats.Written == 0 {
			if err := os.Remove(partial); err != nil {
				return res, fmt.Errorf("scan: %w", err)
			}
		} else {
			name, err := q.Install(batch.KindBacklog, partial)
			if err != nil {
				return res, err
			}
			res.Backlog = name
		}
	}
	if err := os.Remove(CheckpointPath(partial)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("scan: %w", err)
	}
	return res, nil
}
