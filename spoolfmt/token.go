package spoolfmt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Method is the storage method number in the first byte of a token.
type Method uint8

// Storage method numbers, from INN's storage/*/method.config.
const (
	Trash     Method = 0
	TimeHash  Method = 2
	CNFS      Method = 3
	TimeCAF   Method = 4
	TradSpool Method = 5
	// Empty is TOKEN_EMPTY: INN's marker for "no token".
	Empty Method = 255
)

// String returns INN's name of the method ("timehash", "cnfs", ...).
func (m Method) String() string {
	switch m {
	case Trash:
		return "trash"
	case TimeHash:
		return "timehash"
	case CNFS:
		return "cnfs"
	case TimeCAF:
		return "timecaf"
	case TradSpool:
		return "tradspool"
	case Empty:
		return "empty"
	}
	return "method(" + strconv.Itoa(int(m)) + ")"
}

// TokenLen is the length of a token's text form: '@', 36 hex digits, '@'.
const TokenLen = 38

// Token is INN's 18-byte storage API token: method, class and 16
// method-specific bytes.
type Token [18]byte

// ErrNotToken is returned (wrapped) by ParseToken for text that is not a token.
var ErrNotToken = errors.New("not a storage token")

// ParseToken parses the 38-character text form "@<36 upper-case hex>@".
// Like INN's IsToken it rejects lower-case hex digits, so that text failing
// here can be taken as a file name instead.
func ParseToken(s string) (Token, error) {
	var t Token
	if len(s) != TokenLen {
		return t, fmt.Errorf("%w: %q: length %d, want %d", ErrNotToken, clip(s), len(s), TokenLen)
	}
	if s[0] != '@' || s[TokenLen-1] != '@' {
		return t, fmt.Errorf("%w: %q: not enclosed in '@'", ErrNotToken, s)
	}
	for i := range t {
		hi, ok1 := unhex(s[1+2*i])
		lo, ok2 := unhex(s[2+2*i])
		if !ok1 || !ok2 {
			return Token{}, fmt.Errorf("%w: %q: bad hex digit at %d", ErrNotToken, s, 1+2*i)
		}
		t[i] = hi<<4 | lo
	}
	return t, nil
}

// IsToken reports whether s is the text form of a token (INN's IsToken).
func IsToken(s string) bool {
	if len(s) != TokenLen || s[0] != '@' || s[TokenLen-1] != '@' {
		return false
	}
	for i := 1; i < TokenLen-1; i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// String returns the token's text form, as innd writes it into feed files.
func (t Token) String() string {
	const digits = "0123456789ABCDEF"
	var b [TokenLen]byte
	b[0], b[TokenLen-1] = '@', '@'
	for i, c := range t {
		b[1+2*i] = digits[c>>4]
		b[2+2*i] = digits[c&0xf]
	}
	return string(b[:])
}

// Method returns the storage method (type byte).
func (t Token) Method() Method { return Method(t[0]) }

// Class returns the storage class (storage.conf "class:").
func (t Token) Class() byte { return t[1] }

// Arrival returns the arrival time encoded in the token: exact for
// timehash, rounded down to 256 seconds for timecaf. Other methods do not
// encode it and return false.
func (t Token) Arrival() (time.Time, bool) {
	switch t.Method() {
	case TimeHash:
		return time.Unix(int64(binary.BigEndian.Uint32(t[2:6])), 0), true
	case TimeCAF:
		return time.Unix(int64(binary.BigEndian.Uint32(t[2:6]))<<8, 0), true
	}
	return time.Time{}, false
}

// timehash: arrival BE32 at [0..3], sequence BE16 at [4..5].
func (t Token) timehash() (arrival uint32, seq uint16) {
	return binary.BigEndian.Uint32(t[2:6]), binary.BigEndian.Uint16(t[6:8])
}

// tradspool on LP64: group BE32 at [0..3], article BE32 at [8..11] (each
// value fills a native 8-byte unsigned long; see inn-formats.md §1.6).
func (t Token) tradspool() (group, article uint32) {
	return binary.BigEndian.Uint32(t[2:6]), binary.BigEndian.Uint32(t[10:14])
}

// cnfs: buffer name NUL-padded at [0..7], block BE32 at [8..11], cycle BE32
// at [12..15].
func (t Token) cnfs() (name string, block, cycle uint32) {
	n := t[2:10]
	end := 0
	for end < len(n) && n[end] != 0 {
		end++
	}
	return string(n[:end]), binary.BigEndian.Uint32(t[10:14]), binary.BigEndian.Uint32(t[14:18])
}

// timecaf: T = arrival>>8 BE32 at [0..3]; article number low half BE16 at
// [4..5], high half BE16 at [6..7].
func (t Token) timecaf() (tt uint32, artnum uint32) {
	tt = binary.BigEndian.Uint32(t[2:6])
	artnum = uint32(binary.BigEndian.Uint16(t[8:10]))<<16 | uint32(binary.BigEndian.Uint16(t[6:8]))
	return tt, artnum
}

// MarshalText writes the token's text form, so JSON shows "@...@", not 18 numbers.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses the text form, so that JSON written by MarshalText reads back.
func (t *Token) UnmarshalText(b []byte) error {
	tok, err := ParseToken(string(b))
	if err != nil {
		return err
	}
	*t = tok
	return nil
}
