package batch

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"

	"nxmit/spoolfmt"
)

// Limits of a batch line, from innxmit (inn-formats §4).
const (
	// MaxLineLen is the longest line accepted, without its "\n": innxmit
	// reads with a 32768-byte buffer that must also hold the newline.
	MaxLineLen = 32767
	// MaxMessageIDLen is the longest Message-ID innxmit sends.
	MaxMessageIDLen = 250
	// MaxPathLen is the longest article path: innxmit's SPOOLNAMEBUFF is
	// 512 including the terminating NUL, and a longer one aborts its run.
	MaxPathLen = 511
)

// ErrBlank is returned by ParseLine for an empty line or one made only of
// spaces: a line that was already processed and blanked in place. It is not
// a malformation and is not reported.
var ErrBlank = errors.New("blank line")

// Sentinels wrapped by a *LineError for the classes callers branch on.
var (
	// ErrLongLine: the line is longer than MaxLineLen; its bytes are not kept.
	ErrLongLine = errors.New("line too long")
	// ErrPartialLine: the input ended with a line lacking its "\n".
	ErrPartialLine = errors.New("incomplete last line")
)

// A LineError describes a malformed batch line. Its message has the form
// "FILE:LINE: reason" so that an administrator can find the line.
type LineError struct {
	File   string // input name; "" when not known (ParseLine alone)
	Line   int    // 1-based line number; 0 when not known
	Reason string // what is wrong, for humans
	Err    error  // ErrLongLine, ErrPartialLine, or nil
	// Text is the line as read, for the quarantine S.bad (nil for a line too long to
	// keep, and from ParseLine alone).
	Text []byte
}

// Error returns "FILE:LINE: reason", omitting what is unknown.
func (e *LineError) Error() string {
	var b []byte
	if e.File != "" {
		b = append(b, e.File...)
		b = append(b, ':')
	}
	if e.Line > 0 {
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, ':')
	}
	if len(b) > 0 {
		b = append(b, ' ')
	}
	return string(append(b, e.Reason...))
}

// Unwrap returns the sentinel class of the error, if any.
func (e *LineError) Unwrap() error { return e.Err }

// Line is one parsed batch line.
type Line struct {
	// Article is field 1 exactly as written: a storage token's text or a
	// path to an article file (relative paths are relative to
	// patharticles; stripping a leading "<patharticles>/" is the caller's
	// business).
	Article string
	// Token is the parsed token when IsToken is set.
	Token spoolfmt.Token
	// IsToken reports whether Article is a storage token.
	IsToken bool
	// MessageID is the Message-ID including its angle brackets, or "" when
	// the line has none (it then comes from the article's header).
	MessageID string
}

// String returns the line in batch-file form, without a newline.
func (l Line) String() string { return string(l.Append(nil)) }

// Append appends the line in batch-file form ("ART MID" or "ART") to dst,
// without a newline, and returns the extended slice.
func (l Line) Append(dst []byte) []byte {
	dst = append(dst, l.Article...)
	if l.MessageID != "" {
		dst = append(dst, ' ')
		dst = append(dst, l.MessageID...)
	}
	return dst
}

