package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"nxmit/batch"
	"nxmit/spoolfmt"
)

// A Sample is what a look at the first queued articles of a site's files found: their
// sizes, from which the queue's bytes are estimated, and the earliest arrival in the
// spool among the first queued article of each file.
type Sample struct {
	Articles int   // queued articles sized
	Bytes    int64 // their total size
	// Complete is set when every queued article of every file was sized: Bytes is then
	// exact.
	Complete bool

	Oldest     time.Time // earliest spool arrival found; zero when none
	OldestFile string    // where that article is queued
	OldestLine int
}

// Mean returns the mean article size of the sample (0 when nothing was sized).
func (s Sample) Mean() float64 {
	if s.Articles == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Articles)
}

// SampleQueue reads the queued lines of the files (feed file, backlogs, deferral files;
// missing files are skipped) and sizes up to limit articles in all, spread over the
// files, by reading them from store. Articles no longer in the spool are not counted:
// they will not be sent. The arrival time of the first queued article of each file
// (feed files are written in arrival order) gives the oldest.
func SampleQueue(files []string, store *spoolfmt.Store, limit int) Sample {
	s := Sample{Complete: true}
	perFile := limit
	if len(files) > 0 {
		perFile = max(limit/len(files), 16)
	}
	var buf []byte
	for _, path := range files {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		sized, tried := 0, 0
		arrival := false
		err := batch.Pending(path, func(lineNo int, l batch.Line) bool {
			tried++
			if !arrival && tried <= 16 {
				if t, ok := articleArrival(store, l); ok {
					arrival = true
					if s.Oldest.IsZero() || t.Before(s.Oldest) {
						s.Oldest, s.OldestFile, s.OldestLine = t, path, lineNo
					}
				}
			}
			if sized >= perFile || s.Articles >= limit {
				s.Complete = false
				return arrival || tried > 16
			}
			var art []byte
			var err error
			if l.IsToken {
				art, err = store.Retrieve(l.Token, buf[:0])
			} else {
				art, err = store.RetrieveFile(l.Article, buf[:0])
			}
			if err == nil {
				buf = art
				s.Articles++
				s.Bytes += int64(len(art))
				sized++
			}
			return true
		})
		if err != nil {
			s.Complete = false
		}
	}
	return s
}

// articleArrival returns when a queued article arrived in the spool.
func articleArrival(store *spoolfmt.Store, l batch.Line) (time.Time, bool) {
	if l.IsToken {
		return store.Arrival(l.Token)
	}
	if !filepath.IsAbs(l.Article) {
		return time.Time{}, false // relative to patharticles, which the store keeps to itself
	}
	fi, err := os.Stat(l.Article)
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// sampleLimit bounds the articles a measure reads from the spool: status stays quick on
// a queue of millions.
const sampleLimit = 256

// Measure is a site's queue in articles, bytes and time, with how each was obtained.
// Its JSON field names are part of status --json.
type Measure struct {
	Articles      int64      `json:"queued_articles"`
	ArticlesExact bool       `json:"queued_articles_exact"`
	Bytes         int64      `json:"queued_bytes"`
	BytesMethod   string     `json:"queued_bytes_method"`
	Oldest        *time.Time `json:"oldest_article"`
	OldestAge     float64    `json:"oldest_article_age_seconds"`
	OldestMethod  string     `json:"oldest_article_method"`
}

// MeasureQueue measures a queue whose files (feed, backlogs, deferral files) hold
// articles queued lines, counted exactly or not. Bytes come from sizing the queued
// articles in store (all of them when few, else a sample); the oldest article from the
// spool arrival of the first queued article of each file, or, with no spool to read,
// from oldestFile, the creation time of the oldest file (an upper bound: its articles
// arrived before it was made). store may be nil.
func MeasureQueue(files []string, articles int64, exact bool, oldestFile time.Time, store *spoolfmt.Store, now time.Time) Measure {
	m := Measure{Articles: articles, ArticlesExact: exact}
	if articles == 0 {
		m.BytesMethod, m.OldestMethod = "exact: nothing queued", "exact: nothing queued"
		return m
	}
	var s Sample
	if store != nil {
		s = SampleQueue(files, store, sampleLimit)
	}
	switch {
	case s.Articles == 0:
		m.BytesMethod = "unknown: no queued article could be read from the spool"
	case s.Complete && exact:
		m.Bytes = s.Bytes
		m.BytesMethod = fmt.Sprintf("exact: all %d queued articles in the spool sized", s.Articles)
	default:
		m.Bytes = int64(s.Mean() * float64(articles))
		m.BytesMethod = fmt.Sprintf("estimated: %d queued articles sized (mean %.0f bytes) times %d queued", s.Articles, s.Mean(), articles)
	}
	switch {
	case !s.Oldest.IsZero():
		t := s.Oldest
		m.Oldest = &t
		m.OldestMethod = fmt.Sprintf("spool arrival of the first queued article of each file (oldest at %s:%d)", s.OldestFile, s.OldestLine)
	case !oldestFile.IsZero():
		t := oldestFile
		m.Oldest = &t
		m.OldestMethod = "estimated: creation time of the oldest queue file (its articles are older; spool not readable)"
	default:
		m.OldestMethod = "unknown"
	}
	if m.Oldest != nil {
		m.OldestAge = max(now.Sub(*m.Oldest).Seconds(), 0)
	}
	return m
}
