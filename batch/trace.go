package batch

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// grepChunk is how much Grep reads at a time: large enough that bytes.Index and
// bytes.Count (vectorized) do the work, not the loop around them.
const grepChunk = 1 << 20

// Grep streams r and calls fn for every line that contains needle, with the line's
// 1-based number and its bytes without "\n" (valid only during the call). It scans the
// way grep does, a megabyte at a time, so a million-line queue costs little more than
// reading it; lines longer than a chunk are not matched. fn returns false to stop.
func Grep(r io.Reader, needle []byte, fn func(lineNo int64, line []byte) bool) error {
	if len(needle) == 0 {
		return errors.New("grep: empty needle")
	}
	buf := make([]byte, grepChunk+MaxLineLen+2)
	var lineNo int64 = 1 // number of the first line in buf
	keep := 0            // bytes of a partial line carried to the next read
	eof := false
	for !eof {
		n, err := io.ReadFull(r, buf[keep:keep+grepChunk])
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			eof = true
		case err != nil:
			return err
		}
		data := buf[:keep+n]
		end := len(data)
		if !eof {
			end = bytes.LastIndexByte(data, '\n') + 1 // complete lines only
		}
		search := data[:end]
		pos := 0
		for {
			i := bytes.Index(search[pos:], needle)
			if i < 0 {
				break
			}
			i += pos
			start := bytes.LastIndexByte(search[:i], '\n') + 1
			stop := bytes.IndexByte(search[i:], '\n')
			if stop < 0 {
				stop = len(search)
			} else {
				stop += i
			}
			lineNo += int64(bytes.Count(search[pos:start], []byte{'\n'}))
			if !fn(lineNo, search[start:stop]) {
				return nil
			}
			pos = stop
			if pos < len(search) {
				pos++ // past the "\n"
				lineNo++
			}
		}
		lineNo += int64(bytes.Count(search[pos:], []byte{'\n'}))
		keep = copy(buf, data[end:])
		if keep > MaxLineLen+1 {
			keep = 0 // a line longer than any valid one: drop it, as the Scanner does
		}
	}
	return nil
}

// A Hit is a line of a queue file that names an article.
type Hit struct {
	Path string
	Line int64
	Text string // the line, without "\n"
	// Done is set for a line of a compressed backlog that its progress file records as
	// sent (such lines are not blanked).
	Done bool
}

// Find returns the lines of the queue file at path whose token/path field or
// message-id field equals key. Files are scanned grep-like, compressed ones as they are
// decompressed. A missing file has no hits.
func Find(path, key string) ([]Hit, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hits []Hit
	match := func(lineNo int64, line []byte) {
		l, err := ParseLine(line)
		if err != nil || (l.Article != key && l.MessageID != key) {
			return
		}
		hits = append(hits, Hit{Path: path, Line: lineNo, Text: string(line)})
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var r io.Reader = f
	switch compression(head[:n]) {
	case "zstd":
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("read %s: zstd: %w", path, err)
		}
		defer zr.Close()
		r = zr
	case "gzip":
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: gzip: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	err = Grep(r, []byte(key), func(lineNo int64, line []byte) bool {
		match(lineNo, line)
		return true
	})
	if err != nil {
		return hits, fmt.Errorf("read %s: %w", path, err)
	}
	if len(hits) > 0 {
		if fi, err := f.Stat(); err == nil {
			if r, _, err := loadResume(path, fi); err == nil {
				for i := range hits {
					hits[i].Done = r.done(int(hits[i].Line))
				}
			}
		}
	}
	return hits, nil
}

// Pending calls fn with the lines of the queue file at path that are still to send, in
// order: blank, malformed, and (for a compressed backlog) recorded-done lines are
// skipped. fn returns false to stop. It reads only, and never changes the file.
func Pending(path string, fn func(lineNo int, l Line) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r resumePoint
	if fi, err := f.Stat(); err == nil {
		r, _, _ = loadResume(path, fi)
	}
	sc := NewScanner(f, path)
	defer sc.Close()
	for sc.Scan() {
		if sc.LineErr() != nil || r.done(sc.LineNo()) {
			continue
		}
		if !fn(sc.LineNo(), sc.Line()) {
			return nil
		}
	}
	return sc.Err()
}
