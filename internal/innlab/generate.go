package innlab

import (
	"bytes"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"time"
)

// Article is one article to inject.
type Article struct {
	MessageID  string   // "<...>"
	Newsgroups []string // the groups of its Newsgroups header
	Body       []byte   // the whole article, headers and body, in native format (LF line ends, no dot-stuffing)
}

// GenOptions describes a set of generated articles.
type GenOptions struct {
	Count int   // number of articles
	Seed  int64 // the same options give the same articles (the Date header follows the calendar day)
	// Mixed draws sizes like a real feed: 70% 1-4 KB, 25% 10-100 KB,
	// 5% 0.5-2 MB. Otherwise every article is about Size bytes.
	Mixed bool
	Size  int // approximate article size when !Mixed, default 2 KB (special articles carry some extra lines)
	// Specials adds the cases a feeder must get right: body lines starting
	// with "." and "..", a line that is only ".", 8-bit bytes (Latin-1 and
	// UTF-8), trailing white space and blank lines, a folded header, a long
	// line, cross-posts to 2 or 3 groups, and (when Count >= 10) one article
	// of at least 1 MB. Without Mixed and with Size < 1 MB it is the only one.
	Specials bool
}

// Special article kinds, chosen by index so that any Count >= 8 has each.
const (
	kindPlain = iota
	kindDots
	kind8bit
	kindCross
	kindLayout
)

// BigIndex is the index of the article of at least 1 MB that Specials adds
// when Count >= 10.
const BigIndex = 7

func specialKind(n int) int {
	switch n % 8 {
	case 1:
		return kindDots
	case 3:
		return kind8bit
	case 5:
		return kindCross
	case 6:
		return kindLayout
	}
	return kindPlain
}

// MessageID returns the message-id of article n of the set with this seed.
// Ids are unique across seeds: "<lab" SEED "-" N "." HASH "@lab.test>".
func MessageID(seed int64, n int) string {
	h := uint32(uint64(seed)*0x9E3779B97F4A7C15>>32) ^ uint32(n)*0x85EBCA6B
	return fmt.Sprintf("<lab%d-%d.%06x@lab.test>", seed, n, h&0xffffff)
}

// Generate returns opt.Count articles; see GenerateSeq.
func Generate(opt GenOptions) []Article {
	arts := make([]Article, 0, max(opt.Count, 0))
	for a := range GenerateSeq(opt) {
		arts = append(arts, a)
	}
	return arts
}

// GenerateSeq yields the articles Generate returns, one at a time, so that
// large sets (20,000 mixed articles are about 1.5 GB) need not be held in
// memory. Each article is built from the seed and its index alone.
func GenerateSeq(opt GenOptions) iter.Seq[Article] {
	return func(yield func(Article) bool) {
		// A recent Date: the start of the previous day (UTC) plus a few
		// seconds per article, the same for every call on one day.
		base := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
		var scratch bytes.Buffer
		for n := 0; n < opt.Count; n++ {
			if !yield(genArticle(opt, n, base, &scratch)) {
				return
			}
		}
	}
}

func articleSize(opt GenOptions, n int, rng *rand.Rand) int {
	if opt.Specials && opt.Count >= 10 && n == BigIndex {
		return 1<<20 + 100_000 + rng.IntN(100_000)
	}
	if !opt.Mixed {
		if opt.Size > 0 {
			return opt.Size
		}
		return 2048
	}
	switch r := rng.IntN(100); {
	case r < 70:
		return 1000 + rng.IntN(3000)
	case r < 95:
		return 10_000 + rng.IntN(90_000)
	default:
		return 500_000 + rng.IntN(1_500_000)
	}
}

