package spoolfmt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Find and ReadOpened give what Retrieve gives, hold a descriptor in between
// and nothing after, and see files and directories that go away and come back.
func TestFindReadOpened(t *testing.T) {
	for _, method := range []string{"timehash", "tradspool"} {
		t.Run(method, func(t *testing.T) {
			sp := newSMSpool(t, smOptions{Method: method})
			arts := wires(genArticles(6, 11, false, 0))
			toks := sp.store(t, arts)
			s := openTestStore(t, sp.InnConf)
			var buf []byte
			for i, tok := range toks {
				o, err := s.Find(tok)
				if err != nil {
					t.Fatalf("Find %v: %v", tok, err)
				}
				if s.held.Load() != 1 {
					t.Fatalf("held %d descriptors after Find, want 1", s.held.Load())
				}
				got, err := s.ReadOpened(&o, buf)
				if err != nil || !bytes.Equal(got, arts[i]) {
					t.Fatalf("ReadOpened %v: %v (%d bytes, want %d)", tok, err, len(got), len(arts[i]))
				}
				if s.held.Load() != 0 {
					t.Fatalf("held %d descriptors after ReadOpened", s.held.Load())
				}
				// Read again: the token is read from the spool anew.
				if got, err := s.ReadOpened(&o, nil); err != nil || !bytes.Equal(got, arts[i]) {
					t.Fatalf("second ReadOpened %v: %v", tok, err)
				}
				buf = got[:0]
			}

			// A file removed after Find is still read through the descriptor, as
			// innxmit's open file would be; one removed before is missing.
			p0, _ := s.Path(toks[0])
			o, err := s.Find(toks[0])
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(p0)
			if got, err := s.ReadOpened(&o, nil); err != nil || !bytes.Equal(got, arts[0]) {
				t.Fatalf("ReadOpened of a file removed after Find: %v", err)
			}
			if _, err := s.Find(toks[0]); !errors.Is(err, ErrMissing) || !bytes.Contains([]byte(err.Error()), []byte(p0)) {
				t.Fatalf("Find of a removed file: %v, want missing naming %s", err, p0)
			}
			if ok, err := s.Exists(toks[0]); ok || err != nil {
				t.Fatalf("Exists of a removed file = %v, %v", ok, err)
			}

			// The directory removed and made again (its cached handle is stale):
			// the article is found through a fresh one.
			p1, _ := s.Path(toks[1])
			dir := filepath.Dir(p1)
			tmp := dir + ".moved"
			if err := os.Rename(dir, tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(tmp, filepath.Base(p1)), p1); err != nil {
				t.Fatal(err)
			}
			old := dirRecheck
			dirRecheck = 0
			defer func() { dirRecheck = old }()
			if got, err := s.Retrieve(toks[1], nil); err != nil || !bytes.Equal(got, arts[1]) {
				t.Fatalf("Retrieve after the directory was made again: %v", err)
			}
		})
	}
}

// Past maxHeld descriptors Find only checks, and the read opens the file again.
func TestFindHeldBound(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "timehash"})
	arts := wires(genArticles(1, 3, false, 0))
	toks := sp.store(t, arts)
	s := openTestStore(t, sp.InnConf)
	s.held.Store(maxHeld)
	o, err := s.Find(toks[0])
	if err != nil || o.fd != 0 || s.held.Load() != maxHeld {
		t.Fatalf("Find at the bound: %+v, %v, held %d", o, err, s.held.Load())
	}
	if got, err := s.ReadOpened(&o, nil); err != nil || !bytes.Equal(got, arts[0]) {
		t.Fatalf("ReadOpened: %v", err)
	}
	s.held.Store(0)
}

