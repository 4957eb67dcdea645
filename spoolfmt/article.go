package spoolfmt

import (
	"bytes"
	"strings"
)

// IsWireFormat tells a stored article's format the way INN's tradspool
// reader does: wire format when the first line ends in "\r\n". ok is false
// when the data has no "\n" at all or starts with one (a corrupt file).
func IsWireFormat(head []byte) (wire, ok bool) {
	i := bytes.IndexByte(head, '\n')
	if i <= 0 {
		return false, false
	}
	return head[i-1] == '\r', true
}

// nativeToWire converts native text (LF line ends, no dot-stuffing, no
// terminator) to wire format incrementally, so a large article can be
// converted chunk by chunk while it is read.
type nativeToWire struct {
	midLine bool // last byte seen was not '\n'
}

// append converts src and appends it to dst.
func (c *nativeToWire) append(dst, src []byte) []byte {
	for len(src) > 0 {
		if !c.midLine && src[0] == '.' {
			dst = append(dst, '.')
		}
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			dst = append(dst, src...)
			c.midLine = true
			return dst
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, '\r', '\n')
		src = src[i+1:]
		c.midLine = false
	}
	return dst
}

// finish ends the last line if needed and appends the terminator.
func (c *nativeToWire) finish(dst []byte) []byte {
	if c.midLine {
		dst = append(dst, '\r', '\n')
		c.midLine = false
	}
	return append(dst, '.', '\r', '\n')
}

// ToWire converts a whole native-format article to wire format, appending
// to dst.
func ToWire(dst, native []byte) []byte {
	var c nativeToWire
	return c.finish(c.append(dst, native))
}

// MessageID returns the value of the Message-ID header of an article in
// wire or native format, "" if it has none. The name is matched without
// regard to case and folded values are unfolded.
func MessageID(article []byte) string {
	var val []byte
	collecting := false
	for len(article) > 0 {
		var line []byte
		if i := bytes.IndexByte(article, '\n'); i >= 0 {
			line, article = article[:i], article[i+1:]
		} else {
			line, article = article, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 || (len(line) == 1 && line[0] == '.') {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if collecting {
				val = append(val, line...)
			}
			continue
		}
		if collecting {
			break
		}
		const name = "message-id:"
		if len(line) >= len(name) && strings.EqualFold(string(line[:len(name)]), name) {
			collecting = true
			val = append(val, line[len(name):]...)
		}
	}
	return string(bytes.TrimSpace(val))
}

// CheckMessageID compares the Message-ID header of article with want, the
// one a batch line gave. An empty want always matches. A mismatch (or no
// header at all) returns a *MissingError: a CNFS buffer that wrapped while
// the line waited holds another article at the same place. Message-IDs
// are compared exactly, then without regard to case, since only their
// domain part is case-insensitive and innd copied both from the same text.
func CheckMessageID(article []byte, want string) error {
	if want == "" {
		return nil
	}
	got := MessageID(article)
	if got == want || strings.EqualFold(got, want) {
		return nil
	}
	if got == "" {
		return missing(want, "stored article has no Message-ID header")
	}
	return missing(want, "stored article is "+got+", not "+want)
}
