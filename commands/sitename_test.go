package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"nxmit/config"
)

// TestSiteNameRule checks that every command and nxmit.conf's parser refuse the same
// site names (batch.SiteNameError): requeue used to accept "a:b" where send refused it.
func TestSiteNameRule(t *testing.T) {
	names := []struct {
		name string
		ok   bool
	}{
		{"hub", true},
		{"news.example.com", true},
		{"a:b", false},
		{"a,b", false},
		{`a\b`, false},
		{"a!b", false},
		{"-hub", false},
		{"a/b", false},
		{"..", false},
		{"a b", false},
	}
	commands := [][]string{
		{"send", "--", "%s"},
		{"rotate", "--ctlinnd", "/bin/false", "--", "%s"},
		{"requeue", "--", "%s"},
		{"merge", "--", "%s", "/dev/null"},
		{"status", "--", "%s"},
		{"run", "--ctlinnd", "/bin/false", "--", "%s"},
	}
	for _, n := range names {
		_, err := config.Parse(strings.NewReader("site \""+n.name+"\" {\n  host: h\n}\n"), "nxmit.conf")
		if (err == nil) != n.ok {
			t.Errorf("nxmit.conf: site %q: %v", n.name, err)
		}
		if n.ok {
			continue
		}
		for _, c := range commands {
			g := siteEnv(t, "", "")
			out := t.TempDir()
			args := []string{"--innconf", g.InnConfFile, "--outgoing", out}
			for _, a := range c {
				args = append(args, strings.ReplaceAll(a, "%s", n.name))
			}
			var cli CLI
			parser, err := kong.New(&cli, KongOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, err := parser.Parse(args)
			if err != nil {
				t.Errorf("%s %q: parse: %v", c[0], n.name, err)
				continue
			}
			err = ctx.Run(&cli.Globals)
			// rotate reports each site's error itself and returns the worst status.
			if Status(err) != ExitUsage {
				t.Errorf("%s %q: %v, want a usage error", c[0], n.name, err)
			} else if !Silent(err) && !strings.Contains(err.Error(), "invalid site name") {
				t.Errorf("%s %q: %v, want an error naming the site", c[0], n.name, err)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("%s %q: wrote %v in %s", c[0], n.name, ents, filepath.Base(out))
			}
		}
	}
}
