package spoolfmt

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// This file builds real spools with INN's own `sm -s -R` under a scratch
// inn.conf (no innd needed), and reads them back with `sm -R` as the oracle.

const innBin = "/usr/lib/news/bin"

// requireSM skips the test when INN's sm is not installed, unless CI is set.
func requireSM(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(innBin, "sm")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("INN is not installed (%v)", err)
		}
		t.Skipf("INN is not installed: %v", err)
	}
}

// smSpool is a scratch INN configuration whose spool sm writes.
type smSpool struct {
	Dir     string
	InnConf string
	Method  string
}

type smOptions struct {
	Method     string // timehash, tradspool, cnfs, timecaf
	CNFSSizeKB int    // default 4096
	Native     bool   // wireformat: false (tradspool stores native text)
}

func newSMSpool(t testing.TB, opt smOptions) *smSpool {
	t.Helper()
	requireSM(t)
	dir := t.TempDir()
	for _, d := range []string{"etc", "db", "run", "log", "tmp", "spool/articles"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wire := "true"
	if opt.Native {
		wire = "false"
	}
	conf := fmt.Sprintf(`# scratch inn.conf for spoolfmt tests
pathhost: hub.lab.test
domain: lab.test
pathnews: /usr/lib/news
pathbin: /usr/lib/news/bin
pathetc: %[1]s/etc
pathdb: %[1]s/db
pathrun: %[1]s/run
pathlog: %[1]s/log
pathtmp: %[1]s/tmp
pathspool: %[1]s/spool
patharticles: %[1]s/spool/articles
hismethod: hisv6
ovmethod: tradindexed
mta: "/bin/true"
wireformat: %[2]s
maxartsize: 10000000
`, dir, wire)
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("inn.conf", conf)
	write("db/active", "lab.test 0000000000 0000000001 y\nlab.misc 0000000000 0000000001 y\nlab.big 0000000000 0000000001 y\n")
	switch opt.Method {
	case "cnfs":
		size := opt.CNFSSizeKB
		if size == 0 {
			size = 4096
		}
		buf := filepath.Join(dir, "spool/buf1")
		f, err := os.Create(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(int64(size) * 1024); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if len(buf) > maxCycbuffPath {
			t.Fatalf("cycbuff path %s too long for INN", buf)
		}
		write("etc/cycbuff.conf", fmt.Sprintf("cycbuff:BUF1:%s:%d\nmetacycbuff:META:BUF1\n", buf, size))
		write("etc/storage.conf", "method cnfs { newsgroups: * class: 2 options: META }\n")
	default:
		write("etc/storage.conf", fmt.Sprintf("method %s { newsgroups: * class: 3 }\n", opt.Method))
	}
	return &smSpool{Dir: dir, InnConf: filepath.Join(dir, "inn.conf"), Method: opt.Method}
}

func (s *smSpool) cmd(args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(innBin, "sm"), args...)
	c.Env = append(os.Environ(), "INNCONF="+s.InnConf)
	return c
}

// store stores wire-format articles and returns their tokens in order.
func (s *smSpool) store(t testing.TB, arts [][]byte) []Token {
	t.Helper()
	c := s.cmd("-s", "-R")
	c.Stdin = bytes.NewReader(bytes.Join(arts, nil))
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("sm -s -R: %v: %s", err, stderr.String())
	}
	var toks []Token
	for _, l := range strings.Fields(string(out)) {
		tok, err := ParseToken(l)
		if err != nil {
			t.Fatalf("sm -s -R printed %q: %v", l, err)
		}
		toks = append(toks, tok)
	}
	if len(toks) != len(arts) {
		t.Fatalf("sm -s -R stored %d of %d articles: %s", len(toks), len(arts), stderr.String())
	}
	return toks
}

// smRead runs `sm -R` once over all tokens (given on stdin) and returns
// its output (the articles concatenated, each ending in ".\r\n") and the
// tokens it reported it could not retrieve.
func smRead(t testing.TB, cmd *exec.Cmd, toks []Token) ([]byte, map[Token]bool) {
	t.Helper()
	var in bytes.Buffer
	for _, tok := range toks {
		in.WriteString(tok.String())
		in.WriteByte('\n')
	}
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	failed := map[Token]bool{}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.Contains(l, "could not retrieve") {
			tok, perr := ParseToken(f[len(f)-1])
			if perr != nil {
				t.Fatalf("sm -R: %s", l)
			}
			failed[tok] = true
		} else if strings.TrimSpace(l) != "" {
			t.Fatalf("sm -R: %s", l)
		}
	}
	if err != nil && len(failed) == 0 {
		t.Fatalf("sm -R: %v: %.500s", err, stderr.String())
	}
	return out, failed
}

// splitWire splits sm -R output into articles: in wire format the first
// "\r\n.\r\n" after an article's start is its end.
func splitWire(out []byte) [][]byte {
	var arts [][]byte
	for len(out) > 0 {
		i := bytes.Index(out, wireEnd)
		if i < 0 {
			arts = append(arts, out)
			break
		}
		arts = append(arts, out[:i+len(wireEnd)])
		out = out[i+len(wireEnd):]
	}
	return arts
}

