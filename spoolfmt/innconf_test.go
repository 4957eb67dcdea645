package spoolfmt

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const sampleInnConf = `# comment
pathnews: /n ; pathbin: b
  # indented comment
domain: "lab.test"
pathetc: ./etc
organization: "a \"quoted\" \\ value"
pathspool: /s
pathspool: /other
list: [ a "b c"
  d ]
wireformat: false
maxartsize: 250000
mta: x
hismethod: hisv6
enableoverview: false
`

func TestParseInnConf(t *testing.T) {
	c, err := ParseInnConf(strings.NewReader(sampleInnConf), "inn.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PathNews": c.PathNews, "PathBin": c.PathBin, "PathEtc": c.PathEtc, "PathSpool": c.PathSpool,
		"PathArticles": c.PathArticles, "PathOutgoing": c.PathOutgoing, "PathDB": c.PathDB,
		"PathTmp": c.PathTmp, "PathRun": c.PathRun, "PathIncoming": c.PathIncoming,
		"organization": c.Values["organization"], "list": c.Values["list"], "domain": c.Domain,
	}
	for k, v := range map[string]string{
		"PathNews": "/n", "PathBin": "b", "PathEtc": "./etc", "PathSpool": "/s",
		"PathArticles": "/s/articles", "PathOutgoing": "/s/outgoing", "PathDB": "/n/db",
		"PathTmp": DefaultPathTmp, "PathRun": "/n/run", "PathIncoming": "/s/incoming",
		"organization": `a "quoted" \ value`, "list": "a b c d", "domain": "lab.test",
	} {
		if want[k] != v {
			t.Errorf("%s = %q, want %q", k, want[k], v)
		}
	}
	if c.WireFormat || c.MaxArtSize != 250000 || c.CNFSCheckFudgeSize != 0 {
		t.Errorf("wireformat %v maxartsize %d fudge %d", c.WireFormat, c.MaxArtSize, c.CNFSCheckFudgeSize)
	}
	if c.Lines["pathspool"] != 7 {
		t.Errorf("pathspool line %d, want 7 (the first one wins)", c.Lines["pathspool"])
	}
	d, err := ParseInnConf(strings.NewReader("pathnews: /usr/lib/news\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if !d.WireFormat || d.MaxArtSize != 1000000 || d.PathArticles != "/usr/lib/news/spool/articles" {
		t.Errorf("defaults: %+v", d)
	}
}

func TestParseInnConfErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"pathnews: /n\ndomain: x # c\n", "inn.conf:2: parse error: saw string, expecting semicolon or newline"},
		{"pathnews:/n\n", "inn.conf:1: invalid character ':' in unquoted string"},
		{"pathnews: /n\nx: \"open\n", "inn.conf:2: no close quote seen for quoted string"},
		{"pathnews: /n\nx: \"bad \\q\"\n", "inn.conf:2: unrecognized escape '\\q'"},
		{"domain: x\n", "inn.conf:0: must set pathnews"},
		{"pathnews: /n\nwireformat: maybe\n", "inn.conf:2: wireformat is not a boolean"},
		{"pathnews: /n\nmaxartsize: -1\n", "inn.conf:2: maxartsize is not a positive integer"},
		{"pathnews: /n\nlist: [ a ; ]\n", "inn.conf:2: parse error: saw ';', expecting string or ']'"},
		{"pathnews: /n\n\x00", "inn.conf:2: invalid NUL character found in file"},
		{"pathnews: [\n", "inn.conf:2: parse error: saw end of file, expecting string or ']'"},
	}
	for _, tt := range tests {
		_, err := ParseInnConf(strings.NewReader(tt.text), "inn.conf")
		var se *SyntaxError
		if !errors.As(err, &se) || err.Error() != tt.want {
			t.Errorf("ParseInnConf(%q) = %v, want %q", tt.text, err, tt.want)
		}
	}
	// Groups are parsed and skipped.
	c, err := ParseInnConf(strings.NewReader("pathnews: /n\nblock tag {\n  x: y\n  inner { z: 1 }\n}\n"), "inn.conf")
	if err != nil || c.PathNews != "/n" || c.Values["x"] != "" {
		t.Errorf("groups: %v %+v", err, c)
	}
}

