package spoolfmt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

// TestSMSpools stores generated articles with INN's sm into each method and
// checks that every article reads back exactly as `sm -R` prints it.
func TestSMSpools(t *testing.T) {
	cases := []smOptions{
		{Method: "timehash"},
		{Method: "tradspool"},
		{Method: "tradspool", Native: true},
		{Method: "cnfs"},
		{Method: "timecaf"},
	}
	for _, opt := range cases {
		name := opt.Method
		if opt.Native {
			name += "-native"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sp := newSMSpool(t, opt)
			arts := genArticles(300, 1, true, 0)
			toks := sp.store(t, wires(arts))
			s := openTestStore(t, sp.InnConf)
			if opt.Native {
				p, err := s.Path(toks[3])
				if err != nil {
					t.Fatal(err)
				}
				if raw, err := os.ReadFile(p); err != nil || bytes.Contains(raw, []byte("\r\n")) {
					t.Fatalf("%s is not in native format (err %v)", p, err)
				}
			}
			compareWithSM(t, s, sp.cmd("-R"), toks)
			for i, tok := range toks {
				a, err := s.Retrieve(tok, nil)
				if err != nil {
					t.Fatal(err)
				}
				if opt.Method != "tradspool" && !bytes.Equal(a, arts[i].Wire) {
					t.Fatalf("%s: stored bytes differ from the injected article", tok)
				}
				if err := CheckMessageID(a, arts[i].MessageID); err != nil {
					t.Fatalf("%s: %v", tok, err)
				}
				ok, err := s.Exists(tok)
				if !ok || err != nil {
					t.Fatalf("Exists(%s) = %v, %v", tok, ok, err)
				}
				if _, ok := s.Arrival(tok); !ok {
					t.Fatalf("Arrival(%s) unknown", tok)
				}
				if i%10 == 0 {
					checkOpen(t, s, tok, a)
				}
			}
			// Cancel a few articles with sm -d: they become missing.
			for _, i := range []int{1, 5, 17} {
				if out, err := sp.cmd("-d", toks[i].String()).CombinedOutput(); err != nil {
					t.Fatalf("sm -d: %v: %s", err, out)
				}
				_, err := s.Retrieve(toks[i], nil)
				if !errors.Is(err, ErrMissing) {
					t.Fatalf("cancelled %s: err = %v, want missing", toks[i], err)
				}
				if ok, err := s.Exists(toks[i]); ok || err != nil {
					t.Fatalf("Exists(cancelled %s) = %v, %v", toks[i], ok, err)
				}
				if _, err := s.Open(toks[i]); !errors.Is(err, ErrMissing) {
					t.Fatalf("Open(cancelled %s): %v", toks[i], err)
				}
			}
			if _, err := s.Retrieve(toks[2], nil); err != nil {
				t.Fatalf("neighbour of a cancelled article: %v", err)
			}
		})
	}
}

// TestCNFSWrap fills a small cycbuff several times over: the overwritten
// articles are missing (as for sm -R) and the rest read back exactly.
func TestCNFSWrap(t *testing.T) {
	sp := newSMSpool(t, smOptions{Method: "cnfs", CNFSSizeKB: 1024})
	arts := genArticles(900, 2, false, 3000)
	var toks []Token
	for i := 0; i < len(arts); i += 150 {
		toks = append(toks, sp.store(t, wires(arts[i:i+150]))...)
	}
	s := openTestStore(t, sp.InnConf)
	gone := compareWithSM(t, s, sp.cmd("-R"), toks)
	if gone < len(toks)/3 || gone == len(toks) {
		t.Fatalf("%d of %d articles overwritten; the buffer should have wrapped", gone, len(toks))
	}
	for i, tok := range toks {
		_, err := s.Retrieve(tok, nil)
		ok, eerr := s.Exists(tok)
		if eerr != nil || ok != (err == nil) {
			t.Fatalf("%s: Exists = %v, %v but Retrieve = %v", tok, ok, eerr, err)
		}
		if err != nil {
			var me *MissingError
			if !errors.As(err, &me) {
				t.Fatalf("%s: %v", tok, err)
			}
			if i == 0 {
				t.Logf("first article: %v", err)
			}
		}
	}
}

// checkOpen reads tok with Open, in small and large reads, and with
// WriteTo, and compares with want.
func checkOpen(t testing.TB, s *Store, tok Token, want []byte) {
	t.Helper()
	for _, mode := range []string{"one-byte", "readall", "writeto"} {
		r, err := s.Open(tok)
		if err != nil {
			t.Fatalf("Open(%s): %v", tok, err)
		}
		var got []byte
		switch mode {
		case "one-byte":
			if len(want) > 200000 {
				r.Close()
				continue
			}
			got, err = io.ReadAll(iotest.OneByteReader(r))
		case "readall":
			got, err = io.ReadAll(r)
		case "writeto":
			var b bytes.Buffer
			_, err = r.WriteTo(&b)
			got = b.Bytes()
		}
		if sz := r.Size(); sz != -1 && sz != int64(len(want)) {
			t.Fatalf("Open(%s).Size() = %d, want %d", tok, sz, len(want))
		}
		r.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Open(%s) %s: %d bytes, %v; want %d bytes", tok, mode, len(got), err, len(want))
		}
	}
}
