package spoolfmt

import (
	"strings"
	"testing"
)

func TestParseNewsfeeds(t *testing.T) {
	const text = `# INN's newsfeeds
ME:*,!junk::
$DEFAULT=*,!junk
peer/peer.example,alias:*,!junk,!control,!control.*\
	,!local.*\
	:Tf,Wnm:
# a comment between entries
innfeed!:!*:Tc,Wnm*:/usr/lib/news/bin/startinnfeed
wrong:*:Tf,Wn:
elsewhere:*:Tf,Wnm:/var/spool/news/outgoing/other
program:*:Tp,Wnm:/bin/cat
funnel:*:Tf,Wfm:
`
	n, err := ParseNewsfeeds(strings.NewReader(text), "newsfeeds")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		site, problem string
		line          int
	}{
		{"peer", "", 4},
		{"wrong", "writes Wn, nxmit reads token and Message-ID lines", 9},
		{"elsewhere", `param "/var/spool/news/outgoing/other"`, 10},
		{"program", "Tp is not a file feed", 11},
		{"funnel", "", 12},
	} {
		e, ok := n.Entry(c.site)
		if !ok {
			t.Errorf("no entry %s", c.site)
			continue
		}
		p := e.FileFeedProblem()
		if e.Line != c.line || (c.problem == "") != (p == "") || !strings.Contains(p, c.problem) {
			t.Errorf("%s: line %d, problem %q; want line %d, %q", c.site, e.Line, p, c.line, c.problem)
		}
	}
	if e, _ := n.Entry("peer"); e.Patterns != "*,!junk,!control,!control.*,!local.*" || strings.Join(e.Excludes, ",") != "peer.example,alias" {
		t.Errorf("peer: %+v", e)
	}
	if _, ok := n.Entry("$DEFAULT=*,!junk"); ok {
		t.Error("a macro taken for an entry")
	}
	_, err = ParseNewsfeeds(strings.NewReader("ok:*:Tf:\n\nbad:*:Tf\n"), "nf")
	if err == nil || err.Error() != "nf:3: 3 fields, want 4 (site:patterns:flags:param)" {
		t.Errorf("bad entry: %v", err)
	}
}

func FuzzParseNewsfeeds(f *testing.F) {
	f.Add("peer:*:Tf,Wnm:\n")
	f.Add("a/b,c:*,\\\n!x:Tf,Wfm:a\n# c\n$X=y\n")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNewsfeeds(strings.NewReader(s), "nf")
		if err != nil {
			return
		}
		for _, e := range n.Entries {
			e.FileFeedProblem()
			if e.Line < 1 {
				t.Fatalf("entry %+v without a line", e)
			}
		}
	})
}
