package spoolfmt

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

func TestParseHistoryLine(t *testing.T) {
	const hash = "E6184A5BC2898A35A3140B149DE91D5C"
	const tok = "@030154574F00000000000007CE3B000004BA@"
	tests := []struct {
		line                     string
		arrived, expires, posted int64
		hasToken                 bool
		bad                      string
	}{
		{line: "[" + hash + "]\t935678987~-~935678821\t" + tok, arrived: 935678987, posted: 935678821, hasToken: true},
		{line: "[" + hash + "]\t935678987~935999999~935678821\t" + tok, arrived: 935678987, expires: 935999999, posted: 935678821, hasToken: true},
		{line: "[" + hash + "]\t935678987~-~935678821", arrived: 935678987, posted: 935678821},
		{line: "[" + hash + "]\t935678987~-~935678821\t", arrived: 935678987, posted: 935678821},
		{line: "[" + hash + "]\t935678987", arrived: 935678987},
		{line: "[" + hash + "]\t935678987~-", arrived: 935678987},
		{line: "", bad: "no [hash]"},
		{line: "[" + hash[:31] + "X]\t1~-~1", bad: "hex"},
		{line: "[" + hash + "] 1~-~1", bad: "no tab"},
		{line: "[" + hash + "]", bad: "no tab"},
		{line: "[" + hash + "]\t-~-~1", bad: "arrival"},
		{line: "[" + hash + "]\t1~x~1", bad: "expiry"},
		{line: "[" + hash + "]\t1~-~1~2", bad: "more than three"},
		{line: "[" + hash + "]\t1~-~1\t@0301@", bad: "token"},
	}
	for _, tt := range tests {
		e, err := ParseHistoryLine(tt.line)
		if tt.bad != "" {
			var he *HistoryError
			if !errors.As(err, &he) || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("%q: error %v, want a HistoryError with %q", tt.line, err, tt.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if e.Arrived.Unix() != tt.arrived || unixOr0(e.Expires) != tt.expires || unixOr0(e.Posted) != tt.posted || e.HasToken != tt.hasToken {
			t.Errorf("%q: got %+v", tt.line, e)
		}
		if hex.EncodeToString(e.Hash[:]) != strings.ToLower(hash) {
			t.Errorf("%q: hash %x", tt.line, e.Hash)
		}
		if tt.hasToken && e.Token.String() != tok {
			t.Errorf("%q: token %s", tt.line, e.Token)
		}
	}
}

func TestHistoryReader(t *testing.T) {
	var b bytes.Buffer
	for i := range 5 {
		e := HistoryEntry{Hash: HashMessageID("<" + strings.Repeat("x", i) + "@a>"), Arrived: time.Unix(int64(1000+i), 0), Posted: time.Unix(int64(900+i), 0)}
		if i%2 == 0 {
			e.HasToken = true
			e.Token[0] = byte(TimeHash)
			e.Token[5] = byte(i)
		}
		b.Write(AppendHistoryLine(nil, e))
		b.WriteByte('\n')
		if i == 2 {
			b.WriteString("garbage\n")
		}
	}
	b.WriteString("[0123") // innd in the middle of a line
	data := b.Bytes()

	read := func(off, line, end int64) (arrived []int64, errs []string, r *HistoryReader) {
		r = NewHistoryReader(bytes.NewReader(data[off:]), "history", off, line, end)
		for {
			e, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			arrived = append(arrived, e.Arrived.Unix())
		}
	}
	all, errs, r := read(0, 0, -1)
	if len(all) != 5 || len(errs) != 1 || errs[0] != "history:4: history line: no [hash] field" {
		t.Fatalf("got %v %v", all, errs)
	}
	if r.Offset() != int64(bytes.LastIndexByte(data, '\n')+1) || r.Line() != 6 {
		t.Errorf("offset %d line %d", r.Offset(), r.Line())
	}
	var viaAll []int64
	nerr := 0
	for e, err := range NewHistoryReader(bytes.NewReader(data), "history", 0, 0, -1).All() {
		if err != nil {
			nerr++
			continue
		}
		viaAll = append(viaAll, e.Arrived.Unix())
	}
	if !slices.Equal(viaAll, all) || nerr != 1 {
		t.Errorf("All: %v, %d errors", viaAll, nerr)
	}
	// Resume after line 2, stop before the garbage's end: lines 3 and the garbage.
	r2 := NewHistoryReader(bytes.NewReader(data), "history", 0, 0, -1)
	r2.Next()
	r2.Next()
	off, line := r2.Offset(), r2.Line()
	rest, _, _ := read(off, line, -1)
	if len(rest) != 3 || rest[0] != 1002 {
		t.Errorf("resumed: %v", rest)
	}
}

func FuzzParseHistoryLine(f *testing.F) {
	f.Add(fmt.Sprintf("[%032X]\t1700000000~-~1699999000\t@020100000001000000000000000000000000@", 1))
	f.Add(fmt.Sprintf("[%032X]\t1~2", 1))
	f.Add("[E6184A5BC2898A35A3140B149DE91D5C]\t935678987~-~935678821\t@030154574F00000000000007CE3B000004BA@")
	f.Add("[E6184A5BC2898A35A3140B149DE91D5C]\t935678987~-~935678821")
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseHistoryLine(line)
		if err != nil {
			var he *HistoryError
			if !errors.As(err, &he) {
				t.Fatalf("error %v is not a *HistoryError", err)
			}
			return
		}
		if e.Arrived.IsZero() {
			t.Errorf("parsed %q without an arrival time", line)
		}
		// A parsed line written back parses to the same entry.
		again, err := ParseHistoryLine(string(AppendHistoryLine(nil, e)))
		if err != nil || !again.Arrived.Equal(e.Arrived) || !again.Expires.Equal(e.Expires) || !again.Posted.Equal(e.Posted) ||
			again.Token != e.Token || again.HasToken != e.HasToken || again.Hash != e.Hash {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", line, again, err, e)
		}
	})
}

// unixOr0 is t's Unix seconds, 0 for the zero time.
func unixOr0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
