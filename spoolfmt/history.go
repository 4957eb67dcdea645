package spoolfmt

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// History is INN's history file, pathdb/history (history(5)), as text lines
//
//	[HASH] TAB arrived~expires~posted TAB @TOKEN@
//	[HASH] TAB arrived~expires~posted
//
// HASH is the 32 upper-case hex digits of HashMessageID; arrived, expires and
// posted are Unix seconds, expires "-" when the article has no Expires header
// or was expired. A line without a token is a remembered Message-ID: the
// article is gone, its id is kept so that it is not accepted again. Older
// files (and hisv6's reader, which accepts them) may lack the posted and
// expires sub-fields.
//
// One parser (ParseHistoryLine) serves both readers: HistoryReader streams every
// line (nxmit scan), LookupHistory finds one Message-ID's line (nxmit trace).

// HistoryFileName is INN's history file in pathdb (INN 2.7; 2.8 adds pathhistory).
const HistoryFileName = "history"

// HistoryPath returns the history file conf describes.
func HistoryPath(conf *InnConf) string { return filepath.Join(conf.PathDB, HistoryFileName) }

// HashMessageID returns the MD5 hash INN keys its history by (lib/hash.c HashMessageID):
// the message-id is hashed as written, except that the part from the first '@' on is
// lower-cased, since domains are case-insensitive; for <postmaster@...> everything
// after the '<' is, as RFC 822 wants.
func HashMessageID(mid string) [md5.Size]byte {
	b := []byte(mid)
	if at := bytes.IndexByte(b, '@'); at >= 0 {
		from := at
		if at-1 == len("postmaster") && strings.EqualFold(string(b[1:at]), "postmaster") {
			from = 0
		}
		for i := from + 1; i < len(b); i++ {
			if c := b[i]; 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
	}
	return md5.Sum(b)
}

// HistoryKey returns the first field of mid's history line: "[" + the hash in upper-case
// hex + "]", as INN's HashToText writes it.
func HistoryKey(mid string) string {
	h := HashMessageID(mid)
	return fmt.Sprintf("[%X]", h[:])
}

// A HistoryEntry is one line of INN's text history file (hisv6):
// "[HASH]\tARRIVED~EXPIRES~POSTED\tTOKEN", where EXPIRES may be "-" and TOKEN is absent
// once the article is gone from the spool but its message-id is still remembered.
type HistoryEntry struct {
	Line     int64     // 1-based line number in the file (set by the readers, not ParseHistoryLine)
	Arrived  time.Time // when innd accepted it (or rejected it: remembered without a token)
	Expires  time.Time // zero when not given ("-")
	Posted   time.Time // zero when not given
	Token    Token
	HasToken bool // the spool held the article when the line was last written
	// Hash is HashMessageID of the article's Message-ID, the line's key.
	Hash [md5.Size]byte `json:"-"`
}

// HistoryError is a malformed history line: "FILE:LINE: history line: reason", or
// "history line: reason" where the file is not known.
type HistoryError struct {
	File   string
	Line   int64 // 1-based; 0 when not known
	Reason string
}

// Error returns the message.
func (e *HistoryError) Error() string {
	if e.File == "" {
		return "history line: " + e.Reason
	}
	return fmt.Sprintf("%s:%d: history line: %s", e.File, e.Line, e.Reason)
}

// ParseHistoryLine parses one history line, without its "\n". A failure is a
// *HistoryError without file and line.
func ParseHistoryLine(line string) (HistoryEntry, error) {
	return parseHistoryLine([]byte(line))
}

// parseHistoryLine is ParseHistoryLine on the reader's buffer, without a copy.
func parseHistoryLine(b []byte) (HistoryEntry, error) {
	var e HistoryEntry
	bad := func(reason string) (HistoryEntry, error) {
		return HistoryEntry{}, &HistoryError{Reason: reason}
	}
	// [ + 32 hex + ] + TAB
	if len(b) < 34 || b[0] != '[' || b[33] != ']' {
		return bad("no [hash] field")
	}
	for i := range md5.Size {
		hi, ok1 := unhex(b[1+2*i])
		lo, ok2 := unhex(b[2+2*i])
		if !ok1 || !ok2 {
			return bad("hash is not 32 hex digits")
		}
		e.Hash[i] = hi<<4 | lo
	}
	if len(b) == 34 || b[34] != '\t' {
		return bad("no tab after the hash")
	}
	rest := b[35:]
	dates := rest
	var tok []byte
	if i := bytes.IndexByte(rest, '\t'); i >= 0 {
		dates, tok = rest[:i], rest[i+1:]
	}
	// arrived[~expires[~posted]]
	var fields [3][]byte
	n := 0
	for f := range bytes.SplitSeq(dates, []byte{'~'}) {
		if n == 3 {
			return bad("more than three date sub-fields")
		}
		fields[n] = f
		n++
	}
	dst := [3]*time.Time{&e.Arrived, &e.Expires, &e.Posted}
	what := [3]string{"arrival time", "expiry time", "posting time"}
	for i := range n {
		v, ok, err := historyTime(fields[i], i > 0)
		if err != nil {
			return bad(what[i] + ": " + err.Error())
		}
		if ok {
			*dst[i] = time.Unix(v, 0)
		}
	}
	if len(tok) > 0 {
		t, err := ParseToken(string(tok))
		if err != nil {
			return bad(err.Error())
		}
		e.Token, e.HasToken = t, true
	}
	return e, nil
}

// historyTime parses a decimal time_t; where optional, "-" and "" give ok false.
func historyTime(b []byte, optional bool) (v int64, ok bool, err error) {
	if optional && (len(b) == 0 || (len(b) == 1 && b[0] == '-')) {
		return 0, false, nil
	}
	if len(b) == 0 {
		return 0, false, errors.New("not a number of seconds")
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false, fmt.Errorf("%q is not a number of seconds", clip(string(b)))
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, false, errors.New("number of seconds out of range")
		}
		v = v*10 + d
	}
	return v, true, nil
}

