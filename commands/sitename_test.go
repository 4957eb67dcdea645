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

// TestUnknownSite: a site that is neither configured nor has queue files is a usage
// error naming the configured sites, for every command that works on a site's queue,
// and no file (no lock file) is left behind; a site with queue files but no block is
// still worked on.
func TestUnknownSite(t *testing.T) {
	commands := [][]string{
		{"send", "%s"},
		{"rotate", "--ctlinnd", "/bin/true", "%s"},
		{"requeue", "%s"},
		{"merge", "%s", "/dev/null"},
		{"run", "--ctlinnd", "/bin/true", "--no-send", "%s"},
	}
	for _, c := range commands {
		t.Run(c[0], func(t *testing.T) {
			g := siteEnv(t, "site a {\n host: 127.0.0.1\n}\nsite b {\n host: 127.0.0.1\n}\n", "")
			out := t.TempDir()
			run := func(site string) error {
				args := []string{"--innconf", g.InnConfFile, "--outgoing", out}
				for _, a := range c {
					args = append(args, strings.ReplaceAll(a, "%s", site))
				}
				var cli CLI
				parser, err := kong.New(&cli, KongOptions()...)
				if err != nil {
					t.Fatal(err)
				}
				ctx, err := parser.Parse(args)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				return ctx.Run(&cli.Globals)
			}
			err := run("exmaple")
			if Status(err) != ExitUsage || !strings.Contains(err.Error(), "no site 'exmaple'") ||
				!strings.HasSuffix(err.Error(), "configured: a, b") {
				t.Errorf("%v (status %d), want exit 2 and \"no site 'exmaple' ...; configured: a, b\"", err, Status(err))
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("left %v", ents)
			}
			// An unconfigured site with a queue file is not a typo: the command goes on
			// (send then fails for other reasons, such as the missing spool).
			os.WriteFile(filepath.Join(out, "other.D.5db93971"), nil, 0o644)
			if err := run("other"); err != nil && strings.Contains(err.Error(), "no site") {
				t.Errorf("site with queue files: %v", err)
			}
		})
	}
}
