package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// dirNames returns the sorted names in dir.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func writeLines(lines ...string) func(io.Writer) error {
	return func(w io.Writer) error {
		for _, l := range lines {
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestCreate(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			dir := t.TempDir()
			q := Queue{Dir: dir, Site: "peer"}
			before := time.Now().Unix()
			path, err := q.Create(KindBacklog, compress, writeLines(tok(1)+" "+mid(1), tok(2)+" "+mid(2)))
			if err != nil {
				t.Fatal(err)
			}
			base := filepath.Base(path)
			rest, ok := strings.CutPrefix(base, "peer.B.")
			if !ok || strings.HasSuffix(base, ZstdSuffix) != compress {
				t.Fatalf("name %s", base)
			}
			created, own := parseHexName(rest)
			if !own || created.Unix() < before || created.Unix() > time.Now().Unix() {
				t.Errorf("name %s: created %v", base, created)
			}
			if names := dirNames(t, dir); len(names) != 1 || names[0] != base {
				t.Errorf("directory holds %v", names)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if compress {
				if !bytes.HasPrefix(data, zstdMagic) {
					t.Fatalf("no zstd magic")
				}
				d, _ := zstd.NewReader(nil)
				data, err = d.DecodeAll(data, nil)
				d.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			if want := tok(1) + " " + mid(1) + "\n" + tok(2) + " " + mid(2) + "\n"; string(data) != want {
				t.Errorf("content %q", data)
			}
			got, err := q.Backlogs()
			if err != nil || len(got) != 1 || got[0].Compressed != compress {
				t.Errorf("Backlogs() = %+v, %v", got, err)
			}
		})
	}
}

func TestCreateNextSecond(t *testing.T) {
	dir := t.TempDir()
	q := Queue{Dir: dir, Site: "peer"}
	now := time.Now()
	taken := map[string]bool{}
	for i := range 3 {
		n := q.Name(KindDeferred, now.Add(time.Duration(i)*time.Second), false)
		touch(t, dir, n, "old\n", time.Time{})
		taken[n] = true
	}
	// A stale temporary file of the next second is stepped over too.
	touch(t, dir, q.Name(KindDeferred, now.Add(3*time.Second), false)+TempSuffix, "crashed", time.Time{})
	path, err := q.Create(KindDeferred, false, writeLines(tok(1)))
	if err != nil {
		t.Fatal(err)
	}
	if taken[filepath.Base(path)] {
		t.Fatalf("Create reused %s", path)
	}
	for n := range taken {
		if b, _ := os.ReadFile(filepath.Join(dir, n)); string(b) != "old\n" {
			t.Errorf("%s was overwritten: %q", n, b)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != tok(1)+"\n" {
		t.Errorf("new file holds %q", b)
	}
}

func TestCreateWriteFailure(t *testing.T) {
	boom := errors.New("no space left on device (simulated)")
	for _, tc := range []struct {
		name     string
		compress bool
		write    func(io.Writer) error
	}{
		{"at once", false, func(io.Writer) error { return boom }},
		{"after 1 MB", false, func(w io.Writer) error {
			for i := range 20000 {
				fmt.Fprintf(w, "%s %s\n", tok(i), mid(i))
			}
			return boom
		}},
		{"compressed after 1 MB", true, func(w io.Writer) error {
			for i := range 20000 {
				fmt.Fprintf(w, "%s %s\n", tok(i), mid(i))
			}
			return boom
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			q := Queue{Dir: dir, Site: "peer"}
			path, err := q.Create(KindBacklog, tc.compress, tc.write)
			if !errors.Is(err, boom) || path != "" {
				t.Fatalf("Create = %q, %v", path, err)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
}

// TestCreateENOSPC fills a small tmpfs for real (needs root and mount).
func TestCreateENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	q := Queue{Dir: dir, Site: "peer"}
	small, err := q.Create(KindBacklog, false, writeLines(tok(1)+" "+mid(1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.Create(KindBacklog, false, func(w io.Writer) error {
		for i := range 10000 { // ~700 KB
			if _, err := fmt.Fprintf(w, "%s %s\n", tok(i), mid(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Create on a full file system: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != filepath.Base(small) {
		t.Errorf("left behind: %v", names)
	}
}

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	q := Queue{Dir: dir, Site: "peer"}
	rot := touch(t, dir, "peer.rotating", tok(1)+"\n", time.Time{})
	// An orphan progress file makes its name unusable.
	orphan := q.Name(KindBacklog, time.Now(), false) + ProgressSuffix
	touch(t, dir, orphan, "x", time.Time{})
	path, err := q.Install(KindBacklog, rot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rot); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists", rot)
	}
	if filepath.Base(path)+ProgressSuffix == orphan {
		t.Errorf("installed over the name of an orphan progress file")
	}
	if b, _ := os.ReadFile(path); string(b) != tok(1)+"\n" {
		t.Errorf("installed file holds %q", b)
	}

	z := touch(t, dir, "peer.rotating", string(zstdBytes(t, []byte(tok(2)+"\n"))), time.Time{})
	zpath, err := q.Install(KindBacklog, z)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(zpath, ZstdSuffix) {
		t.Errorf("zstd file installed as %s", zpath)
	}
	if _, err := q.Install(KindBacklog, filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Install(missing) = %v", err)
	}
}

func TestRenameNoReplace(t *testing.T) {
	for name, rename := range map[string]func(string, string) error{"renameat2": renameNoReplace, "link": linkRename} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			a := touch(t, dir, "a", "A", time.Time{})
			b := touch(t, dir, "b", "B", time.Time{})
			if err := rename(a, b); !errors.Is(err, os.ErrExist) {
				t.Fatalf("rename onto an existing file: %v", err)
			}
			if x, _ := os.ReadFile(b); string(x) != "B" {
				t.Fatalf("target replaced")
			}
			c := filepath.Join(dir, "c")
			if err := rename(a, c); err != nil {
				t.Fatal(err)
			}
			if x, _ := os.ReadFile(c); string(x) != "A" {
				t.Fatalf("renamed file holds %q", x)
			}
			if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("old name still there")
			}
		})
	}
}
