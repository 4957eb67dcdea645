package batch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDeferLogStale(t *testing.T) {
	big := strings.Repeat(tok(9)+" "+mid(9)+"\n", 3000) // > 64 KiB: the search spans chunks
	for _, tc := range []struct {
		name, stale, want string // want "" : no S.D file
	}{
		{"partial last line", tok(1) + " " + mid(1) + "\n" + tok(2) + " " + mid(2) + "\n" + tok(3) + " <3", tok(1) + " " + mid(1) + "\n" + tok(2) + " " + mid(2) + "\n"},
		{"whole lines", tok(1) + "\n", tok(1) + "\n"},
		{"empty", "", ""},
		{"only a partial line", tok(1) + " <1", ""},
		{"long partial line", big + strings.Repeat("x", 100_000), big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			q := Queue{Dir: dir, Site: "peer"}
			touch(t, dir, "peer.defer", tc.stale, time.Time{})
			d, err := q.OpenDeferLog()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := os.Stat(q.DeferPath()); !os.IsNotExist(err) {
				t.Errorf("stale S.defer still there: %v", err)
			}
			files, err := q.Deferrals()
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(files) != 0 {
					t.Errorf("deferral files %v", baseNames(files))
				}
				return
			}
			if len(files) != 1 {
				t.Fatalf("deferral files %v", baseNames(files))
			}
			if b, _ := os.ReadFile(files[0].Path); string(b) != tc.want {
				t.Errorf("S.D holds %d bytes %.60q..., want %d bytes", len(b), b, len(tc.want))
			}
		})
	}
}

func TestDeferLogAppend(t *testing.T) {
	dir := t.TempDir()
	q := Queue{Dir: dir, Site: "peer"}

	// A pass without deferrals leaves nothing.
	d, err := q.OpenDeferLog()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil || d.Installed() != "" {
		t.Fatalf("Close = %v, installed %q", err, d.Installed())
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("left %v", names)
	}

	d, err = q.OpenDeferLog()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < 400; i += 4 {
				l := Line{Article: tok(i), MessageID: mid(i)}
				if i%10 == 0 {
					l = Line{Article: fmt.Sprintf("news/x/%d", i)}
				}
				if err := d.Append(l); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// Appended lines are in the file before Close or Sync.
	if b, _ := os.ReadFile(q.DeferPath()); strings.Count(string(b), "\n") != 400 {
		t.Errorf("S.defer holds %d lines before Close", strings.Count(string(b), "\n"))
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Lines() != 400 {
		t.Errorf("Lines() = %d", d.Lines())
	}
	if err := d.Append(Line{Article: tok(1)}); err == nil {
		t.Error("Append after Close")
	}
	files, _ := q.Deferrals()
	if len(files) != 1 || files[0].Path != d.Installed() || !strings.HasPrefix(filepath.Base(d.Installed()), "peer.D.") {
		t.Fatalf("deferrals %v, installed %q", baseNames(files), d.Installed())
	}
	if _, err := os.Stat(q.DeferPath()); !os.IsNotExist(err) {
		t.Errorf("S.defer still there after Close")
	}
	b, _ := os.ReadFile(d.Installed())
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var want []string
	for i := range 400 {
		if i%10 == 0 {
			want = append(want, fmt.Sprintf("news/x/%d", i))
		} else {
			want = append(want, tok(i)+" "+mid(i))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("S.D lines differ")
	}
}
