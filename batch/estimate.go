package batch

import (
	"bufio"
	"bytes"
	"io"
	"os"
)

// Estimate is the number of lines of a queue file, counted or estimated.
type Estimate struct {
	Lines   int64 // all lines
	Pending int64 // lines not blanked (nor recorded done): articles still to send
	Exact   bool
}

// Sampling bounds: a file this small is counted; a bigger one is sampled in windows
// spread over it (blanking proceeds from the front, so one window would mislead).
const (
	countLimit   = 256 << 10
	sampleWindow = 32 << 10
	sampleCount  = 8
	zstSample    = 1 << 20 // compressed bytes decompressed for an estimate
)

// EstimateFile counts or estimates the lines of a queue file.
func EstimateFile(f File) Estimate {
	fh, err := openRead(f.Path) // status reads what news wrote: no links
	if err != nil {
		return Estimate{}
	}
	defer fh.Close()
	if f.Compressed {
		return estimateCompressed(fh, f)
	}
	if f.Size <= countLimit {
		lines, pending, _ := countPending(fh)
		return Estimate{Lines: lines, Pending: pending, Exact: true}
	}
	var lines, pending, bytesIn int64
	buf := make([]byte, sampleWindow)
	for i := 0; i < sampleCount; i++ {
		off := f.Size * int64(i) / sampleCount
		n, _ := fh.ReadAt(buf, off)
		w := buf[:n]
		if off > 0 { // start at a line boundary
			j := bytes.IndexByte(w, '\n')
			if j < 0 {
				continue
			}
			w = w[j+1:]
		}
		if j := bytes.LastIndexByte(w, '\n'); j >= 0 {
			w = w[:j+1]
		} else {
			continue
		}
		l, p, _ := countPending(bytes.NewReader(w))
		lines, pending, bytesIn = lines+l, pending+p, bytesIn+int64(len(w))
	}
	if lines == 0 || bytesIn == 0 {
		return Estimate{}
	}
	total := f.Size * lines / bytesIn
	return Estimate{Lines: total, Pending: total * pending / lines}
}

// countPending counts the lines of r and those that are not blank.
func countPending(r io.Reader) (lines, pending int64, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	blank := true
	for {
		b, err := br.ReadSlice('\n')
		for _, c := range b {
			if c != ' ' && c != '\n' {
				blank = false
				break
			}
		}
		if err == bufio.ErrBufferFull {
			continue // a long line: keep reading it
		}
		if len(b) > 0 && b[len(b)-1] == '\n' {
			lines++
			if !blank {
				pending++
			}
			blank = true
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return lines, pending, err
		}
	}
}

// estimateCompressed decompresses a sample (or all) of a compressed backlog and scales
// by the compressed bytes it took; lines its progress file records as done are not
// pending.
func estimateCompressed(fh *os.File, f File) Estimate {
	lr := &io.LimitedReader{R: fh, N: zstSample}
	sc := NewScanner(lr, f.Path)
	var lines int64
	for sc.Scan() {
		lines++
	}
	readAll := sc.Err() == nil && lr.N > 0
	sc.Close()
	e := Estimate{Lines: lines, Exact: readAll}
	if !readAll {
		used := int64(zstSample) - lr.N
		if used <= 0 || lines == 0 {
			return Estimate{}
		}
		e.Lines = f.Size * lines / used
	}
	e.Pending = e.Lines - progressDone(ProgressPath(f.Path))
	if e.Pending < 0 {
		e.Pending = 0
	}
	return e
}

// progressDone reads how many lines a compressed backlog's progress file records as
// done: the lines below "next", less the holes; 0 when it cannot be read.
func progressDone(path string) int64 {
	f, err := openRead(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	next, holes, _, err := parseProgress(f)
	if err != nil || next <= 1 {
		return 0
	}
	return int64(next - 1 - len(holes))
}