// Reading a timehash article into a buffer that fits allocates nothing: no
// path or token text is built for an article read whole.
func TestRetrieveNoAlloc(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "timehash"})
	toks := sp.store(t, wires(genArticles(4, 5, false, 0)))
	s := openTestStore(t, sp.InnConf)
	buf := make([]byte, 0, 1<<20)
	allocs := testing.AllocsPerRun(50, func() {
		for _, tok := range toks {
			o, err := s.Find(tok)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ReadOpened(&o, buf); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations for %d articles found and read", allocs, len(toks))
	}
}

// A directory found missing is not looked up again for dirRecheck, and is seen
// once it exists and that time has passed.
func TestMissingDirectoryRemembered(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "timehash"})
	arts := wires(genArticles(1, 9, false, 0))
	toks := sp.store(t, arts)
	s := openTestStore(t, sp.InnConf)
	p, _ := s.Path(toks[0])
	dir := filepath.Dir(p)
	tmp := dir + ".away"
	if err := os.Rename(dir, tmp); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(toks[0]); !errors.Is(err, ErrMissing) {
		t.Fatalf("Find with the directory gone: %v", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(toks[0]); !errors.Is(err, ErrMissing) {
		t.Fatalf("Find within dirRecheck: %v, want the directory remembered as missing", err)
	}
	old := dirRecheck
	dirRecheck = 0
	defer func() { dirRecheck = old }()
	o, err := s.Find(toks[0])
	if err != nil {
		t.Fatalf("Find after dirRecheck: %v", err)
	}
	s.CloseOpened(&o)
}

// WireFile hands over the descriptor of an article stored whole in wire format,
// whose bytes are those Retrieve gives, and declines native-format files, articles
// below the size asked for and those not held; the descriptor stays held.
func TestWireFile(t *testing.T) {
	tests := []struct {
		method string
		native bool
		wire   bool // WireFile takes the articles
	}{
		{"timehash", false, true},
		{"tradspool", false, true},
		{"tradspool", true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s native=%v", tt.method, tt.native), func(t *testing.T) {
			sp := newSMSpool(t, smOptions{Method: tt.method, Native: tt.native})
			arts := wires(genArticles(4, 12, false, 0))
			toks := sp.store(t, arts)
			s := openTestStore(t, sp.InnConf)
			head := make([]byte, 8192)
			for i, tok := range toks {
				o, err := s.Find(tok)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, ok := s.WireFile(&o, int64(len(arts[i]))+1, head, nil); ok {
					t.Errorf("WireFile took an article below the size asked for")
				}
				w, _, ok := s.WireFile(&o, 1, head, nil)
				if ok != tt.wire {
					t.Fatalf("WireFile ok = %v, want %v", ok, tt.wire)
				}
				if ok {
					got := make([]byte, w.Size)
					if err := preadFull(w.FD, got, 0); err != nil || !bytes.Equal(got, arts[i]) {
						t.Fatalf("file of %v: %v, bytes differ from the article", tok, err)
					}
					if !bytes.HasPrefix(arts[i], w.Head) || !bytes.HasSuffix(w.Head, []byte("\r\n\r\n")) || CheckMessageID(w.Head, MessageID(arts[i])) != nil {
						t.Fatalf("head %q is not the article's header", w.Head)
					}
				}
				if s.Held() != 1 {
					t.Fatalf("held %d descriptors after WireFile, want 1", s.Held())
				}
				s.CloseOpened(&o)
				if _, _, ok := s.WireFile(&o, 1, head, nil); ok {
					t.Error("WireFile of a closed Opened")
				}
			}
		})
	}
}

// A timehash article below the sendfile threshold costs one stat at most: WireFile's,
// which ReadOpened reuses; read through a buffer that holds it, none, and WireFile
// given one returns it read (one read: the stat and the second read are saved).
func TestReadStats(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "timehash"})
	arts := wires(genArticles(8, 13, false, 0))
	toks := sp.store(t, arts)
	s := openTestStore(t, sp.InnConf)
	head := make([]byte, 8192)
	buf := make([]byte, 0, 1<<20)
	tests := []struct {
		name  string
		read  func(i int, tok Token) ([]byte, error)
		stats int64 // per article
	}{
		{"WireFile, ReadOpened", func(i int, tok Token) ([]byte, error) {
			o, err := s.Find(tok)
			if err != nil {
				return nil, err
			}
			if _, _, ok := s.WireFile(&o, 1<<30, head, nil); ok {
				t.Fatal("WireFile took an article below the threshold")
			}
			return s.ReadOpened(&o, buf)
		}, 1},
		{"WireFile reading", func(i int, tok Token) ([]byte, error) {
			o, err := s.Find(tok)
			if err != nil {
				return nil, err
			}
			_, art, ok := s.WireFile(&o, 64<<10, head, buf)
			if ok || art == nil {
				t.Fatalf("WireFile with a buffer: ok %v, %d bytes read; want the article read", ok, len(art))
			}
			if s.Held() != 0 {
				t.Fatalf("WireFile returned the article and holds %d descriptors", s.Held())
			}
			return art, nil
		}, 0},
		{"Find, ReadOpened", func(i int, tok Token) ([]byte, error) {
			o, err := s.Find(tok)
			if err != nil {
				return nil, err
			}
			return s.ReadOpened(&o, buf)
		}, 0},
		{"Retrieve", func(i int, tok Token) ([]byte, error) { return s.Retrieve(tok, buf) }, 0},
		{"Retrieve, no buffer", func(i int, tok Token) ([]byte, error) { return s.Retrieve(tok, nil) }, 1},
	}
	for _, tt := range tests {
		before := fstats.Load()
		for i, tok := range toks {
			got, err := tt.read(i, tok)
			if err != nil || !bytes.Equal(got, arts[i]) {
				t.Fatalf("%s %v: %v, or bytes differ", tt.name, tok, err)
			}
		}
		if n := fstats.Load() - before; n != tt.stats*int64(len(toks)) {
			t.Errorf("%s: %d stats for %d articles, want %d each", tt.name, n, len(toks), tt.stats)
		}
	}
}

