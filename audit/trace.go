package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"nxmit/batch"
	"nxmit/spoolfmt"
)

// Places an article can be queued in, as trace names them.
const (
	PlaceFeed       = "feed file"
	PlaceRotating   = "rotating feed file"
	PlaceBacklog    = "backlog"
	PlaceDeferral   = "deferral file"
	PlaceDeferOpen  = "deferral file of a send in progress"
	PlaceQuarantine = "quarantine"
)

// A Place is a line of a queue file that names the article.
type Place struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	Line int64  `json:"line"`
	// Done is set for a line of a compressed backlog already sent (recorded in its
	// progress file, not blanked).
	Done bool `json:"done,omitempty"`
}

// SiteTrace is what trace found for one site.
type SiteTrace struct {
	Site   string  `json:"site"`
	Places []Place `json:"places"` // where it is queued now
	Log    []Found `json:"log"`    // its article log entries for the site, oldest first
	// Deferrals counts the article log's deferred and requeued entries.
	Deferrals int  `json:"deferrals"`
	HasLog    bool `json:"has_log"` // an article log is configured for the site
}

// Last returns the last article log entry, or nil.
func (s *SiteTrace) Last() *Found {
	if len(s.Log) == 0 {
		return nil
	}
	return &s.Log[len(s.Log)-1]
}

// SpoolTrace is what the spool and INN's history say of the article.
type SpoolTrace struct {
	Token     string                 `json:"token,omitempty"`
	Method    string                 `json:"method,omitempty"`
	InSpool   bool                   `json:"in_spool"`
	Size      int                    `json:"size,omitempty"`
	Arrived   *time.Time             `json:"arrived,omitempty"`
	Checked   bool                   `json:"checked"` // the spool could be read
	History   *spoolfmt.HistoryEntry `json:"history,omitempty"`
	HistoryOK bool                   `json:"history_read"` // the history file could be read
	Problems  []string               `json:"problems,omitempty"`
}

// A Trace answers "where is this article, and what happened to it".
type Trace struct {
	Key       string      `json:"key"` // as given: a message-id or a token
	MessageID string      `json:"message_id,omitempty"`
	Spool     SpoolTrace  `json:"spool"`
	Sites     []SiteTrace `json:"sites"`
}

// TraceSite names a site's queue and its article log files.
type TraceSite struct {
	Queue    batch.Queue
	LogFiles []string // nil: no article log for the site
	HasLog   bool
}

// TraceOptions say where to look. Store and History may be unset.
type TraceOptions struct {
	Sites   []TraceSite
	Store   *spoolfmt.Store
	History string // INN's history file
}

// TraceArticle finds key (a message-id or a storage token) in the queue files and
// article logs of the sites, and in the spool and history. Files are streamed.
func TraceArticle(key string, opt TraceOptions) (Trace, error) {
	tr := Trace{Key: key, Sites: []SiteTrace{}}
	keys := []string{key}
	var tok spoolfmt.Token
	haveTok := false
	if spoolfmt.IsToken(key) {
		t, err := spoolfmt.ParseToken(key)
		if err != nil {
			return tr, err
		}
		tok, haveTok = t, true
	} else {
		tr.MessageID = key
		if opt.History != "" {
			e, ok, err := spoolfmt.LookupHistory(opt.History, key)
			switch {
			case err != nil && !errors.Is(err, os.ErrNotExist):
				tr.Spool.Problems = append(tr.Spool.Problems, err.Error())
			case err == nil:
				tr.Spool.HistoryOK = true
				if ok {
					tr.Spool.History = &e
					if e.HasToken {
						tok, haveTok = e.Token, true
						keys = append(keys, e.Token.String())
					}
				}
			}
		}
	}
	if haveTok {
		tr.Spool.Token = tok.String()
		tr.Spool.Method = tok.Method().String()
		if opt.Store != nil {
			art, err := opt.Store.Retrieve(tok, nil)
			switch {
			case err == nil:
				tr.Spool.Checked, tr.Spool.InSpool, tr.Spool.Size = true, true, len(art)
				if tr.MessageID == "" {
					if mid := spoolfmt.MessageID(art); mid != "" {
						tr.MessageID = mid
						keys = append(keys, mid)
					}
				}
				if t, ok := opt.Store.Arrival(tok); ok {
					tr.Spool.Arrived = &t
				}
			case errors.Is(err, spoolfmt.ErrMissing):
				tr.Spool.Checked = true
			default:
				tr.Spool.Problems = append(tr.Spool.Problems, err.Error())
			}
		}
	}
	for _, s := range opt.Sites {
		st, err := traceSite(s, keys)
		if err != nil {
			return tr, err
		}
		tr.Sites = append(tr.Sites, st)
	}
	return tr, nil
}

func traceSite(s TraceSite, keys []string) (SiteTrace, error) {
	q := s.Queue
	st := SiteTrace{Site: q.Site, Places: []Place{}, Log: []Found{}, HasLog: s.HasLog}
	type file struct{ kind, path string }
	files := []file{{PlaceFeed, q.FeedPath()}, {PlaceRotating, q.RotatingPath()}}
	backlogs, err := q.Backlogs()
	if err != nil {
		return st, err
	}
	for _, f := range backlogs {
		files = append(files, file{PlaceBacklog, f.Path})
	}
	deferrals, err := q.Deferrals()
	if err != nil {
		return st, err
	}
	for _, f := range deferrals {
		files = append(files, file{PlaceDeferral, f.Path})
	}
	files = append(files, file{PlaceDeferOpen, q.DeferPath()})
	seen := map[string]bool{}
	for _, f := range files {
		for _, k := range keys {
			hits, err := batch.Find(f.path, k)
			if err != nil {
				return st, err
			}
			for _, h := range hits {
				id := fmt.Sprintf("%s:%d", h.Path, h.Line)
				if !seen[id] {
					seen[id] = true
					st.Places = append(st.Places, Place{Kind: f.kind, Path: h.Path, Line: h.Line, Done: h.Done})
				}
			}
		}
	}
	// The quarantine holds lines that did not parse, with where they came from: any
	// line mentioning the key is worth showing.
	if fh, err := batch.OpenFile(q.BadPath(), os.O_RDONLY, 0); err == nil {
		for _, k := range keys {
			fh.Seek(0, 0)
			batch.Grep(fh, []byte(k), func(n int64, _ []byte) bool {
				id := fmt.Sprintf("%s:%d", q.BadPath(), n)
				if !seen[id] {
					seen[id] = true
					st.Places = append(st.Places, Place{Kind: PlaceQuarantine, Path: q.BadPath(), Line: n})
				}
				return true
			})
		}
		fh.Close()
	}
	for _, k := range keys {
		found, err := Find(s.LogFiles, k, q.Site)
		if err != nil {
			return st, err
		}
		for _, f := range found {
			id := fmt.Sprintf("%s:%d", f.Path, f.Line)
			if !seen[id] {
				seen[id] = true
				st.Log = append(st.Log, f)
			}
		}
	}
	sortFound(st.Log)
	for _, f := range st.Log {
		if f.Outcome == Deferred || f.Outcome == Requeued {
			st.Deferrals++
		}
	}
	return st, nil
}

// sortFound orders entries by time; equal times keep the order read.
func sortFound(fs []Found) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Time.Before(fs[j].Time) })
}

// Base returns the file name of a place, for short messages.
func (p Place) Base() string { return filepath.Base(p.Path) }