// testArticle is a generated article.
type testArticle struct {
	MessageID string
	Groups    []string
	Wire      []byte
}

// genArticles makes n deterministic wire-format articles with an Xref
// header (sm -s needs one). With specials, about one in seven has lines
// starting with '.', one in five carries 8-bit bytes, one in four is
// cross-posted, and article 0 is over 1 MB.
func genArticles(n int, seed int64, specials bool, size int) []testArticle {
	r := rand.New(rand.NewSource(seed))
	groups := []string{"lab.test", "lab.misc", "lab.big"}
	artnum := map[string]int{}
	arts := make([]testArticle, n)
	for i := range arts {
		a := &arts[i]
		a.MessageID = fmt.Sprintf("<%d.%d.spoolfmt@lab.test>", seed, i)
		a.Groups = []string{groups[r.Intn(len(groups))]}
		if specials && i%4 == 1 {
			for _, g := range groups {
				if g != a.Groups[0] {
					a.Groups = append(a.Groups, g)
					break
				}
			}
		}
		xref := "hub.lab.test"
		for _, g := range a.Groups {
			artnum[g]++
			xref += fmt.Sprintf(" %s:%d", g, artnum[g])
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "Path: hub.lab.test!not-for-mail\r\nFrom: Tester <t@lab.test>\r\nNewsgroups: %s\r\n", strings.Join(a.Groups, ","))
		fmt.Fprintf(&b, "Subject: article %d\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n", i)
		if i%9 == 3 {
			fmt.Fprintf(&b, "Message-Id:\r\n %s\r\n", a.MessageID) // folded, other case
		} else {
			fmt.Fprintf(&b, "Message-ID: %s\r\n", a.MessageID)
		}
		fmt.Fprintf(&b, "Xref: %s\r\n\r\n", xref)
		want := size
		if want == 0 {
			want = 500 + r.Intn(3000)
		}
		if specials && i == 0 {
			want = 1100 << 10
		}
		for line := 0; b.Len() < want; line++ {
			var l []byte
			switch {
			case specials && i%7 == 2 && line%5 == 0:
				l = []byte(".. a line that started with a dot")
			case specials && i%7 == 2 && line == 1:
				l = []byte("..")
			case specials && i%5 == 4 && line%3 == 0:
				l = []byte("8-bit: gr\xfc\xdfe \xe2\x82\xac \xff\x80\x01 end")
			default:
				l = make([]byte, 10+r.Intn(70))
				for j := range l {
					l[j] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789"[r.Intn(47)]
				}
			}
			b.Write(l)
			b.WriteString("\r\n")
		}
		b.WriteString(".\r\n")
		a.Wire = b.Bytes()
	}
	return arts
}

func wires(arts []testArticle) [][]byte {
	w := make([][]byte, len(arts))
	for i := range arts {
		w[i] = arts[i].Wire
	}
	return w
}

// openTestStore opens a Store on an inn.conf and closes it at cleanup.
func openTestStore(t testing.TB, innconf string) *Store {
	t.Helper()
	conf, err := LoadInnConf(innconf)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// compareWithSM reads every token with s and checks the bytes against one
// `sm -R` run over all of them. A token is missing for s exactly when sm
// cannot retrieve it. It returns how many were missing.
func compareWithSM(t testing.TB, s *Store, cmd *exec.Cmd, toks []Token) int {
	t.Helper()
	var mine bytes.Buffer
	var buf []byte
	var present []Token
	gone := map[Token]bool{}
	for _, tok := range toks {
		a, err := s.Retrieve(tok, buf)
		if errors.Is(err, ErrMissing) {
			gone[tok] = true
			continue
		}
		if err != nil {
			t.Fatalf("Retrieve %s: %v", tok, err)
		}
		mine.Write(a)
		buf = a[:0]
		present = append(present, tok)
	}
	theirs, failed := smRead(t, cmd, toks)
	if len(gone) != len(failed) {
		t.Fatalf("%d articles missing for nxmit, %d for sm -R", len(gone), len(failed))
	}
	for tok := range gone {
		if !failed[tok] {
			t.Fatalf("%s missing for nxmit, not for sm -R", tok)
		}
	}
	if bytes.Equal(mine.Bytes(), theirs) {
		return len(gone)
	}
	m, o := splitWire(mine.Bytes()), splitWire(theirs)
	for i := range min(len(m), len(o)) {
		if !bytes.Equal(m[i], o[i]) {
			t.Fatalf("token %s: nxmit read %d bytes, sm -R %d; first difference at %d", present[i], len(m[i]), len(o[i]), firstDiff(m[i], o[i]))
		}
	}
	t.Fatalf("nxmit read %d articles (%d bytes), sm -R %d (%d bytes)", len(m), mine.Len(), len(o), len(theirs))
	return 0
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