// genArticle builds article n, using body as scratch space.
func genArticle(opt GenOptions, n int, base time.Time, body *bytes.Buffer) Article {
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), uint64(n)))
	size := articleSize(opt, n, rng)
	kind := kindPlain
	if opt.Specials {
		kind = specialKind(n)
	}
	mid := MessageID(opt.Seed, n)

	groups := []string{DefaultGroups[n%2]}
	if size >= 500_000 {
		groups = []string{"lab.big"}
	}
	if kind == kindCross {
		groups = []string{"lab.test", "lab.misc"}
		if (n/8)%2 == 1 {
			groups = []string{"lab.misc", "lab.test", "lab.big"}
		}
	}

	body.Reset()
	body.Grow(size)
	fmt.Fprintf(body, "Article %d of set %d, about %d bytes.\n\n", n, opt.Seed, size)
	switch kind {
	case kindDots:
		body.WriteString(".\n..\n...\n.leading dot\n..two leading dots\n. dot space\n\n.\n")
	case kind8bit:
		body.WriteString("Latin-1: caf\xe9 na\xefve \xa9 \xff\xfe end\n")
		body.WriteString("UTF-8: Gr\u00fc\u00dfe, \u65e5\u672c\u8a9e, \u2713 \u2014 fin\n")
		body.WriteString("\x80\x81\x9f control-range high bytes\n")
	case kindLayout:
		body.WriteString("trailing spaces   \ntrailing tab\t\n\n\n")
		body.WriteString(filler.longLine())
	}
	filler.fill(body, size-300, rng)
	switch kind {
	case kindDots:
		body.WriteString("..last line starts with dots\n.\n")
	case kindLayout:
		body.WriteString("blank lines follow\n\n\n")
	}

	var h bytes.Buffer
	fmt.Fprintf(&h, "Path: injector!not-for-mail\n")
	fmt.Fprintf(&h, "From: Lab Tester <tester@lab.test>\n")
	fmt.Fprintf(&h, "Newsgroups: %s\n", joinComma(groups))
	fmt.Fprintf(&h, "Subject: innlab article %d of set %d\n", n, opt.Seed)
	fmt.Fprintf(&h, "Date: %s\n", base.Add(time.Duration(n%80000)*time.Second).Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	fmt.Fprintf(&h, "Message-ID: %s\n", mid)
	if kind == kindLayout {
		h.WriteString("X-Folded: first part of a header\n\tthat continues on a second line\n")
	}
	if n%2 == 0 {
		fmt.Fprintf(&h, "Lines: %d\n", bytes.Count(body.Bytes(), []byte{'\n'}))
	}
	h.WriteByte('\n')
	art := make([]byte, 0, h.Len()+body.Len())
	art = append(append(art, h.Bytes()...), body.Bytes()...)
	return Article{MessageID: mid, Newsgroups: groups, Body: art}
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for k, v := range s {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v)
	}
	return b.String()
}

// fillerText is a fixed block of text lines that article bodies are cut
// from, so that generating a gigabyte of articles is a matter of copying.
type fillerText struct {
	once  sync.Once
	text  []byte
	lines []int // start offsets of the lines in text
}

var filler fillerText

func (f *fillerText) init() {
	f.once.Do(func() {
		words := []string{
			"news", "article", "feed", "spool", "history", "token", "batch", "peer",
			"stream", "check", "takethis", "ihave", "backlog", "site", "path", "group",
			"the", "a", "of", "to", "and", "in", "is", "for", "on", "with", "that",
			"server", "client", "message", "header", "body", "transit", "storage",
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var b bytes.Buffer
		for b.Len() < 256<<10 {
			f.lines = append(f.lines, b.Len())
			width := 20 + rng.IntN(56)
			start := b.Len()
			for b.Len()-start < width {
				if b.Len() > start {
					b.WriteByte(' ')
				}
				b.WriteString(words[rng.IntN(len(words))])
			}
			b.WriteByte('\n')
		}
		f.text = b.Bytes()
	})
}

// fill appends whole filler lines to b until it holds at least size bytes.
func (f *fillerText) fill(b *bytes.Buffer, size int, rng *rand.Rand) {
	f.init()
	if b.Len() >= size {
		return
	}
	// Start at a random line and copy whole lines, wrapping around.
	start := f.lines[rng.IntN(len(f.lines))]
	for b.Len() < size {
		need := size - b.Len()
		chunk := f.text[start:]
		if len(chunk) > need {
			end := need + bytes.IndexByte(chunk[need:], '\n') + 1
			if end <= need { // no newline after need: take the rest
				end = len(chunk)
			}
			chunk = chunk[:end]
		}
		b.Write(chunk)
		start = 0
	}
}

// longLine returns a 2000-byte line (plus newline).
func (f *fillerText) longLine() string {
	f.init()
	line := bytes.ReplaceAll(f.text[:2000], []byte{'\n'}, []byte{' '})
	return string(line) + "\n"
}
