package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"nxmit/batch"
)

// Outcomes written in the article log. All but deferred and requeued are final for the
// line; deferred and requeued lines went to the site's deferral file and come back in a
// later pass.
const (
	Accepted  = "accepted"  // the peer took it (239, 235)
	Refused   = "refused"   // the peer has it (438, 435)
	Rejected  = "rejected"  // the peer refused it after seeing it (439, 437)
	Missing   = "missing"   // no longer in the spool, or no sendable message-id
	Malformed = "malformed" // the queue line could not be parsed
	Deferred  = "deferred"  // the peer said later (431, 436): in S.defer
	Requeued  = "requeued"  // the article could not be read now: in S.defer
	Filtered  = "filtered"  // excluded by the site's feed shaping (hashfeed, max-crosspost, ...): never sent
)

// An Entry is one line of the article log:
//
//	TIME SITE HOST OUTCOME MESSAGE-ID ARTICLE CONN BYTES CODE TEXT
//
// TIME is RFC 3339 with milliseconds; ARTICLE is the storage token or article path of
// the queue line; CONN the connection number (0: decided without the peer); BYTES the
// article bytes sent (0 when not sent); CODE the peer's reply code and TEXT its text, or
// the reason for missing, malformed and requeued lines. Empty fields are "-"; TEXT, last,
// may hold spaces.
type Entry struct {
	Time      time.Time
	Site      string
	Host      string
	Outcome   string
	MessageID string
	Article   string
	Conn      int
	Bytes     int
	Code      int
	Text      string
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func field(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			b = append(b, '_') // a field never holds a separator
		} else {
			b = append(b, c)
		}
	}
	return b
}

// AppendText appends e as a log line, with its "\n".
func (e *Entry) AppendText(b []byte) []byte {
	b = e.Time.AppendFormat(b, timeLayout)
	b = append(b, ' ')
	b = field(b, e.Site)
	b = append(b, ' ')
	b = field(b, e.Host)
	b = append(b, ' ')
	b = field(b, e.Outcome)
	b = append(b, ' ')
	b = field(b, e.MessageID)
	b = append(b, ' ')
	b = field(b, e.Article)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(e.Conn), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(e.Bytes), 10)
	b = append(b, ' ')
	if e.Code == 0 {
		b = append(b, '-')
	} else {
		b = strconv.AppendInt(b, int64(e.Code), 10)
	}
	b = append(b, ' ')
	for i := 0; i < len(e.Text); i++ {
		if c := e.Text[i]; c < ' ' || c == 0x7f {
			b = append(b, ' ') // one entry, one line
		} else {
			b = append(b, c)
		}
	}
	return append(b, '\n')
}

// ParseEntry parses one article log line, without its "\n".
func ParseEntry(line string) (Entry, error) {
	f := strings.SplitN(line, " ", 10)
	if len(f) < 9 {
		return Entry{}, fmt.Errorf("article log: %d fields, want 10", len(f))
	}
	for i, v := range f[:9] {
		if v == "" {
			return Entry{}, fmt.Errorf("article log: field %d empty", i+1)
		}
	}
	var e Entry
	var err error
	if e.Time, err = time.Parse(time.RFC3339Nano, f[0]); err != nil {
		return e, fmt.Errorf("article log: bad time %q", f[0])
	}
	dash := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	e.Site, e.Host, e.Outcome, e.MessageID, e.Article = dash(f[1]), dash(f[2]), f[3], dash(f[4]), dash(f[5])
	switch e.Outcome {
	case Accepted, Refused, Rejected, Missing, Malformed, Deferred, Requeued, Filtered:
	default:
		return e, fmt.Errorf("article log: unknown outcome %q", e.Outcome)
	}
	if e.Conn, err = strconv.Atoi(f[6]); err != nil {
		return e, fmt.Errorf("article log: bad connection %q", f[6])
	}
	if e.Bytes, err = strconv.Atoi(f[7]); err != nil {
		return e, fmt.Errorf("article log: bad bytes %q", f[7])
	}
	if f[8] != "-" {
		if e.Code, err = strconv.Atoi(f[8]); err != nil {
			return e, fmt.Errorf("article log: bad code %q", f[8])
		}
	}
	if len(f) == 10 {
		e.Text = f[9]
	}
	return e, nil
}

