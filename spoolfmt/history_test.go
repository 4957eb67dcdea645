package spoolfmt

import (
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHashMessageID follows INN's lib/hash-t.c: the domain is case-insensitive, the
// local part is not, except for postmaster.
func TestHashMessageID(t *testing.T) {
	same := [][2]string{
		{"<lhs@test.invalid>", "<lhs@TEST.invalid>"},
		{"<lhs@test.invalid>", "<lhs@test.INVALID>"},
		{"<postmaster@test.invalid>", "<POSTMASTER@test.invalid>"},
		{"<postmaster@test.invalid>", "<PostMaster@TEST.invalid>"},
	}
	differ := [][2]string{
		{"<lhs@test.invalid>", "<Lhs@test.invalid>"},
		{"<lhs@test.invalid>", "<lhS@test.invalid>"},
		{"<test.invalid>", "<TEST.invalid>"},
		{"<postmasterx@test.invalid>", "<POSTMASTERx@test.invalid>"},
	}
	for _, p := range same {
		if HashMessageID(p[0]) != HashMessageID(p[1]) {
			t.Errorf("%s and %s hash differently", p[0], p[1])
		}
	}
	for _, p := range differ {
		if HashMessageID(p[0]) == HashMessageID(p[1]) {
			t.Errorf("%s and %s hash alike", p[0], p[1])
		}
	}
	if got, want := HashMessageID("<a@B.c>"), md5.Sum([]byte("<a@b.c>")); got != want {
		t.Errorf("hash %x, want md5 of the lower-cased domain %x", got, want)
	}
}

func TestLookupHistory(t *testing.T) {
	tok := "@0201000000010000000000000000000000000@"
	tok = tok[:1] + tok[2:] // 36 hex digits
	lines := []string{
		HistoryKey("<other@x>") + "\t1700000000~-~1699999000\t" + tok,
		HistoryKey("<gone@x>") + "\t1700000100~-~1699999100",
		HistoryKey("<here@X>") + "\t1700000200~1800000000~1699999200\t" + tok,
	}
	path := filepath.Join(t.TempDir(), "history")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, ok, err := LookupHistory(path, "<here@x>")
	if err != nil || !ok || e.Line != 3 || e.Arrived.Unix() != 1700000200 || e.Expires.Unix() != 1800000000 || !e.HasToken || e.Token.String() != tok {
		t.Errorf("here: %+v %v %v", e, ok, err)
	}
	e, ok, err = LookupHistory(path, "<gone@x>")
	if err != nil || !ok || e.HasToken || !e.Expires.IsZero() || e.Posted.Unix() != 1699999100 {
		t.Errorf("gone: %+v %v %v", e, ok, err)
	}
	if _, ok, err := LookupHistory(path, "<never@x>"); ok || err != nil {
		t.Errorf("never: %v %v", ok, err)
	}
}

func FuzzParseHistoryLine(f *testing.F) {
	f.Add(fmt.Sprintf("[%032X]\t1700000000~-~1699999000\t@020100000001000000000000000000000000@", 1))
	f.Add(fmt.Sprintf("[%032X]\t1~2", 1))
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseHistoryLine(line)
		if err == nil && e.Arrived.IsZero() {
			t.Errorf("parsed %q without an arrival time", line)
		}
	})
}
