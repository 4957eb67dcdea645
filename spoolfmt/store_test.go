package spoolfmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// confFor returns an InnConf for a spool directory laid out like newSMSpool's.
func confFor(t testing.TB, dir string) *InnConf {
	t.Helper()
	c, err := ParseInnConf(strings.NewReader(fmt.Sprintf(
		"pathnews: /usr/lib/news\npathetc: %[1]s/etc\npathspool: %[1]s/spool\n", dir)), "inn.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.PathArticles, 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustOpen(t testing.TB, c *InnConf) *Store {
	t.Helper()
	s, err := OpenStore(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantReadError(t *testing.T, err error, path string, corrupt bool) {
	t.Helper()
	var re *ReadError
	if !errors.As(err, &re) || errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v, want a *ReadError", err)
	}
	if path != "" && re.Path != path {
		t.Fatalf("ReadError path %q, want %q (%v)", re.Path, path, err)
	}
	if corrupt && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
}

func TestRetrieveFile(t *testing.T) {
	dir := t.TempDir()
	c := confFor(t, dir)
	s := mustOpen(t, c)
	arts := filepath.Join(dir, "spool/articles")
	os.MkdirAll(filepath.Join(arts, "lab/test"), 0o755)
	native := "Path: x\nMessage-ID: <n@x>\n\n.dot\nbody\n"
	wire := "Path: x\r\nMessage-ID: <w@x>\r\n\r\n..dot\r\n.\r\n"
	big := "Path: x\nMessage-ID: <big@x>\n\n" + strings.Repeat(".line of text that is long enough to matter\n", 300000)
	os.WriteFile(filepath.Join(arts, "lab/test/1"), []byte(native), 0o644)
	os.WriteFile(filepath.Join(arts, "lab/test/2"), []byte(wire), 0o644)
	os.WriteFile(filepath.Join(arts, "lab/test/3"), []byte(big), 0o644)
	os.WriteFile(filepath.Join(arts, "lab/test/4"), []byte("no newline at all"), 0o644)
	os.WriteFile(filepath.Join(arts, "lab/test/5"), []byte("Path: x\r\n\r\ntruncated"), 0o644)

	for _, tt := range []struct{ path, want string }{
		{"lab/test/1", string(ToWire(nil, []byte(native)))},
		{filepath.Join(arts, "lab/test/2"), wire},
		{"lab/test/3", string(ToWire(nil, []byte(big)))},
	} {
		got, err := s.RetrieveFile(tt.path, make([]byte, 0, 10))
		if err != nil || string(got) != tt.want {
			t.Fatalf("RetrieveFile(%s) = %d bytes, %v", tt.path, len(got), err)
		}
		r, err := s.OpenFile(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(r)
		r.Close()
		if err != nil || string(got) != tt.want {
			t.Fatalf("OpenFile(%s) = %d bytes, %v", tt.path, len(got), err)
		}
	}
	if _, err := s.RetrieveFile("lab/test/99", nil); !errors.Is(err, ErrMissing) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := s.OpenFile("lab/test/99"); !errors.Is(err, ErrMissing) {
		t.Fatalf("missing file: %v", err)
	}
	_, err := s.RetrieveFile("lab/test/4", nil)
	wantReadError(t, err, filepath.Join(arts, "lab/test/4"), true)
	_, err = s.RetrieveFile("lab/test/5", nil)
	wantReadError(t, err, filepath.Join(arts, "lab/test/5"), true)
	_, err = s.OpenFile("lab/test/5")
	wantReadError(t, err, filepath.Join(arts, "lab/test/5"), true)
	_, err = s.RetrieveFile("lab", nil)
	wantReadError(t, err, filepath.Join(arts, "lab"), false)
}

func TestMethodErrors(t *testing.T) {
	dir := t.TempDir()
	c := confFor(t, dir)
	s := mustOpen(t, c)
	for _, text := range []string{
		"@000000000000000000000000000000000000@", // trash
		"@070000000000000000000000000000000000@", // no such method
		"@02015F3A1B2C000700000000000000000000@", // timehash, no file
		"@0401005F3A1B070001000000000000000000@", // timecaf, no file
	} {
		tok, _ := ParseToken(text)
		if _, err := s.Retrieve(tok, nil); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: %v, want missing", text, err)
		}
		if ok, err := s.Exists(tok); ok || err != nil {
			t.Errorf("Exists(%s) = %v, %v", text, ok, err)
		}
	}
	// No cycbuff.conf, no tradspool.map: errors naming the file, not missing.
	tok, _ := ParseToken("@030242554631000000000000000400000001@")
	_, err := s.Retrieve(tok, nil)
	wantReadError(t, err, filepath.Join(dir, "etc/cycbuff.conf"), false)
	tok, _ = ParseToken("@050300000001000000000000000100000000@")
	_, err = s.Retrieve(tok, nil)
	wantReadError(t, err, filepath.Join(dir, "spool/tradspool.map"), false)
}

func TestTimehashTruncated(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "timehash"})
	toks := sp.store(t, wires(genArticles(3, 7, false, 0)))
	s := openTestStore(t, sp.InnConf)
	p, _ := s.Path(toks[1])
	fi, _ := os.Stat(p)
	os.Truncate(p, fi.Size()-2)
	_, err := s.Retrieve(toks[1], nil)
	wantReadError(t, err, p, true)
	// The same through a buffer that holds the whole file (one pread, no fstat).
	_, err = s.Retrieve(toks[1], make([]byte, 0, 1<<20))
	wantReadError(t, err, p, true)
	_, err = s.Open(toks[1])
	wantReadError(t, err, p, true)
	if ok, err := s.Exists(toks[1]); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
}

