package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/spoolfmt"
)

func TestMeasureQueue(t *testing.T) {
	dir := t.TempDir()
	arts := filepath.Join(dir, "articles")
	os.MkdirAll(arts, 0o755)
	conf, err := spoolfmt.ParseInnConf(strings.NewReader("pathnews: "+dir+"\npatharticles: "+arts+"\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var lines strings.Builder
	var total int64
	arrived := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	for i, body := range []string{"short", strings.Repeat("long line\n", 50)} {
		name := filepath.Join(arts, "a"+string(rune('0'+i)))
		art := "Message-ID: <" + string(rune('a'+i)) + "@x>\n\n" + body + "\n"
		os.WriteFile(name, []byte(art), 0o644)
		os.Chtimes(name, arrived.Add(time.Duration(i)*time.Minute), arrived.Add(time.Duration(i)*time.Minute))
		wire, _ := store.RetrieveFile(name, nil)
		total += int64(len(wire))
		lines.WriteString(name + " <" + string(rune('a'+i)) + "@x>\n")
	}
	q := filepath.Join(dir, "peer.B.00000001")
	os.WriteFile(q, []byte(lines.String()), 0o644)
	now := time.Now()
	created := now.Add(-time.Hour)

	m := MeasureQueue([]string{q}, 2, true, created, store, now)
	if m.Bytes != total || !strings.HasPrefix(m.BytesMethod, "exact") {
		t.Errorf("bytes %d (%s), want exactly %d", m.Bytes, m.BytesMethod, total)
	}
	if m.Oldest == nil || !m.Oldest.Equal(arrived) || !strings.HasPrefix(m.OldestMethod, "spool arrival") {
		t.Errorf("oldest %v (%s), want %v from the spool", m.Oldest, m.OldestMethod, arrived)
	}
	// Counted approximately: the bytes are an estimate from the sample.
	m = MeasureQueue([]string{q}, 20, false, created, store, now)
	if m.Bytes != total*10 || !strings.HasPrefix(m.BytesMethod, "estimated") {
		t.Errorf("bytes %d (%s), want about %d estimated", m.Bytes, m.BytesMethod, total*10)
	}
	// No spool: the oldest file's creation, said to be an estimate.
	m = MeasureQueue([]string{q}, 2, true, created, nil, now)
	if m.Oldest == nil || !m.Oldest.Equal(created) || !strings.HasPrefix(m.OldestMethod, "estimated") || !strings.HasPrefix(m.BytesMethod, "unknown") {
		t.Errorf("without a spool: %+v", m)
	}
	m = MeasureQueue(nil, 0, true, time.Time{}, store, now)
	if m.Oldest != nil || m.Bytes != 0 || m.OldestAge != 0 {
		t.Errorf("empty queue: %+v", m)
	}
}
