package spoolfmt

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCycbuffConf(t *testing.T) {
	text := "# comment\n\ncycbuff:ONE:/var/spool/news/one:2048\ncycbuff:TWO:/dev/sdb1:\\\n   1024\r\n" +
		"metacycbuff:BIG:ONE,TWO:SEQUENTIAL\nmetacycbuff:SMALL:TWO\ncycbuffupdate:10\nrefreshinterval:5\nnonsense line\n"
	c, err := ParseCycbuffConf(strings.NewReader(text), "cycbuff.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := &CycbuffConf{
		Buffers: []Cycbuff{
			{Name: "ONE", Path: "/var/spool/news/one", Size: 2048 * 1024, Line: 3},
			{Name: "TWO", Path: "/dev/sdb1", Size: 1024 * 1024, Line: 4},
		},
		Metas: []MetaCycbuff{
			{Name: "BIG", Members: []string{"ONE", "TWO"}, Sequential: true, Line: 6},
			{Name: "SMALL", Members: []string{"TWO"}, Line: 7},
		},
		UpdateInterval: 10, RefreshInterval: 5,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if b, ok := c.Buffer("TWO"); !ok || b.Path != "/dev/sdb1" {
		t.Fatalf("Buffer(TWO) = %+v %v", b, ok)
	}
}

func TestParseCycbuffConfErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"cycbuff:TOOLONGNAME:/x:10\n", "c:1: bad cycbuff name"},
		{"cycbuff::/x:10\n", "c:1: bad cycbuff name"},
		{"cycbuff:A:/x:10\ncycbuff:A:/y:10\n", "c:2: duplicate cycbuff name"},
		{"cycbuff:A::10\n", "c:1: bad pathname"},
		{"cycbuff:A:/" + strings.Repeat("p", 63) + ":10\n", "c:1: bad pathname"},
		{"cycbuff:A:/x:ten\n", "c:1: bad size"},
		{"cycbuff:A:/x:10\nmetacycbuff:M:A\ncycbuff:B:/y:10\n", "c:3: all cycbuff entries should be before"},
		{"cycbuff:A:/x:10\nmetacycbuff:M:A,B\n", "c:2: bogus cycbuff \"B\""},
		{"cycbuff:A:/x:10\nmetacycbuff:M:A:RANDOM\n", "c:2: unknown mode"},
		{"cycbuff:A:/x:10\nmetacycbuff:M:A\nmetacycbuff:M:A\n", "c:3: duplicate metabuff"},
		{"cycbuff:A:/x:10\ncycbuffupdate:-1\n", "c:2: invalid cycbuffupdate"},
		{"cycbuff:A:/x:10\nrefreshinterval:1\nrefreshinterval:2\n", "c:3: duplicate refreshinterval"},
		{"# nothing\n", "zero cycbuffs defined"},
	}
	for _, tt := range tests {
		_, err := ParseCycbuffConf(strings.NewReader(tt.text), "c")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCycbuffConf(%q) = %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestParseTradspoolMap(t *testing.T) {
	m, err := ParseTradspoolMap(strings.NewReader("lab/test 1\nlab.misc 2\n\ncomp/lang/c 17\n"), "map")
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint32]string{1: "lab/test", 2: "lab/misc", 17: "comp/lang/c"}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %v", m)
	}
	for _, bad := range []string{"lab/test\n", "lab/test x\n", "../etc 3\n", "a//b 4\n", " 5\n"} {
		_, err := ParseTradspoolMap(strings.NewReader("ok 1\n"+bad), "map")
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != 2 || se.File != "map" {
			t.Errorf("ParseTradspoolMap(%q) = %v, want an error at map:2", bad, err)
		}
	}
}

func FuzzCycbuffConf(f *testing.F) {
	f.Add("cycbuff:ONE:/var/spool/news/one:2048\nmetacycbuff:BIG:ONE:SEQUENTIAL\n")
	f.Add(string(readFixture(f, "cycbuff.conf")))
	f.Add("cycbuff:A:/x:\\\n  10\ncycbuffupdate:3\nrefreshinterval:0\n#x\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCycbuffConf(strings.NewReader(text), "c")
		if err != nil {
			return
		}
		for _, b := range c.Buffers {
			if b.Name == "" || len(b.Name) > maxCycbuffName || b.Path == "" || b.Size <= 0 {
				t.Fatalf("accepted bad buffer %+v", b)
			}
		}
		for _, m := range c.Metas {
			for _, n := range m.Members {
				if _, ok := c.Buffer(n); !ok {
					t.Fatalf("meta %s names unknown buffer %s", m.Name, n)
				}
			}
		}
	})
}

func FuzzTradspoolMap(f *testing.F) {
	f.Add("lab/test 1\nlab.misc 2\n")
	f.Add(string(readFixture(f, "tradspool.map")))
	f.Add("a 4294967295\nb 4294967296\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseTradspoolMap(strings.NewReader(text), "map")
		if err != nil {
			return
		}
		for _, dir := range m {
			if !cleanRelPath(dir) || strings.Contains(dir, ".") && strings.Contains(dir, "..") {
				t.Fatalf("unsafe directory %q", dir)
			}
		}
	})
}