// A Log appends entries to the article log. Its name may hold strftime-like %Y %m %d
// %H (and %% for a '%'): a new file is started when the name changes. With MaxSize set,
// a file that reached it is renamed FILE.1 (replacing the previous FILE.1) and a new
// one started. Several processes may share one log: every batch is one write(2) with
// O_APPEND, so lines never interleave.
type Log struct {
	pattern string
	maxSize int64
	now     func() time.Time

	mu   sync.Mutex
	f    *os.File
	name string
	buf  []byte
}

// OpenLog opens (creating it if needed) the article log named by pattern.
func OpenLog(pattern string, maxSize int64) (*Log, error) {
	if pattern == "" {
		return nil, errors.New("article log: empty file name")
	}
	l := &Log{pattern: pattern, maxSize: maxSize, now: time.Now}
	if err := l.open(l.now()); err != nil {
		return nil, err
	}
	return l, nil
}

// LogName expands pattern's %Y %m %d %H %% for t.
func LogName(pattern string, t time.Time) string {
	if !strings.Contains(pattern, "%") {
		return pattern
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b.WriteByte(c)
			continue
		}
		i++
		switch pattern[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(pattern[i])
		}
	}
	return b.String()
}

// logGlob turns pattern into a glob matching every file it names (for reading).
func logGlob(pattern string) string {
	r := strings.NewReplacer("%Y", "[0-9][0-9][0-9][0-9]", "%m", "[0-9][0-9]", "%d", "[0-9][0-9]", "%H", "[0-9][0-9]", "%%", "%")
	return r.Replace(pattern)
}

func (l *Log) open(t time.Time) error {
	name := LogName(l.pattern, t)
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	// Never through a link: the log's directory is news' (see docs/SECURITY.md).
	f, err := batch.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("article log: %w", err)
	}
	l.f, l.name = f, name
	return nil
}

// Write appends the entries with one write. It is safe for concurrent use.
func (l *Log) Write(es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if LogName(l.pattern, now) != l.name {
		if err := l.open(now); err != nil {
			return err
		}
	}
	b := l.buf[:0]
	for i := range es {
		b = es[i].AppendText(b)
	}
	l.buf = b
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("article log %s: %w", l.name, err)
	}
	if l.maxSize > 0 {
		if fi, err := l.f.Stat(); err == nil && fi.Size() >= l.maxSize {
			return l.rotate(fi, now)
		}
	}
	return nil
}

// rotate renames a full log to NAME.1, unless another process did it first (the name
// then holds a newer file), and starts a new one.
func (l *Log) rotate(mine os.FileInfo, now time.Time) error {
	if cur, err := os.Stat(l.name); err == nil && os.SameFile(cur, mine) {
		if err := os.Rename(l.name, l.name+".1"); err != nil {
			return fmt.Errorf("article log: rotate %s: %w", l.name, err)
		}
	}
	return l.open(now)
}

// Close closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LogFiles returns the files an article log named by pattern may have written, oldest
// first: the dated names in order, then for a size-rotated log NAME.1 and NAME.
func LogFiles(pattern string) []string {
	if strings.Contains(pattern, "%") {
		names, _ := filepath.Glob(logGlob(pattern))
		return names // Glob sorts: the date fields sort by time
	}
	var out []string
	for _, n := range []string{pattern + ".1", pattern} {
		if _, err := os.Stat(n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Find returns the entries of the article log files that name key (a message-id or a
// token) for site (any site when empty), in the order written, with the file and line
// of each.
func Find(files []string, key, site string) ([]Found, error) {
	var out []Found
	for _, name := range files {
		f, err := batch.OpenFile(name, os.O_RDONLY, 0)
		if errors.Is(err, os.ErrNotExist) {
			continue // rotated away meanwhile
		}
		if err != nil {
			return out, err
		}
		err = batch.Grep(f, []byte(key), func(lineNo int64, line []byte) bool {
			e, err := ParseEntry(string(line))
			if err == nil && (e.MessageID == key || e.Article == key) && (site == "" || e.Site == site) {
				out = append(out, Found{Entry: e, Path: name, Line: lineNo})
			}
			return true
		})
		f.Close()
		if err != nil {
			return out, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return out, nil
}

// Found is an article log entry with where it was read.
type Found struct {
	Entry
	Path string
	Line int64
}
