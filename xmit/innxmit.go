package xmit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"nxmit/batch"
)

// An InnxmitBatch is one batch file given to innxmit (nntpsend's SITE.nntp), sent and
// then rewritten with what was not done, crash-safe: deferred lines are written to
// BATCH.nxmit-defer before they are blanked in the batch, and a leftover of a crashed
// run goes back into the batch first.
type InnxmitBatch struct {
	path   string
	f      *os.File
	defers *deferFile
	file   batch.File
	always bool // rewrite even when nothing was done (innxmit -a)
}

// OpenInnxmitBatch opens the batch file at path and takes innxmit's lock on it, so that
// a real innxmit and nxmit exclude each other.
//
// A batch that no longer exists while its BATCH.nxmit-defer does was removed by a run
// that crashed before writing the deferred lines back: they become the batch again.
func OpenInnxmitBatch(path string) (*InnxmitBatch, error) {
	f, err := batch.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if rerr := recoverStrandedDefer(path); rerr != nil {
			return nil, rerr
		}
		f, err = batch.OpenFile(path, os.O_RDWR, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %v", path, err)
	}
	if err := lockBatch(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s: %v", path, err)
	}
	return &InnxmitBatch{path: path, f: f}, nil
}

// OpenDeferrals opens the batch's deferral file, first appending a leftover of a
// crashed run to the batch.
func (b *InnxmitBatch) OpenDeferrals() error {
	d, err := openDeferFile(b.path)
	if err != nil {
		return err
	}
	b.defers = d
	fi, err := os.Stat(b.path)
	if err != nil {
		return err
	}
	b.file = batch.File{Path: b.path, Kind: batch.KindBacklog, Created: fi.ModTime(), Size: fi.Size()}
	return nil
}

// Send sends the batch with opt (its queue, locks and deferral log are not used: the
// batch file is the only file read, its deferral file the only one written).
func (b *InnxmitBatch) Send(ctx context.Context, opt Options) (Stats, error) {
	opt.files = []batch.File{b.file}
	opt.defers = b.defers
	opt.noLock = true
	return Send(ctx, opt)
}

// DiscardDeferrals closes and removes the deferral file (nothing was sent).
func (b *InnxmitBatch) DiscardDeferrals() error { return b.defers.remove() }

// Close closes the deferral file and releases the batch's lock.
func (b *InnxmitBatch) Close() {
	if b.defers != nil {
		b.defers.close()
	}
	b.f.Close()
}

// RewriteResult says what was left in the batch.
type RewriteResult struct {
	Unsent  int64 // lines still to be offered (the transfer stopped early)
	Changed bool  // the file was rewritten or removed
}

// Rewrite replaces the batch with its lines not done, then the deferred lines, or
// removes it when nothing is left. When nothing was done the batch is left exactly as it
// is, unless always is set (innxmit -a): it is then rewritten anyway, without the lines
// innxmit drops (too long, a partial last line).
func (b *InnxmitBatch) Rewrite(always bool) (RewriteResult, error) {
	b.always = always
	return b.rewriteFiltered(nil)
}

// Purge rewrites the batch keeping only the lines for which keep is true (innxmit -p);
// malformed lines are dropped.
func (b *InnxmitBatch) Purge(keep func(batch.Line) bool) (RewriteResult, error) {
	return b.rewriteFiltered(keep)
}

