package commands

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nxmit/config"
)

// The guide's examples are checked here, so that a person following it gets what it
// says.

// guideBlocks returns the fenced code blocks of docs/GUIDE.md.
func guideBlocks(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../docs/GUIDE.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if in {
				blocks = append(blocks, strings.Join(cur, "\n")+"\n")
				cur = nil
			}
			in = !in
			continue
		}
		if in {
			cur = append(cur, strings.TrimPrefix(line, "   "))
		}
	}
	return blocks
}

func TestGuideConfigExamplesParse(t *testing.T) {
	n := 0
	for _, b := range guideBlocks(t) {
		if !strings.HasPrefix(b, "# /etc/news/nxmit.conf") {
			continue
		}
		n++
		c, err := config.Parse(strings.NewReader(b), "GUIDE.md example")
		if err != nil {
			t.Errorf("%v\n%s", err, b)
			continue
		}
		if len(c.Sites) == 0 {
			t.Errorf("example without a site:\n%s", b)
		}
	}
	if n < 2 {
		t.Errorf("found %d nxmit.conf examples in the guide", n)
	}
}

func TestGuideNntpsendConversion(t *testing.T) {
	var script string
	for _, b := range guideBlocks(t) {
		if strings.Contains(b, "nntpsend.ctl | awk") {
			script = b
		}
	}
	if script == "" {
		t.Fatal("no nntpsend.ctl conversion in the guide")
	}
	dir := t.TempDir()
	ctl := filepath.Join(dir, "nntpsend.ctl")
	os.WriteFile(ctl, []byte("## nntpsend.ctl\nhub:news.hub.example::-P 433 -T 600 -s\nleaf:leaf.example:1m-500k:-t 30 -c -P119\n\nplain:plain.example::\n"), 0o644)
	out := filepath.Join(dir, "nxmit.conf")
	script = strings.ReplaceAll(script, "/etc/news/nntpsend.ctl", ctl)
	script = strings.ReplaceAll(script, "/etc/news/nxmit.conf", out)
	if b, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	c, err := config.Load(out, false)
	if err != nil {
		data, _ := os.ReadFile(out)
		t.Fatalf("%v\n%s", err, data)
	}
	hub, leaf, plain := c.Resolve("hub"), c.Resolve("leaf"), c.Resolve("plain")
	if hub.Host != "news.hub.example" || hub.Port != 433 || hub.MaxTime.Seconds() != 600 || hub.Streaming {
		t.Errorf("hub: %+v", hub)
	}
	if leaf.Host != "leaf.example" || leaf.Port != 119 || leaf.ConnectTimeout.Seconds() != 30 || leaf.Check != "never" {
		t.Errorf("leaf: %+v", leaf)
	}
	if plain.Host != "plain.example" || len(c.Sites) != 3 {
		t.Errorf("plain: %+v (%d sites)", plain, len(c.Sites))
	}
}

// TestGuideCrontabLine runs the guide's crontab line as cron would (its user, its
// command), against a real innd: the articles reach the peer and nothing is printed.
func TestGuideCrontabLine(t *testing.T) {
	var line string
	for _, b := range guideBlocks(t) {
		if strings.HasPrefix(b, "# /etc/cron.d/nxmit") {
			line = strings.Split(b, "\n")[1]
		}
	}
	f := strings.Fields(line)
	if len(f) < 7 || f[0] != "*/5" || f[5] != "news" {
		t.Fatalf("crontab line %q: want five time fields, the user news, the command", line)
	}
	command := strings.Join(f[6:], " ")
	if command != "/usr/local/bin/nxmit run" {
		t.Fatalf("crontab command %q", command)
	}
	l := newOpLab(t)
	// The guide's step 2, with the sandbox's receiver as the peer.
	l.writeConfig(fmt.Sprintf("# /etc/news/nxmit.conf\nsite peer {\n    host: 127.0.0.1\n    port: %d\n    rotate-min-size: 0\n    rotate-max-age: 0\n}\n", l.receiver.Port))
	mids := l.inject(25)
	stdout, stderr, status := l.nxmit(f[7:]...)
	if status != 0 || stdout != "" || stderr != "" {
		t.Fatalf("%s: status %d, output %q %q", command, status, stdout, stderr)
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Errorf("receiver lacks %d articles", len(m))
	}
}

// TestGuideNamesEveryFlag: docs/GUIDE.md names every command and every flag of the
// command line (and the man page, generated, has them all by construction).
func TestGuideNamesEveryFlag(t *testing.T) {
	data, err := os.ReadFile("../docs/GUIDE.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := string(data)
	m, err := completionModel()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.globals {
		if !strings.Contains(guide, "--"+f.long) {
			t.Errorf("the guide does not name the global flag --%s", f.long)
		}
	}
	for _, c := range m.commands {
		if !strings.Contains(guide, "nxmit "+c.name) && !strings.Contains(guide, "`"+c.name+"`") {
			t.Errorf("the guide does not name the command %s", c.name)
		}
		for _, f := range c.flags {
			if !strings.Contains(guide, "--"+f.long) {
				t.Errorf("the guide does not name %s --%s", c.name, f.long)
			}
		}
	}
}
