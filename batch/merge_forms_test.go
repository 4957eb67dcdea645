package batch

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Merging an old feed file ("token <mid>"), an innxmit batch of tokens only, a zstd
// backlog and stdin that overlap gives exactly the union, each article once: two lines
// are the same article when their tokens or their Message-IDs are equal. (Before, 3,000
// articles in four such inputs became 3,702 lines.)
func TestMergeDedupeAcrossLineForms(t *testing.T) {
	q := mqQueue(t)
	dir := t.TempDir()
	feed := mqWrite(t, filepath.Join(dir, "peer.old"), mqLineRange(0, 1499)...)
	var toks []string
	for i := 1000; i < 2500; i++ {
		toks = append(toks, mqTok(i))
	}
	batch := mqWrite(t, filepath.Join(dir, "peer.nntp"), toks...)
	var plain bytes.Buffer
	for _, l := range mqLineRange(2000, 2999) {
		plain.WriteString(l + "\n")
	}
	// The same article under another token: the Message-ID makes it a duplicate.
	plain.WriteString("@0201AAAAAAAA000000000000000000000001@ " + mqMid(1) + "\n")
	var z bytes.Buffer
	zw, err := zstd.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(plain.Bytes())
	zw.Close()
	zpath := filepath.Join(dir, "other.B.5db93971.zst")
	if err := os.WriteFile(zpath, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdin strings.Builder
	for i := 0; i < 3000; i += 7 {
		if i%2 == 0 {
			stdin.WriteString(mqTok(i) + "\n")
		} else {
			stdin.WriteString(mqLine(i) + "\n")
		}
	}
	st, err := q.Merge(MergeOptions{Inputs: []string{feed, batch, zpath, "-"}, Stdin: strings.NewReader(stdin.String())})
	if err != nil {
		t.Fatal(err)
	}
	got := mqBacklogLines(t, q)
	if len(got) != 3000 {
		t.Errorf("%d lines for 3,000 articles (%+v)", len(got), st.Total)
	}
	seen := map[string]bool{}
	for _, l := range got {
		tok, _, _ := strings.Cut(l, " ")
		if seen[tok] {
			t.Errorf("article %s written twice", tok)
		}
		seen[tok] = true
	}
	for i := 0; i < 3000; i++ {
		if !seen[mqTok(i)] {
			t.Errorf("article %d missing", i)
		}
	}
}

// The same article in every form is one article for the set.
func TestIDSetLineForms(t *testing.T) {
	tok, mid := mqTok(1), mqMid(1)
	tests := []struct {
		a, b Line
		same bool
	}{
		{Line{Article: tok}, Line{Article: tok, MessageID: mid}, true},
		{Line{Article: tok, MessageID: mid}, Line{Article: tok}, true},
		{Line{Article: tok, MessageID: mid}, Line{Article: mqTok(2), MessageID: mid}, true},
		{Line{Article: "news/test/8", MessageID: mid}, Line{Article: "news/test/8"}, true},
		{Line{Article: tok}, Line{Article: mqTok(2), MessageID: mqMid(2)}, false},
	}
	for _, tt := range tests {
		s := NewIDSet()
		if !s.Add(tt.a) {
			t.Fatal("first line not new")
		}
		if got := !s.Add(tt.b); got != tt.same {
			t.Errorf("%+v then %+v: duplicate = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// Malformed lines of merged inputs are quarantined in S.bad with FILE:LINE before the
// inputs are removed: never deleted with their file.
func TestMergeQuarantinesMalformed(t *testing.T) {
	q := mqQueue(t)
	in := mqWrite(t, filepath.Join(t.TempDir(), "old"), mqLine(1), mqTok(2)+" <x y@test>", mqLine(3))
	if _, err := q.Merge(MergeOptions{Inputs: []string{in}, Remove: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in); err == nil {
		t.Error("input kept")
	}
	bad, err := os.ReadFile(q.BadPath())
	want := in + ":2\tMessage-ID \"<x y@test>\" contains a space\t" + mqTok(2) + " <x y@test>\n"
	if err != nil || string(bad) != want {
		t.Errorf("S.bad = %q, %v; want %q", bad, err, want)
	}
}