func TestCNFSCorrupt(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "cnfs", CNFSSizeKB: 1024})
	toks := sp.store(t, wires(genArticles(5, 8, false, 0)))
	buf := filepath.Join(sp.Dir, "spool/buf1")

	// An unknown buffer name in the token is missing, as in INN.
	other := toks[0]
	copy(other[2:10], "NOPE\x00\x00\x00\x00")
	s := openTestStore(t, sp.InnConf)
	if _, err := s.Retrieve(other, nil); !errors.Is(err, ErrMissing) {
		t.Fatalf("unknown buffer: %v", err)
	}
	// A damaged article header.
	_, block, _ := toks[2].cnfs()
	f, _ := os.OpenFile(buf, os.O_RDWR, 0)
	f.WriteAt([]byte{0x7f, 0xff, 0xff, 0xff}, int64(block)*4096)
	if _, err := s.Retrieve(toks[2], nil); err == nil {
		t.Fatal("damaged article header read")
	} else {
		wantReadError(t, err, buf, true)
	}
	// A bad magic.
	f.WriteAt([]byte("XBuf4"), 0)
	f.Close()
	s2 := openTestStore(t, sp.InnConf)
	_, err := s2.Retrieve(toks[0], nil)
	wantReadError(t, err, buf, true)
	if !strings.Contains(err.Error(), "magic") {
		t.Fatalf("error %q does not say what is wrong", err)
	}
}

func TestTimecafCorrupt(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "timecaf"})
	toks := sp.store(t, wires(genArticles(5, 9, false, 0)))
	s := openTestStore(t, sp.InnConf)
	p := s.cafPath(toks[0])
	if _, err := s.Retrieve(toks[0], nil); err != nil {
		t.Fatal(err)
	}
	// An article number outside the file is missing.
	beyond := toks[0]
	beyond[8], beyond[9] = 0x7f, 0xff
	if _, err := s.Retrieve(beyond, nil); !errors.Is(err, ErrMissing) {
		t.Fatalf("beyond the TOC: %v", err)
	}
	// Replace the file (as cafclean does) by one with a bad magic: the
	// cached descriptor is dropped once its path is checked again.
	data, _ := os.ReadFile(p)
	copy(data, "XXXX")
	os.WriteFile(p+".new", data, 0o644)
	os.Rename(p+".new", p)
	s2 := openTestStore(t, sp.InnConf)
	_, err := s2.Retrieve(toks[1], nil)
	wantReadError(t, err, p, true)
	// Expiry removes CAF files.
	os.Remove(p)
	if _, err := s2.Retrieve(toks[1], nil); !errors.Is(err, ErrMissing) {
		t.Fatalf("removed CAF: %v", err)
	}
}

func TestCAFCacheEviction(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "timecaf"})
	arts := genArticles(40, 10, false, 0)
	toks := sp.store(t, wires(arts))
	s := openTestStore(t, sp.InnConf)
	s.caf.max = 1
	// Fake distinct files: copy the CAF under other arrival times.
	src := s.cafPath(toks[0])
	var more []Token
	for i := 1; i <= 5; i++ {
		tok := toks[0]
		tok[5] += byte(i) // T's low byte: another CAF file
		data, _ := os.ReadFile(src)
		os.MkdirAll(filepath.Dir(s.cafPath(tok)), 0o755)
		os.WriteFile(s.cafPath(tok), data, 0o644)
		more = append(more, tok)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := 0; i < 200; i++ {
				tok := more[(i+g)%len(more)]
				a, err := s.Retrieve(tok, buf)
				if err != nil || !bytes.Equal(a, arts[0].Wire) {
					t.Errorf("%s: %v", tok, err)
					return
				}
				buf = a[:0]
			}
		}()
	}
	wg.Wait()
	s.caf.mu.Lock()
	n := s.caf.lru.Len()
	s.caf.mu.Unlock()
	if n > 1 {
		t.Fatalf("%d CAF files cached, limit 1", n)
	}
}