// rewriteFiltered is Rewrite, keeping only the lines for which keep is true when keep
// is set (and then also the malformed lines are dropped).
func (b *InnxmitBatch) rewriteFiltered(keep func(batch.Line) bool) (RewriteResult, error) {
	var res RewriteResult
	defers := b.defers
	dir := filepath.Dir(b.path)
	tmp, err := os.CreateTemp(dir, "bch")
	if err != nil {
		return res, fmt.Errorf("rewrite %s: %w", b.path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	w := bufio.NewWriterSize(tmp, 64<<10)
	var blanks int64
	in, err := batch.OpenFile(b.path, os.O_RDONLY, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Every line was done and the batch removed; only deferrals may remain.
		res.Changed = true
	case err != nil:
		return res, fmt.Errorf("rewrite %s: %w", b.path, err)
	default:
		sc := batch.NewScanner(in, b.path)
		for sc.Scan() {
			b := sc.Bytes()
			lerr := sc.LineErr()
			switch {
			case errors.Is(lerr, batch.ErrBlank):
				blanks++
				continue
			case errors.Is(lerr, batch.ErrLongLine), errors.Is(lerr, batch.ErrPartialLine):
				blanks++ // dropped, as innxmit drops them
				continue
			case keep != nil && (lerr != nil || !keep(sc.Line())):
				blanks++
				continue
			}
			res.Unsent++
			w.Write(b)
			w.WriteByte('\n')
		}
		serr := sc.Err()
		sc.Close()
		in.Close()
		if serr != nil {
			return res, fmt.Errorf("rewrite %s: %w", b.path, serr)
		}
	}
	kept := res.Unsent
	if keep != nil {
		res.Unsent = 0
	}
	deferred, err := defers.copyTo(w)
	if err != nil {
		return res, err
	}
	if blanks == 0 && deferred == 0 && !res.Changed && !b.always {
		// Nothing was done: leave the batch exactly as it is.
		return res, defers.remove()
	}
	res.Changed = true
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("rewrite %s: %w", b.path, err)
	}
	if kept+deferred == 0 {
		tmp.Close()
		os.Remove(tmpName)
		tmp = nil
		if err := os.Remove(b.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("remove %s: %w", b.path, err)
		}
		batch.SyncDir(dir) // best effort, as before: the rename is done
		return res, defers.remove()
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("rewrite %s: %w", b.path, err)
	}
	// Keep the batch's mode (nntpsend makes it 0664 through its umask).
	mode := os.FileMode(0o664)
	if fi, err := os.Stat(b.path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp.Chmod(mode)
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("rewrite %s: %w", b.path, err)
	}
	tmp = nil
	if err := os.Rename(tmpName, b.path); err != nil {
		os.Remove(tmpName)
		return res, fmt.Errorf("rewrite %s: %w", b.path, err)
	}
	batch.SyncDir(dir) // best effort, as before: the rename is done
	return res, defers.remove()
}

// deferFile holds the deferred lines of an innxmit run in BATCH.nxmit-defer next to the
// batch, written before each line is blanked in the batch, so that a crash loses
// nothing: the next run on the batch appends a leftover to the batch first.
type deferFile struct {
	path string
	f    *os.File
	n    int64
}

// DeferSuffix is appended to a batch's name for the file of its deferred lines.
const DeferSuffix = ".nxmit-defer"

// recoverStrandedDefer makes a stranded BATCH.nxmit-defer the batch at batchPath, which
// does not exist: its partial last line cut, the file linked as the batch (never over a
// batch made meanwhile) and then removed. A crash between the link and the removal
// leaves both names on one file, which openDeferFile recognizes.
func recoverStrandedDefer(batchPath string) error {
	dpath := batchPath + DeferSuffix
	f, err := batch.OpenFile(dpath, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recover %s: %w", dpath, err)
	}
	data, err := io.ReadAll(f)
	if err == nil {
		if i := strings.LastIndexByte(string(data), '\n'); i < len(data)-1 {
			err = f.Truncate(int64(i + 1)) // a partial last line was never acted on
		}
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil && strings.TrimSpace(string(data)) == "" {
		return os.Remove(dpath) // nothing to recover
	}
	if err == nil {
		if err = os.Link(dpath, batchPath); errors.Is(err, os.ErrExist) {
			return nil // a new batch appeared: openDeferFile appends the leftover to it
		}
	}
	if err == nil {
		err = os.Remove(dpath)
	}
	if err == nil {
		err = batch.SyncDir(filepath.Dir(batchPath))
	}
	if err != nil {
		return fmt.Errorf("recover %s: %w", dpath, err)
	}
	return nil
}

func openDeferFile(batchPath string) (*deferFile, error) {
	d := &deferFile{path: batchPath + DeferSuffix}
	// Both names on one file: a recovery crashed before removing the deferral name.
	if bi, err := os.Stat(batchPath); err == nil {
		if di, err := os.Stat(d.path); err == nil && os.SameFile(bi, di) {
			if err := os.Remove(d.path); err != nil {
				return nil, fmt.Errorf("recover %s: %w", d.path, err)
			}
		}
	}
	// A leftover from a crashed run: its lines go back into the batch.
	if data, err := batch.ReadFile(d.path); err == nil && len(data) > 0 {
		if i := strings.LastIndexByte(string(data), '\n'); i < len(data)-1 {
			data = data[:i+1] // a partial last line was never acted on
		}
		bf, err := batch.OpenFile(batchPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("recover %s: %w", d.path, err)
		}
		_, werr := bf.Write(data)
		serr := bf.Sync()
		bf.Close()
		if err := errors.Join(werr, serr); err != nil {
			return nil, fmt.Errorf("recover %s: %w", d.path, err)
		}
	}
	f, err := batch.OpenFile(d.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o664)
	if err != nil {
		return nil, fmt.Errorf("deferral file: %w", err)
	}
	d.f = f
	return d, nil
}

// Append implements DeferSink: one write(2) per line, so it is in the kernel
// before the line is blanked in the batch.
func (d *deferFile) Append(l batch.Line) error {
	b := l.Append(make([]byte, 0, 128))
	b = append(b, '\n')
	if _, err := d.f.Write(b); err != nil {
		return err
	}
	d.n++
	return nil
}

// Sync implements DeferSink.
func (d *deferFile) Sync() error { return d.f.Sync() }

func (d *deferFile) copyTo(w io.Writer) (int64, error) {
	if d.n == 0 {
		return 0, nil
	}
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := io.Copy(w, d.f); err != nil {
		return 0, fmt.Errorf("deferral file: %w", err)
	}
	return d.n, nil
}

func (d *deferFile) remove() error {
	d.close()
	if err := os.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (d *deferFile) close() {
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}