// AppendHistoryLine appends e in history-file form (without "\n") to dst, as
// hisv6 writes it, a zero time as "-"; used by tests and benchmarks that build
// histories.
func AppendHistoryLine(dst []byte, e HistoryEntry) []byte {
	const hexdigits = "0123456789ABCDEF"
	dst = append(dst, '[')
	for _, c := range e.Hash {
		dst = append(dst, hexdigits[c>>4], hexdigits[c&15])
	}
	dst = append(dst, ']', '\t')
	for i, t := range []time.Time{e.Arrived, e.Expires, e.Posted} {
		if i > 0 {
			dst = append(dst, '~')
		}
		if t.IsZero() {
			dst = append(dst, '-')
		} else {
			dst = strconv.AppendInt(dst, t.Unix(), 10)
		}
	}
	if e.HasToken {
		dst = append(dst, '\t')
		dst = append(dst, e.Token.String()...)
	}
	return dst
}

// LookupHistory scans INN's history file at path for mid's line, streaming it (a
// history file can be gigabytes; INN's dbz index is not read). It reports false when mid
// is not there. Errors name the file and line.
func LookupHistory(path, mid string) (HistoryEntry, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return HistoryEntry{}, false, err
	}
	defer f.Close()
	return lookupHistory(f, path, HistoryKey(mid))
}

func lookupHistory(r io.Reader, name, key string) (HistoryEntry, bool, error) {
	needle := []byte(key + "\t")
	br := bufio.NewReaderSize(r, 1<<20)
	var lineNo int64
	for {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull { // not a history line; skip it
			_, err = br.ReadSlice('\n')
			line = nil
		}
		if len(line) > 0 {
			lineNo++
			line = bytes.TrimSuffix(line, []byte{'\n'})
			if bytes.HasPrefix(line, needle) {
				e, perr := parseHistoryLine(line)
				if perr != nil {
					return e, false, fmt.Errorf("%s:%d: %w", name, lineNo, perr)
				}
				e.Line = lineNo
				return e, true, nil
			}
		}
		if err == io.EOF {
			return HistoryEntry{}, false, nil
		}
		if err != nil {
			return HistoryEntry{}, false, fmt.Errorf("read %s: %w", name, err)
		}
	}
}

// HistoryReader streams the lines of a history file from a given offset up
// to a given end, with constant memory. A trailing line without its "\n"
// (innd in the middle of appending it) is not returned.
type HistoryReader struct {
	r    *bufio.Reader
	name string
	off  int64 // offset just after the last line returned
	end  int64 // stop before this offset; < 0: at EOF
	line int64 // number of the last line returned
}

// NewHistoryReader returns a reader of the lines of r, which must be
// positioned at offset off, line number line (0 at the start of the file).
// name is used in errors. Lines starting at or after end (end < 0: no
// limit) are not read.
func NewHistoryReader(r io.Reader, name string, off, line, end int64) *HistoryReader {
	return &HistoryReader{r: bufio.NewReaderSize(r, 256<<10), name: name, off: off, end: end, line: line}
}

// Offset returns the offset just after the last line returned: where a
// resumed reader starts.
func (h *HistoryReader) Offset() int64 { return h.off }

// Line returns the number of the last line returned.
func (h *HistoryReader) Line() int64 { return h.line }

// Next returns the next entry. At the end it returns io.EOF. A malformed
// line gives a *HistoryError naming FILE:LINE, and the next call goes on
// with the following line; any other error is a read error.
func (h *HistoryReader) Next() (HistoryEntry, error) {
	if h.end >= 0 && h.off >= h.end {
		return HistoryEntry{}, io.EOF
	}
	b, err := h.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		n := int64(len(b))
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = h.r.ReadSlice('\n')
			n += int64(len(b))
		}
		if err == nil {
			h.off += n
			h.line++
			return HistoryEntry{}, &HistoryError{File: h.name, Line: h.line, Reason: "line too long"}
		}
	}
	if err != nil {
		if err == io.EOF {
			return HistoryEntry{}, io.EOF // an incomplete last line is left for later
		}
		return HistoryEntry{}, fmt.Errorf("read %s: %w", h.name, err)
	}
	h.off += int64(len(b))
	h.line++
	e, perr := parseHistoryLine(b[:len(b)-1])
	if perr != nil {
		he := perr.(*HistoryError)
		he.File, he.Line = h.name, h.line
		return HistoryEntry{}, he
	}
	e.Line = h.line
	return e, nil
}

// All iterates over the remaining entries: each entry with a nil error, a malformed
// line as a *HistoryError (the iteration goes on), a read error last. For example:
//
//	for e, err := range spoolfmt.NewHistoryReader(f, name, 0, 0, -1).All() {
//		if err != nil { ...; continue }
//		if e.HasToken { ... }
//	}
func (h *HistoryReader) All() iter.Seq2[HistoryEntry, error] {
	return func(yield func(HistoryEntry, error) bool) {
		for {
			e, err := h.Next()
			if err == io.EOF {
				return
			}
			var he *HistoryError
			if err != nil && !errors.As(err, &he) {
				yield(HistoryEntry{}, err)
				return
			}
			if !yield(e, err) {
				return
			}
		}
	}
}