// WireFile gives CNFS and timecaf articles, stored by INN's sm, as ranges of their
// buffer or CAF file from least bytes up, holding the file until CloseOpened; and
// WireUnchanged sees an article cancelled, overwritten or cut after WireFile found it.
func TestWireFileShared(t *testing.T) {
	for _, method := range []string{"cnfs", "timecaf"} {
		t.Run(method, func(t *testing.T) {
			sp := newSMSpool(t, smOptions{Method: method})
			arts := wires(genArticles(5, 21, true, 150<<10))
			toks := sp.store(t, arts)
			s := openTestStore(t, sp.InnConf)
			head := make([]byte, 8192)
			wire := func(i int) (Opened, WireFile) {
				t.Helper()
				o, err := s.Find(toks[i])
				if err != nil {
					t.Fatalf("Find %v: %v", toks[i], err)
				}
				size := int64(len(arts[i]))
				if _, _, ok := s.WireFile(&o, size+1, head, nil); ok {
					t.Fatalf("WireFile of a %d-byte article with least %d: ok", size, size+1)
				}
				w, _, ok := s.WireFile(&o, size, head, nil)
				if !ok || !w.Shared || w.Size != size || w.Off <= 0 {
					t.Fatalf("WireFile of %v = %+v, %v; want a shared range of %d bytes", toks[i], w, ok, size)
				}
				return o, w
			}
			for i := range toks {
				o, w := wire(i)
				got := make([]byte, w.Size)
				if err := preadFull(w.FD, got, w.Off); err != nil || !bytes.Equal(got, arts[i]) {
					t.Fatalf("the range of %v is not the article (%v)", toks[i], err)
				}
				if !bytes.HasPrefix(arts[i], w.Head) || !bytes.HasSuffix(w.Head, []byte("\r\n\r\n")) {
					t.Fatalf("Head of %v is not the article's header: %q", toks[i], w.Head)
				}
				if err := s.WireUnchanged(&o); err != nil {
					t.Fatalf("WireUnchanged of an untouched article: %v", err)
				}
				if s.Held() != 1 {
					t.Fatalf("held %d after WireFile, want 1", s.Held())
				}
				s.CloseOpened(&o)
				if s.Held() != 0 {
					t.Fatalf("held %d after CloseOpened", s.Held())
				}
			}

			// Cancelled after WireFile (sm -d clears the CNFS bitmap bit, the CAF
			// table of contents entry).
			o, _ := wire(0)
			if out, err := sp.cmd("-d", toks[0].String()).CombinedOutput(); err != nil {
				t.Fatalf("sm -d: %v: %s", err, out)
			}
			if err := s.WireUnchanged(&o); !errors.Is(err, ErrMissing) {
				t.Errorf("WireUnchanged of a cancelled article: %v, want missing", err)
			}
			// Sent again (after the connection was cut): read, and found missing.
			if _, _, ok := s.WireFile(&o, 0, head, nil); ok {
				t.Error("WireFile of a cancelled article: ok")
			}
			if _, err := s.ReadOpened(&o, nil); !errors.Is(err, ErrMissing) {
				t.Errorf("ReadOpened of a cancelled article: %v, want missing", err)
			}
			if s.Held() != 0 {
				t.Errorf("held %d after ReadOpened", s.Held())
			}

			// The article's end changed, and for CNFS its header overwritten as
			// innd's next cycle does.
			o, w := wire(1)
			// The file the Store reads (sm -d may have made a new CAF file by cleaning).
			f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", w.FD), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("X"), w.Off+w.Size-1); err != nil {
				t.Fatal(err)
			}
			if err := s.WireUnchanged(&o); err == nil || !strings.Contains(err.Error(), "CRLF.CRLF") && !errors.Is(err, ErrMissing) {
				t.Errorf("WireUnchanged of an article whose end changed: %v", err)
			}
			s.CloseOpened(&o)
			if method == "cnfs" {
				o, w := wire(2)
				if _, err := f.WriteAt([]byte{0xff}, w.Off-cnfsArtHdrSize+8); err != nil { // the arrival time
					t.Fatal(err)
				}
				if err := s.WireUnchanged(&o); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "overwritten while sent") {
					t.Errorf("WireUnchanged of an article whose header changed: %v, want overwritten", err)
				}
				s.CloseOpened(&o)

				// Closing the Store keeps a pinned buffer open until the article
				// is closed.
				o, w = wire(3)
				s.Close()
				if err := preadFull(w.FD, make([]byte, 10), w.Off); err != nil {
					t.Errorf("pinned buffer unreadable after Close: %v", err)
				}
				s.CloseOpened(&o)
				if err := preadFull(w.FD, make([]byte, 10), w.Off); err == nil {
					t.Error("buffer still open after Close and the last CloseOpened")
				}
			}
		})
	}
}
