package linefilter

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// HashFeed splits a feed deterministically by Message-ID, compatible with Diablo's
// hashfeed (5.1 and later), INN's newsfeeds Q flag and nntp-rs: N servers that take
// buckets 1/N, 2/N, ..., N/N of the same feed each get a disjoint part of it, and
// together all of it.
//
// The definition: h is the MD5 digest of the Message-ID exactly as written, angle
// brackets included, read as a 128-bit big-endian number. With offset M (0 to 12,
// default 0), v = (h >> 8·M) & 0xffffffff, that is the big-endian 32-bit number of
// digest bytes 12-M to 15-M (M = 0: the last four bytes, "the lowest 32 bits" of
// newsfeeds(5)). The article's bucket among N is v mod N + 1, and an entry K/N (or
// A-B/N) matches when the bucket is K (or between A and B). Example from Diablo's
// lib/hashfeed.c: MD5("<>") = 38559c871fba28d992ead51549367f83, so v is 0x49367f83
// with offset 0, 0x1549367f with offset 1 and 0x28d992ea with offset 6.
//
// A HashFeed is a comma-separated list of entries "K/N", "A-B/N", each optionally
// followed by ":M" (Diablo's form) or "_M" (INN's form); it matches when any entry
// does. Offsets let a server that takes 1/2 split its half again with another
// offset (e.g. "1/2" then "1-3/9:4") independently of the first split.
type HashFeed struct {
	entries []hashEntry
	text    string
}

type hashEntry struct {
	start, end, mod uint32
	offset          uint8
}

// ParseHashFeed parses a hashfeed expression such as "1/3", "2-3/4:4" or "1/2,4/8".
func ParseHashFeed(s string) (*HashFeed, error) {
	h := &HashFeed{text: s}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty hashfeed")
	}
	for _, part := range strings.Split(s, ",") {
		e, err := parseHashEntry(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("hashfeed %q: %w", s, err)
		}
		h.entries = append(h.entries, e)
	}
	return h, nil
}

func parseHashEntry(s string) (hashEntry, error) {
	var e hashEntry
	rng, rest, ok := strings.Cut(s, "/")
	if !ok {
		return e, fmt.Errorf("%q is not K/N, A-B/N, K/N:M", s)
	}
	modText, offText, hasOff := strings.Cut(rest, ":")
	if !hasOff {
		modText, offText, hasOff = strings.Cut(rest, "_")
	}
	num := func(t, what string) (uint32, error) {
		v, err := strconv.ParseUint(strings.TrimSpace(t), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%s %q is not a number", what, t)
		}
		return uint32(v), nil
	}
	var err error
	if e.mod, err = num(modText, "bucket count"); err != nil {
		return e, err
	}
	if e.mod == 0 {
		return e, fmt.Errorf("bucket count 0 in %q", s)
	}
	a, b, isRange := strings.Cut(rng, "-")
	if e.start, err = num(a, "bucket"); err != nil {
		return e, err
	}
	e.end = e.start
	if isRange {
		if e.end, err = num(b, "bucket"); err != nil {
			return e, err
		}
	}
	if e.start < 1 || e.end < e.start || e.end > e.mod {
		return e, fmt.Errorf("buckets %q are not within 1 to %d in order", rng, e.mod)
	}
	if hasOff {
		o, err := num(offText, "offset")
		if err != nil {
			return e, err
		}
		if o > 12 {
			return e, fmt.Errorf("offset %d above 12", o)
		}
		e.offset = uint8(o)
	}
	return e, nil
}

// String returns the expression as given.
func (h *HashFeed) String() string { return h.text }

// HashValue returns the 32-bit hashfeed value of a Message-ID at byte offset off
// (0 to 12): the big-endian number of MD5 digest bytes 12-off to 15-off.
func HashValue(mid string, off int) uint32 {
	d := md5.Sum([]byte(mid))
	return binary.BigEndian.Uint32(d[12-off : 16-off])
}

// Bucket returns the bucket (1 to n) of a Message-ID among n at offset off.
func Bucket(mid string, n uint32, off int) uint32 { return HashValue(mid, off)%n + 1 }

// Match reports whether the Message-ID (angle brackets included) falls in one of the
// expression's buckets.
func (h *HashFeed) Match(mid string) bool {
	d := md5.Sum([]byte(mid))
	for _, e := range h.entries {
		v := binary.BigEndian.Uint32(d[12-e.offset : 16-e.offset])
		if b := v%e.mod + 1; b >= e.start && b <= e.end {
			return true
		}
	}
	return false
}
