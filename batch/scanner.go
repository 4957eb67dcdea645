package batch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/zstd"
)

// Compression formats recognized by their magic numbers.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// maxZstdWindow bounds the decoder's memory whatever a file's frame header
// asks for; 128 MiB still admits "zstd --long" files.
const maxZstdWindow = 128 << 20

// scanBufSize is the default read buffer. It must exceed MaxLineLen+1 so a
// line that innxmit accepts always fits in the buffer whole.
const scanBufSize = 64 << 10

// compression reports which compression, if any, starts with head.
// A zstd skippable frame (magic 0x184D2A5?) also means zstd, as pzstd and
// the seekable format begin with one.
func compression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		return "zstd"
	case len(head) >= 4 && head[0]&0xf0 == 0x50 && head[1] == 0x2a && head[2] == 0x4d && head[3] == 0x18:
		return "zstd"
	case bytes.HasPrefix(head, gzipMagic):
		return "gzip"
	}
	return ""
}

// A Scanner reads batch lines from a stream, parsing each with ParseLine. A
// stream starting with a zstd (or gzip) magic number is decompressed
// transparently. Memory stays bounded whatever the input: a line longer than
// MaxLineLen is skipped up to its newline without being buffered, and
// reported as a *LineError wrapping ErrLongLine.
//
// Like bufio.Scanner, call Scan until it returns false, then check Err:
//
//	s := batch.NewScanner(r, name)
//	defer s.Close()
//	for s.Scan() {
//		switch err := s.LineErr(); {
//		case err == nil:
//			use(s.Line())
//		case errors.Is(err, batch.ErrBlank):
//		default:
//			log.Print(err) // "NAME:LINE: reason"
//		}
//	}
//	if err := s.Err(); err != nil { ... }
type Scanner struct {
	name string
	src  *bufio.Reader // raw input, for the magic peek
	br   *bufio.Reader // decompressed lines
	zr   *zstd.Decoder
	gz   *gzip.Reader
	comp string

	started bool
	lineNo  int
	off     int64 // offset of the next line
	lineOff int64
	lineLen int
	raw     []byte
	line    Line
	lineErr error
	err     error
}

// NewScanner returns a Scanner reading r. Name is used in error messages
// ("NAME:LINE: reason"); use the file's path, or "-" for stdin.
func NewScanner(r io.Reader, name string) *Scanner {
	return newScannerSize(r, name, scanBufSize)
}

func newScannerSize(r io.Reader, name string, size int) *Scanner {
	if size < MaxLineLen+2 {
		size = MaxLineLen + 2
	}
	return &Scanner{name: name, src: bufio.NewReaderSize(r, size)}
}

// start peeks at the first bytes and sets up decompression.
func (s *Scanner) start() error {
	s.started = true
	head, err := s.src.Peek(4)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("read %s: %w", s.name, err)
	}
	s.comp = compression(head)
	switch s.comp {
	case "zstd":
		zr, err := zstd.NewReader(s.src,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutines to leak, no read-ahead memory
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return fmt.Errorf("read %s: zstd: %w", s.name, err)
		}
		s.zr = zr
		s.br = bufio.NewReaderSize(zr, s.src.Size())
	case "gzip":
		gz, err := gzip.NewReader(s.src)
		if err != nil {
			return fmt.Errorf("read %s: gzip: %w", s.name, err)
		}
		s.gz = gz
		s.br = bufio.NewReaderSize(gz, s.src.Size())
	default:
		s.br = s.src
	}
	return nil
}

// Compressed returns "zstd" or "gzip" when the stream is compressed, else "".
// It is known after the first call to Scan.
func (s *Scanner) Compressed() string { return s.comp }

// Scan advances to the next line, blank and malformed ones included. It
// returns false at the end of the input or on a read error (see Err).
func (s *Scanner) Scan() bool {
	if s.err != nil {
		return false
	}
	if !s.started {
		if err := s.start(); err != nil {
			s.err = err
			return false
		}
	}
	s.raw, s.line, s.lineErr = nil, Line{}, nil
	s.lineOff = s.off

	b, err := s.br.ReadSlice('\n')
	n := len(b)
	switch {
	case err == nil:
		s.raw = b[:n-1]
	case errors.Is(err, bufio.ErrBufferFull):
		// Longer than the buffer, so far longer than MaxLineLen: discard
		// to the newline in buffer-sized pieces.
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = s.br.ReadSlice('\n')
			n += len(b)
		}
		if err != nil && err != io.EOF {
			s.err = s.readErr(err)
			return false
		}
		s.lineNo++
		full := n
		if err == nil {
			full-- // the newline
		}
		s.lineLen = full
		s.off += int64(n)
		s.lineErr = s.lineError("line too long ("+strconv.Itoa(full)+" bytes, max "+strconv.Itoa(MaxLineLen)+"), skipped", ErrLongLine)
		return true
	case err == io.EOF:
		if n == 0 {
			return false
		}
		s.raw = b
	default:
		s.err = s.readErr(err)
		return false
	}

	s.lineNo++
	s.lineLen = len(s.raw)
	s.off += int64(n)
	s.line, s.lineErr = ParseLine(s.raw)
	if le, ok := s.lineErr.(*LineError); ok {
		le.File, le.Line = s.name, s.lineNo
		if le.Err == ErrLongLine {
			le.Reason += ", skipped"
			s.raw = nil
		} else {
			le.Text = append([]byte(nil), s.raw...)
		}
	}
	if err == io.EOF {
		// A writer may have died mid-line: never act on what is there.
		s.line = Line{}
		s.lineErr = s.lineError("incomplete last line (no newline at end of input), ignored", ErrPartialLine)
		s.lineErr.(*LineError).Text = append([]byte(nil), s.raw...)
	}
	return true
}

func (s *Scanner) lineError(reason string, class error) error {
	return &LineError{File: s.name, Line: s.lineNo, Reason: reason, Err: class}
}

func (s *Scanner) readErr(err error) error {
	if s.comp != "" {
		return fmt.Errorf("read %s: %s: line %d: %w", s.name, s.comp, s.lineNo+1, err)
	}
	return fmt.Errorf("read %s: %w", s.name, err)
}

// LineNo returns the current line's 1-based number.
func (s *Scanner) LineNo() int { return s.lineNo }

// Offset returns the byte offset of the current line in the (decompressed)
// stream.
func (s *Scanner) Offset() int64 { return s.lineOff }

// Len returns the length of the current line without its "\n".
func (s *Scanner) Len() int { return s.lineLen }

// Bytes returns the current line without its "\n". The slice is valid only
// until the next call to Scan. It is nil for a line longer than MaxLineLen.
func (s *Scanner) Bytes() []byte { return s.raw }

// Line returns the current line parsed; it is valid when LineErr is nil.
func (s *Scanner) Line() Line { return s.line }

// LineErr returns nil for a good line, ErrBlank for a blank one, and a
// *LineError naming the input and line number for a malformed one.
func (s *Scanner) LineErr() error { return s.lineErr }

// Err returns the read or decompression error that stopped Scan, if any.
func (s *Scanner) Err() error { return s.err }

// Close releases the decompressor. It does not close the underlying reader.
func (s *Scanner) Close() error {
	if s.zr != nil {
		s.zr.Close()
		s.zr = nil
	}
	if s.gz != nil {
		err := s.gz.Close()
		s.gz = nil
		return err
	}
	return nil
}
