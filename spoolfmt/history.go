package spoolfmt

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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
	Line     int64     // 1-based line number in the file
	Arrived  time.Time // when innd accepted it (or rejected it: remembered without a token)
	Expires  time.Time // zero when not given ("-")
	Posted   time.Time // zero when not given
	Token    Token
	HasToken bool // the spool held the article when the line was last written
}

// ParseHistoryLine parses one history line, without its "\n".
func ParseHistoryLine(line string) (HistoryEntry, error) {
	var e HistoryEntry
	key, rest, ok := strings.Cut(line, "\t")
	if !ok || len(key) != 2+2*md5.Size || key[0] != '[' || key[len(key)-1] != ']' {
		return e, errors.New("history line: no [hash] field")
	}
	times, tok, hasTok := strings.Cut(rest, "\t")
	f := strings.Split(times, "~")
	if len(f) < 1 || len(f) > 3 {
		return e, fmt.Errorf("history line: bad times field %q", times)
	}
	dst := []*time.Time{&e.Arrived, &e.Expires, &e.Posted}
	for i, v := range f {
		if v == "-" || v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return e, fmt.Errorf("history line: bad time %q", v)
		}
		*dst[i] = time.Unix(n, 0)
	}
	if e.Arrived.IsZero() {
		return e, errors.New("history line: no arrival time")
	}
	if hasTok && tok != "" {
		t, err := ParseToken(tok)
		if err != nil {
			return e, fmt.Errorf("history line: %w", err)
		}
		e.Token, e.HasToken = t, true
	}
	return e, nil
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
				e, perr := ParseHistoryLine(string(line))
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
