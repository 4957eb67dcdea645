package spoolfmt

import (
	"os"
	"path/filepath"
	"testing"
)

// Fixtures shared with the repository's testdata/spoolfmt.
const fixtures = "../testdata/spoolfmt"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFixtures(t *testing.T) {
	c, err := LoadInnConf(filepath.Join(fixtures, "inn.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for got, want := range map[string]string{
		c.Values["organization"]:            `Example News "Lab" \ Site`,
		c.PathDB:                            "/var/lib/news",
		c.PathArticles:                      "/srv/articles",
		c.PathOutgoing:                      "/var/spool/news/outgoing",
		c.PathTmp:                           "./tmp",
		c.PathBin:                           "/usr/lib/news/bin",
		c.Values["extraoverviewhidden"]:     "Injection-Info X-Trace",
		c.Values["extraoverviewadvertised"]: "",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if !c.WireFormat || c.MaxArtSize != 2500000 || c.CNFSCheckFudgeSize != 10000 {
		t.Errorf("wireformat %v maxartsize %d fudge %d", c.WireFormat, c.MaxArtSize, c.CNFSCheckFudgeSize)
	}
	f, _ := os.Open(filepath.Join(fixtures, "cycbuff.conf"))
	defer f.Close()
	cc, err := ParseCycbuffConf(f, "cycbuff.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Buffers) != 3 || cc.Buffers[1].Size != 512000*1024 || cc.Buffers[1].Line != 6 || !cc.Metas[1].Sequential || cc.RefreshInterval != 30 {
		t.Errorf("cycbuff.conf: %+v", cc)
	}
	m, err := ParseTradspoolMap(f, "x")
	if err != nil || len(m) != 0 {
		t.Errorf("empty map: %v %v", m, err)
	}
	mf, _ := os.Open(filepath.Join(fixtures, "tradspool.map"))
	defer mf.Close()
	if m, err = ParseTradspoolMap(mf, "tradspool.map"); err != nil || m[5] != "lab/test" || m[2] != "control/cancel" {
		t.Errorf("tradspool.map: %v %v", m, err)
	}
}