func TestTradspoolMapReload(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "tradspool"})
	arts := genArticles(5, 11, false, 0)
	toks := sp.store(t, wires(arts))
	s := openTestStore(t, sp.InnConf)
	if _, err := s.Retrieve(toks[0], nil); err != nil {
		t.Fatal(err)
	}
	// innd adds a group: a new map (written by rename) and a new directory.
	mapPath := filepath.Join(sp.Dir, "spool/tradspool.map")
	old, _ := os.ReadFile(mapPath)
	os.WriteFile(mapPath+".new", append(old, "lab/new 77\n"...), 0o644)
	os.Rename(mapPath+".new", mapPath)
	dir := filepath.Join(sp.Dir, "spool/articles/lab/new")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "3"), arts[0].Wire, 0o644)
	tok := toks[0]
	tok[2], tok[3], tok[4], tok[5] = 0, 0, 0, 77
	tok[10], tok[11], tok[12], tok[13] = 0, 0, 0, 3
	a, err := s.Retrieve(tok, nil)
	if err != nil || !bytes.Equal(a, arts[0].Wire) {
		t.Fatalf("new group: %v", err)
	}
	tok[5] = 78
	if _, err := s.Retrieve(tok, nil); !errors.Is(err, ErrMissing) {
		t.Fatalf("unknown group: %v", err)
	}
}

// TestConcurrentRetrieve reads all methods from several goroutines at once
// (run with -race).
func TestConcurrentRetrieve(t *testing.T) {
	for _, m := range []string{"timehash", "tradspool", "cnfs", "timecaf"} {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			sp := newSMSpool(t, smOptions{Method: m})
			arts := genArticles(200, 12, true, 0)
			toks := sp.store(t, wires(arts))
			s := openTestStore(t, sp.InnConf)
			want := make([][]byte, len(toks))
			for i, tok := range toks {
				a, err := s.Retrieve(tok, nil)
				if err != nil {
					t.Fatal(err)
				}
				want[i] = a
			}
			var wg sync.WaitGroup
			for g := 0; g < 6; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf []byte
					for i := range toks {
						j := (i*7 + g) % len(toks)
						a, err := s.Retrieve(toks[j], buf)
						if err != nil || !bytes.Equal(a, want[j]) {
							t.Errorf("%s: %v", toks[j], err)
							return
						}
						s.Exists(toks[j])
						s.Arrival(toks[j])
						buf = a[:0]
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestMemoryFlat reads 100,000 articles with a reused buffer: the heap
// must not grow with the number of reads.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, m := range []string{"timehash", "tradspool", "cnfs", "timecaf"} {
		t.Run(m, func(t *testing.T) {
			sp := newSMSpool(t, smOptions{Method: m, Native: m == "tradspool"})
			toks := sp.store(t, wires(genArticles(500, 13, false, 2000)))
			s := openTestStore(t, sp.InnConf)
			var buf []byte
			read := func(n int) {
				for i := 0; i < n; i++ {
					a, err := s.Retrieve(toks[i%len(toks)], buf)
					if err != nil {
						t.Fatal(err)
					}
					buf = a[:0]
				}
			}
			read(2000)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			read(100000)
			runtime.GC()
			runtime.ReadMemStats(&after)
			if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 1<<20 {
				t.Fatalf("heap grew by %d bytes over 100,000 reads", grew)
			}
			if per := (after.Mallocs - before.Mallocs) / 100000; per > 8 {
				t.Errorf("%d allocations per read", per)
			}
		})
	}
}

func TestOpenStoreNeedsArticles(t *testing.T) {
	dir := t.TempDir()
	c, err := ParseInnConf(strings.NewReader("pathnews: "+dir+"\n"), "inn.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(c); err == nil || !strings.Contains(err.Error(), "patharticles") {
		t.Fatalf("OpenStore without patharticles: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "spool"), 0o755)
	os.WriteFile(c.PathArticles, nil, 0o644)
	if _, err := OpenStore(c); err == nil {
		t.Fatal("OpenStore with a file as patharticles")
	}
}

// Relative paths in inn.conf are relative to the current directory (INN
// does not resolve them against pathnews); the Store fixes them at open.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.MkdirAll("arts/lab/test", 0o755)
	os.WriteFile("arts/lab/test/1", []byte("Path: x\n\nbody\n"), 0o644)
	c, err := ParseInnConf(strings.NewReader("pathnews: /nonexistent\npatharticles: arts\n"), "inn.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.PathArticles != "arts" {
		t.Fatalf("PathArticles = %q", c.PathArticles)
	}
	s := mustOpen(t, c)
	os.Chdir("/")
	a, err := s.RetrieveFile("lab/test/1", nil)
	if err != nil || string(a) != "Path: x\r\n\r\nbody\r\n.\r\n" {
		t.Fatalf("RetrieveFile = %q, %v", a, err)
	}
}