// ParseLine parses one batch line, given without its "\n", the way innxmit
// does: the line is split at the first space into the article (a storage
// token, else a file path) and the Message-ID, which is the whole rest of the
// line. An empty or all-space line gives ErrBlank. Every other failure is a
// *LineError whose File and Line are left for the caller to fill in.
//
// ParseLine is stricter than innxmit where innxmit would read garbage or
// send something a peer must refuse: control characters (NUL, CR, tab, ...),
// invalid UTF-8, a field 1 that looks like a Message-ID or a broken token,
// and the empty Message-ID "<>" are malformed too.
func ParseLine(b []byte) (Line, error) {
	if len(b) > MaxLineLen {
		return Line{}, &LineError{Reason: "line too long (" + strconv.Itoa(len(b)) + " bytes, max " + strconv.Itoa(MaxLineLen) + ")", Err: ErrLongLine}
	}
	blank := true
	for i, c := range b {
		if c == ' ' {
			continue
		}
		blank = false
		if c < 0x20 || c == 0x7f {
			return Line{}, badLine(controlReason(c, i))
		}
	}
	if blank {
		return Line{}, ErrBlank
	}
	if !utf8.Valid(b) {
		return Line{}, badLine("invalid UTF-8 at column " + strconv.Itoa(invalidUTF8At(b)+1))
	}

	art, mid, hasMID := b, []byte(nil), false
	for i, c := range b {
		if c == ' ' {
			art, mid, hasMID = b[:i], b[i+1:], true
			break
		}
	}
	if len(art) == 0 {
		return Line{}, badLine("empty article field (line starts with a space)")
	}
	if hasMID {
		if reason := checkMessageID(mid); reason != "" {
			return Line{}, badLine(reason)
		}
	}

	var l Line
	switch {
	case len(art) == spoolfmt.TokenLen && art[0] == '@' && art[len(art)-1] == '@':
		s := string(art)
		if !spoolfmt.IsToken(s) {
			return Line{}, badLine("invalid storage token " + strconv.Quote(s))
		}
		tok, err := spoolfmt.ParseToken(s)
		if err != nil {
			return Line{}, badLine(err.Error())
		}
		l.Article, l.Token, l.IsToken = s, tok, true
	case art[0] == '@':
		// Paths never start with '@'; this is a token cut short or padded.
		return Line{}, badLine("invalid storage token " + strconv.Quote(clipText(art)))
	case art[0] == '<':
		// innxmit would try to open a file of that name and silently drop
		// the line; a Message-ID-only feed (Wm) is the likely mistake.
		return Line{}, badLine("article field " + strconv.Quote(clipText(art)) + " is a Message-ID, not a token or path")
	case len(art) > MaxPathLen:
		return Line{}, badLine("article path longer than " + strconv.Itoa(MaxPathLen) + " bytes")
	default:
		l.Article = string(art)
	}
	if hasMID {
		l.MessageID = string(mid)
	}
	return l, nil
}

// checkMessageID applies innxmit's test (starts with '<', its last '>' is
// its last character, at most 250 bytes) and rejects the empty "<>" and a
// Message-ID with a space, which no NNTP command can carry.
func checkMessageID(mid []byte) string {
	switch {
	case len(mid) == 0:
		return "empty Message-ID after the space (trailing space?)"
	case mid[0] != '<':
		return "Message-ID " + strconv.Quote(clipText(mid)) + " does not start with '<'"
	case mid[len(mid)-1] != '>':
		return "Message-ID " + strconv.Quote(clipText(mid)) + " does not end with '>'"
	case len(mid) == 2:
		return "empty Message-ID \"<>\""
	case len(mid) > MaxMessageIDLen:
		return "Message-ID longer than " + strconv.Itoa(MaxMessageIDLen) + " bytes (" + strconv.Itoa(len(mid)) + ")"
	case bytes.IndexByte(mid, ' ') >= 0:
		// innxmit would send it and the peer refuse the command's syntax; nxmit would
		// find it unsendable and count it missing without a word.
		return "Message-ID " + strconv.Quote(clipText(mid)) + " contains a space"
	}
	return ""
}

func badLine(reason string) *LineError { return &LineError{Reason: reason} }

func controlReason(c byte, i int) string {
	col := " at column " + strconv.Itoa(i+1)
	switch c {
	case 0:
		return "NUL byte" + col
	case '\r':
		return "carriage return" + col + " (CRLF line ending?)"
	case '\t':
		return "tab" + col
	}
	return "control character 0x" + strconv.FormatUint(uint64(c), 16) + col
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// clipText shortens b for quoting in a reason.
func clipText(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
