package batch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// maxNameTries bounds the search for a free name, one second at a time.
const maxNameTries = 1 << 16

// Create writes a new queue file of kind k atomically and returns its path.
// Write receives the destination (buffered, and zstd-compressing when
// compress is set) and must write whole lines, each ending in "\n". The data
// goes to NAME.tmp in the queue's directory; it is flushed and fsynced, then
// renamed to a free name S.<k>.<hex>[.zst] (the next second while the name is
// taken) without replacing any file, and the directory is fsynced.
//
// On any failure (from write, or ENOSPC while flushing) the temporary file
// is removed and no file is installed.
func (q Queue) Create(k Kind, compress bool, write func(io.Writer) error) (string, error) {
	start := time.Now()
	f, tmp, err := q.createTemp(k, start, compress)
	if err != nil {
		return "", err
	}
	if err := writeFile(f, compress, write); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	name, err := q.install(k, tmp, compress, start)
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return name, nil
}

// createTemp creates S.<k>.<hex>[.zst].tmp exclusively; a name in use (by
// a concurrent writer, or left by a crash) moves on to the next second.
func (q Queue) createTemp(k Kind, t time.Time, compress bool) (*os.File, string, error) {
	for range maxNameTries {
		tmp := filepath.Join(q.Dir, q.Name(k, t, compress)+TempSuffix)
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			return f, tmp, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, "", fmt.Errorf("create %s file of site %s: %w", k, q.Site, err)
		}
		t = t.Add(time.Second)
	}
	return nil, "", fmt.Errorf("create %s file of site %s: no free name", k, q.Site)
}

func writeFile(f *os.File, compress bool, write func(io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 256<<10)
	var w io.Writer = bw
	var enc *zstd.Encoder
	if compress {
		var err error
		enc, err = zstd.NewWriter(bw, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		w = enc
	}
	if err := write(w); err != nil {
		if enc != nil {
			enc.Close()
		}
		return err
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// Install moves an already written and fsynced file (for example
// S.rotating, or a finished S.defer) to a new name S.<k>.<hex>, with the
// ".zst" suffix when the file starts with the zstd magic number, in the
// same atomic way as Create, and returns the new path. The file must be on
// the same file system as the queue.
func (q Queue) Install(k Kind, tmpPath string) (string, error) {
	var head [4]byte
	f, err := os.Open(tmpPath)
	if err != nil {
		return "", fmt.Errorf("install %s: %w", tmpPath, err)
	}
	n, _ := io.ReadFull(f, head[:])
	f.Close()
	name, err := q.install(k, tmpPath, compression(head[:n]) == "zstd", time.Now())
	if err != nil {
		return "", err
	}
	if d := filepath.Dir(tmpPath); filepath.Clean(d) != filepath.Clean(q.Dir) {
		if err := SyncDir(d); err != nil {
			return name, fmt.Errorf("install %s: %w", tmpPath, err)
		}
	}
	return name, nil
}

func (q Queue) install(k Kind, tmp string, compressed bool, t time.Time) (string, error) {
	for range maxNameTries {
		name := filepath.Join(q.Dir, q.Name(k, t, compressed))
		t = t.Add(time.Second)
		if k == KindBacklog {
			// A progress file left without its backlog would be taken
			// for the new file's progress.
			if _, err := os.Lstat(name + ProgressSuffix); err == nil {
				continue
			}
		}
		err := renameNoReplace(tmp, name)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("install %s: %w", tmp, err)
		}
		if err := SyncDir(q.Dir); err != nil {
			return name, fmt.Errorf("install %s: %w", name, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("install %s: no free %s name for site %s", tmp, k, q.Site)
}

// renameNoReplace renames oldpath to newpath, failing with an error
// wrapping os.ErrExist when newpath exists.
func renameNoReplace(oldpath, newpath string) error {
	err := renameat2NoReplace(oldpath, newpath)
	if errors.Is(err, errors.ErrUnsupported) {
		return linkRename(oldpath, newpath)
	}
	return err
}

// linkRename renames without replacing where renameat2 is missing: a hard
// link and an unlink. A crash in between leaves both names; the old one is
// a *.tmp (ignored), or S.rotating or S.defer, whose recovery then installs
// the same lines a second time (sent twice; the peer refuses the copies).
func linkRename(oldpath, newpath string) error {
	if err := os.Link(oldpath, newpath); err != nil {
		return err
	}
	return os.Remove(oldpath)
}

// SyncDir makes renames and removals in dir durable (an atomic rename is not durable
// until its directory is synced).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) {
		err = nil // file systems that cannot sync a directory
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
