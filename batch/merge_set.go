package batch

import (
	"hash/maphash"
	"math/bits"
)

// IDSetBytesPerLine is the memory of an IDSet per distinct key, in bytes, at most (see
// IDSet): a 16-byte hash in a table kept between 53% and 80% full. While the table
// grows the old one is alive too, so the peak is briefly about 50 bytes per key. A line
// with both a token (or path) and a Message-ID has two keys, so costs twice this.
const IDSetBytesPerLine = 30

// An IDSet remembers which articles have been seen, for de-duplication. It stores a
// 128-bit hash of each key, never the key itself, so its memory per distinct key is
// fixed whatever the length of the Message-IDs: 20 to 30 bytes (IDSetBytesPerLine) in
// an open-addressing table that grows by half when 80% full. (A Go map of the same
// hashes takes 35 to 56 bytes per key.)
//
// The two 64-bit halves come from hash/maphash with independent random seeds, so an
// adversary who writes Message-IDs cannot aim for a collision. Two distinct keys share a
// hash with probability about n²/2¹²⁹ for n keys: for a billion lines, 1.5·10⁻²¹. A
// 64-bit hash would risk dropping a distinct article (1 in 37 million at 10⁶ lines, 3%
// at 10⁹), which is why the set pays for 128 bits.
//
// An IDSet is not safe for concurrent use.
type IDSet struct {
	slots  [][2]uint64 // {0, 0} marks a free slot
	n      int
	s1, s2 maphash.Seed
	buf    []byte
}

// NewIDSet returns an empty set.
func NewIDSet() *IDSet {
	return &IDSet{s1: maphash.MakeSeed(), s2: maphash.MakeSeed()}
}

// Key returns the de-duplication key of a line, appended to dst: its Message-ID when the
// line has one, compared the way INN's history does (the part after the first "@" is
// case-insensitive, and all of it for postmaster@), else its article field (token or
// path). An IDSet also keys a line with a Message-ID by its article field (see
// ArticleKey), so that "token" and "token <mid>" are the same article.
func Key(dst []byte, l Line) []byte {
	if l.MessageID == "" {
		return ArticleKey(dst, l)
	}
	dst = append(dst, 'm')
	mid := l.MessageID
	at := -1
	for i := 0; i < len(mid); i++ {
		if mid[i] == '@' {
			at = i
			break
		}
	}
	if at < 0 {
		return append(dst, mid...)
	}
	from := at
	if len(mid) > 1 && hasPrefixFold(mid[1:at], "postmaster") && at-1 == len("postmaster") {
		from = 0
	}
	dst = append(dst, mid[:from]...)
	for i := from; i < len(mid); i++ {
		c := mid[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// ArticleKey returns the key of a line's article field (token or path), appended to dst.
func ArticleKey(dst []byte, l Line) []byte {
	dst = append(dst, 'a')
	return append(dst, l.Article...)
}

func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func (s *IDSet) hashKey() [2]uint64 {
	h := [2]uint64{maphash.Bytes(s.s1, s.buf), maphash.Bytes(s.s2, s.buf)}
	if h == ([2]uint64{}) {
		h[1] = 1 // keep {0, 0} for free slots
	}
	return h
}

// hashes returns the hashes of a line's keys: its Message-ID's and, for a line that
// has both, its article field's too.
func (s *IDSet) hashes(l Line) (hs [2][2]uint64, n int) {
	s.buf = Key(s.buf[:0], l)
	hs[0] = s.hashKey()
	if l.MessageID == "" || l.Article == "" {
		return hs, 1
	}
	s.buf = ArticleKey(s.buf[:0], l)
	hs[1] = s.hashKey()
	return hs, 2
}

// find returns the slot holding h, or the free slot where it belongs. The table is
// never full, so the linear probe ends.
func (s *IDSet) find(h [2]uint64) *[2]uint64 {
	n := uint64(len(s.slots))
	i, _ := bits.Mul64(h[0], n) // h[0]·n/2⁶⁴: uniform over [0, n) for any n
	for {
		p := &s.slots[i]
		if *p == h || *p == ([2]uint64{}) {
			return p
		}
		if i++; i == n {
			i = 0
		}
	}
}

func (s *IDSet) grow() {
	old := s.slots
	size := max(len(old)+len(old)/2, 1024)
	s.slots = make([][2]uint64, size)
	for _, h := range old {
		if h != ([2]uint64{}) {
			*s.find(h) = h
		}
	}
}

// Add adds the line's keys and reports whether the line is new: two lines are the same
// article when their Message-IDs are equal (see Key) or their article fields (token or
// path) are, whatever the form of the lines ("token", "token <mid>", "path <mid>").
func (s *IDSet) Add(l Line) bool {
	hs, n := s.hashes(l)
	seen := false
	for _, h := range hs[:n] {
		if (s.n+1)*5 > len(s.slots)*4 {
			s.grow()
		}
		p := s.find(h)
		if *p == h {
			seen = true
			continue
		}
		*p = h
		s.n++
	}
	return !seen
}

// Has reports whether the line is in the set: its Message-ID or its article field.
func (s *IDSet) Has(l Line) bool {
	if s.n == 0 {
		return false
	}
	hs, n := s.hashes(l)
	for _, h := range hs[:n] {
		if *s.find(h) == h {
			return true
		}
	}
	return false
}

// Len returns the number of distinct keys in the set: up to two per line (Message-ID and
// article field).
func (s *IDSet) Len() int { return s.n }
