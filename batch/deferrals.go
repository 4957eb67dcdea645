package batch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// MaxDeferralEntries bounds S.deferrals: once it holds this many articles, an article
// deferred for the first time is not counted (the ones already there still are), so
// the file and requeue's memory stay small (about 100 bytes an entry) whatever the
// backlog.
const MaxDeferralEntries = 100_000

// DeferralsPath returns Dir/S.deferrals, how many times each article still queued was
// deferred (see Deferrals).
func (q Queue) DeferralsPath() string { return filepath.Join(q.Dir, q.Site+".deferrals") }

// DeferralCount is one article of S.deferrals.
type DeferralCount struct {
	Key   string // its Message-ID, or its token or path when its line has none (see Key)
	Count int    // how many times a requeue folded it back into a backlog
}

// Deferrals is the content of S.deferrals, most deferred first. The file holds one
// line per article, "KEY COUNT", written whole by each requeue (temporary file, fsync,
// rename, fsync of the directory): a crash leaves the old tally or the new one. It is
// a tally of what happened, never a queue: an article lives only in the queue files,
// and losing S.deferrals loses counts, never articles.
type Deferrals []DeferralCount

// ReadDeferrals reads the site's S.deferrals (empty when there is none). A line it
// cannot parse is skipped: the file is only statistics.
func (q Queue) ReadDeferrals() (Deferrals, error) {
	data, err := os.ReadFile(q.DeferralsPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deferral counts: %w", err)
	}
	var d Deferrals
	for line := range bytes.Lines(data) {
		key, num, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
		n, err := strconv.Atoi(string(num))
		if !ok || err != nil || n <= 0 || len(key) == 0 {
			continue
		}
		d = append(d, DeferralCount{Key: string(key), Count: n})
	}
	d.sort()
	return d, nil
}

func (d Deferrals) sort() {
	slices.SortFunc(d, func(a, b DeferralCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return bytes.Compare([]byte(a.Key), []byte(b.Key))
	})
}

// Repeated returns how many articles were deferred more than once, and the highest count.
func (d Deferrals) Repeated() (articles, highest int) {
	for _, c := range d {
		if c.Count > 1 {
			articles++
		}
		highest = max(highest, c.Count)
	}
	return articles, highest
}

// countDeferrals adds one deferral for each line of the backlog requeue just wrote
// (each is an article deferred once more), forgets the articles no longer in any of the
// site's queue files, and rewrites S.deferrals. It is called under the queue lock;
// a send may be running, which is why the queue is read backlogs first, then S.defer,
// then the deferral files: an article a send moves from a backlog to S.defer (made
// durable before its backlog line is blanked) or from S.defer to S.D.* (a rename) is
// seen in one of them. The cost is one read of the site's queue files, and only while
// some article is counted.
func (q Queue) countDeferrals(requeued string) error {
	old, err := q.ReadDeferrals()
	if err != nil {
		return err
	}
	counts := make(map[string]int, len(old))
	for _, c := range old {
		counts[c.Key] = c.Count
	}
	if requeued != "" {
		if err := eachKey(requeued, func(k string) {
			if n, ok := counts[k]; ok {
				counts[k] = n + 1
			} else if len(counts) < MaxDeferralEntries {
				counts[k] = 1
			}
		}); err != nil {
			return err
		}
	}
	if len(counts) > 0 {
		if err := q.keepQueued(counts); err != nil {
			return err
		}
	}
	if len(counts) == 0 {
		if len(old) == 0 {
			return nil
		}
		if err := os.Remove(q.DeferralsPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("deferral counts: %w", err)
		}
		return SyncDir(q.Dir)
	}
	d := make(Deferrals, 0, len(counts))
	for k, n := range counts {
		d = append(d, DeferralCount{Key: k, Count: n})
	}
	d.sort()
	var buf bytes.Buffer
	for _, c := range d {
		fmt.Fprintf(&buf, "%s %d\n", c.Key, c.Count)
	}
	if err := WriteFileAtomic(q.DeferralsPath(), buf.Bytes()); err != nil {
		return fmt.Errorf("deferral counts: %w", err)
	}
	return nil
}

// keepQueued removes from counts the articles found in none of the site's queue files.
func (q Queue) keepQueued(counts map[string]int) error {
	found := make(map[string]bool, len(counts))
	mark := func(k string) {
		if _, ok := counts[k]; ok {
			found[k] = true
		}
	}
	backlogs, err := q.Backlogs()
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(backlogs)+1)
	for _, f := range backlogs {
		paths = append(paths, f.Path)
	}
	paths = append(paths, q.DeferPath())
	for _, p := range paths {
		if err := eachKey(p, mark); err != nil {
			return err
		}
	}
	deferrals, err := q.Deferrals()
	if err != nil {
		return err
	}
	for _, f := range deferrals {
		if err := eachKey(f.Path, mark); err != nil {
			return err
		}
	}
	for k := range counts {
		if !found[k] {
			delete(counts, k)
		}
	}
	return nil
}

// eachKey calls f with the Key of every good line of the file at path; a file that is
// gone has none. Blanked lines are skipped; a compressed backlog's lines recorded done
// by its checkpoint are not (they keep their count until the file goes).
func eachKey(path string, f func(string)) error {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deferral counts: %w", err)
	}
	defer fh.Close()
	sc := NewScanner(bufio.NewReader(fh), path)
	defer sc.Close()
	for sc.Scan() {
		if sc.LineErr() != nil {
			continue
		}
		f(lineKey(sc.Line()))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("deferral counts: %w", err)
	}
	return nil
}

// lineKey names a line's article in S.deferrals: its Message-ID as written, else its
// article field (a token or path, neither holding a space).
func lineKey(l Line) string {
	if l.MessageID != "" {
		return l.MessageID
	}
	return l.Article
}