func TestLoadInnConfEnv(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "inn.conf")
	if err := os.WriteFile(p, []byte("pathnews: /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INNCONF", p)
	if InnConfPath() != p {
		t.Fatalf("InnConfPath() = %s", InnConfPath())
	}
	c, err := LoadInnConf("")
	if err != nil || c.Path != p || c.PathNews != "/x" {
		t.Fatalf("LoadInnConf: %v %+v", err, c)
	}
	t.Setenv("INNCONF", "")
	if InnConfPath() != DefaultInnConf {
		t.Fatalf("InnConfPath() = %s", InnConfPath())
	}
	if _, err := LoadInnConf(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestInnConfMatchesInnconfval checks paths and values against INN's own
// innconfval on the same file.
func TestInnConfMatchesInnconfval(t *testing.T) {
	bin := filepath.Join(innBin, "innconfval")
	if _, err := os.Stat(bin); err != nil {
		requireSM(t)
	}
	dir := t.TempDir()
	files := map[string]string{
		"sample":  sampleInnConf,
		"fixture": string(readFixture(t, "inn.conf")),
		"debian":  "",
		"minimal": "pathnews: /usr/lib/news\nmta: x\nhismethod: hisv6\nenableoverview: false\ndomain: lab.test\n",
		"crlf":    "pathnews: /n\r\nmta: x\r\nhismethod: hisv6\r\nenableoverview: false\r\ndomain: lab.test\r\npathspool: \"/sp ool\"\r\n",
	}
	keys := []string{"pathnews", "pathbin", "pathetc", "pathdb", "pathrun", "pathlog", "pathspool",
		"patharticles", "pathoutgoing", "pathincoming", "pathtmp", "wireformat", "maxartsize", "organization", "domain"}
	for name, text := range files {
		p := "/etc/news/inn.conf"
		if text != "" {
			p = filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if _, err := os.Stat(p); err != nil {
			continue
		}
		c, err := LoadInnConf(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mine := map[string]string{
			"pathnews": c.PathNews, "pathbin": c.PathBin, "pathetc": c.PathEtc, "pathdb": c.PathDB,
			"pathrun": c.PathRun, "pathlog": c.PathLog, "pathspool": c.PathSpool,
			"patharticles": c.PathArticles, "pathoutgoing": c.PathOutgoing, "pathincoming": c.PathIncoming,
			"pathtmp": c.PathTmp, "organization": c.Values["organization"], "domain": c.Domain,
		}
		for _, k := range keys {
			cmd := exec.Command(bin, k)
			cmd.Env = append(os.Environ(), "INNCONF="+p)
			out, err := cmd.Output()
			if err != nil && name == "debian" {
				// The system's own file may not validate (no domain).
				t.Logf("%s: innconfval %s: %v; skipped", name, k, err)
				break
			}
			if err != nil {
				t.Fatalf("%s: innconfval %s: %v", name, k, err)
			}
			theirs := strings.TrimSuffix(string(out), "\n")
			var v string
			switch k {
			case "wireformat":
				v = map[bool]string{true: "true", false: "false"}[c.WireFormat]
			case "maxartsize":
				v = strconv.FormatInt(c.MaxArtSize, 10)
			default:
				v = mine[k]
			}
			if v != theirs {
				t.Errorf("%s: %s = %q, innconfval says %q", name, k, v, theirs)
			}
		}
	}
}

func FuzzInnConf(f *testing.F) {
	f.Add(sampleInnConf)
	f.Add(string(readFixture(f, "inn.conf")))
	f.Add("pathnews: /n\nblock tag {\n  x: y\n}\n")
	f.Add("pathnews: [ a \"b\\\"\" ]; x: y\r\n#c\n")
	f.Add("a: \"\\\n\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseInnConf(strings.NewReader(text), "f")
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		if c.PathNews == "" || c.PathArticles == "" {
			t.Fatalf("parsed without pathnews: %+v", c)
		}
	})
}
