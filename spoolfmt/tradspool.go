package spoolfmt

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// How often the tradspool map's mtime is checked (INN: 600 s). An unknown
// group number checks it at once.
const tradCheckEvery = 60 * time.Second

// tradspoolMaps caches tradspool.map, re-reading it when it changes.
type tradspoolMaps struct {
	path string
	mu   sync.Mutex // serialises re-reads
	cur  atomic.Pointer[tradMap]
}

type tradMap struct {
	groups  map[uint32]string
	mtime   time.Time
	size    int64
	ino     uint64
	checked time.Time // last stat of the file
}

// lookup returns the directory of group number g ("comp/lang/c").
func (t *tradspoolMaps) lookup(g uint32) (string, bool, error) {
	m := t.cur.Load()
	if m == nil || time.Since(m.checked) > tradCheckEvery {
		var err error
		if m, err = t.refresh(false); err != nil {
			return "", false, err
		}
	}
	if dir, ok := m.groups[g]; ok {
		return dir, true, nil
	}
	// innd may have added the group since: a stat tells, and the map is
	// parsed again only when it changed.
	m, err := t.refresh(true)
	if err != nil {
		return "", false, err
	}
	dir, ok := m.groups[g]
	return dir, ok, nil
}

func (t *tradspoolMaps) refresh(force bool) (*tradMap, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	now := time.Now()
	if old != nil && !force && now.Sub(old.checked) <= tradCheckEvery {
		return old, nil // another goroutine refreshed it meanwhile
	}
	f, err := os.Open(t.path)
	if err != nil {
		return nil, &ReadError{Article: "tradspool.map", Path: t.path, Op: "open", Err: unwrapPathError(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &ReadError{Article: "tradspool.map", Path: t.path, Op: "stat", Err: unwrapPathError(err)}
	}
	ino := inode(fi)
	if old != nil && fi.ModTime().Equal(old.mtime) && fi.Size() == old.size && ino == old.ino {
		m := *old
		m.checked = now
		t.cur.Store(&m)
		return &m, nil
	}
	groups, err := ParseTradspoolMap(f, t.path)
	if err != nil {
		return nil, &ReadError{Article: "tradspool.map", Path: t.path, Op: "parse", Err: err}
	}
	m := &tradMap{groups: groups, mtime: fi.ModTime(), size: fi.Size(), ino: ino, checked: now}
	t.cur.Store(m)
	return m, nil
}

func (s *Store) tradspoolPath(tok Token) (string, error) {
	g, art := tok.tradspool()
	dir, ok, err := s.trad.lookup(g)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", missing(tok.String(), fmt.Sprintf("group number %d not in %s", g, s.trad.path))
	}
	return s.articles + "/" + dir + "/" + strconv.FormatUint(uint64(art), 10), nil
}
