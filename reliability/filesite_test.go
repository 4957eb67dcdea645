package reliability

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
)

// A fileSite is a site whose articles are plain files under a scratch patharticles, with
// an inn.conf naming them, so that the nxmit binary can send them without any INN: the
// peer is an nntptest server.
type fileSite struct {
	Dir      string
	InnConf  string
	Articles string
	Q        batch.Queue
	Mids     []string
	Paths    []string // article file of each Mids entry, relative to Articles
}

// newFileSite writes n articles of about size bytes each and one backlog listing them
// as "path <mid>" lines. The outgoing directory is outgoing, or Dir/outgoing when "".
func newFileSite(t testing.TB, n, size int, outgoing string) *fileSite {
	t.Helper()
	dir := t.TempDir()
	s := &fileSite{Dir: dir, Articles: filepath.Join(dir, "articles"), InnConf: filepath.Join(dir, "inn.conf")}
	if outgoing == "" {
		outgoing = filepath.Join(dir, "outgoing")
	}
	for _, d := range []string{s.Articles, outgoing, filepath.Join(dir, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The sandbox is root's, as the test runs: runasuser names its owner, so that a run
	// started as root stays root here (elsewhere it switches to news, see commands'
	// TestRootRunSwitchesToNews). These tests are about losing nothing, not privileges.
	owner := "root"
	if os.Geteuid() != 0 {
		if u, err := user.Current(); err == nil {
			owner = u.Username
		}
	}
	conf := fmt.Sprintf("pathnews: %s\npathetc: %s/etc\npatharticles: %s\npathoutgoing: %s\npathrun: %s\nrunasuser: %s\n",
		dir, dir, s.Articles, outgoing, dir, owner)
	if err := os.WriteFile(s.InnConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The site is configured, as on a real server: commands refuse a site that is
	// neither in nxmit.conf nor has queue files (a mistyped name).
	if err := os.WriteFile(filepath.Join(dir, "etc", "nxmit.conf"), []byte("site peer {\n    host: 127.0.0.1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Q = batch.Queue{Dir: outgoing, Site: "peer"}
	s.addArticles(t, n, size, "a")
	if n > 0 {
		s.queueLines(t, s.Mids, s.Paths)
	}
	return s
}

// addArticles writes n more article files named PREFIX<i> and returns their message-ids.
func (s *fileSite) addArticles(t testing.TB, n, size int, prefix string) []string {
	t.Helper()
	var mids []string
	const line = "0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.\n"
	filler := strings.Repeat(line, size/len(line)+1)
	for i := 0; i < n; i++ {
		name := prefix + strconv.Itoa(i)
		mid := fmt.Sprintf("<%s.%d@reliability.test>", name, len(s.Mids))
		body := fmt.Sprintf("Path: origin!not-for-mail\nFrom: t@reliability.test\nNewsgroups: lab.test\n"+
			"Subject: %s\nMessage-ID: %s\nDate: %s\n\n.leading dot\n%s",
			name, mid, time.Now().UTC().Format(time.RFC1123Z), filler[:max(size-200, 10)])
		if !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		if err := os.WriteFile(filepath.Join(s.Articles, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		s.Mids = append(s.Mids, mid)
		s.Paths = append(s.Paths, name)
		mids = append(mids, mid)
	}
	return mids
}

// queueLines installs a new backlog listing the given articles.
func (s *fileSite) queueLines(t testing.TB, mids, paths []string) string {
	t.Helper()
	path, err := s.Q.Create(batch.KindBacklog, false, func(w io.Writer) error {
		for i, mid := range mids {
			if _, err := fmt.Fprintf(w, "%s %s\n", paths[i], mid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// env is the environment under which nxmit finds this site's inn.conf.
func (s *fileSite) env() []string { return []string{"INNCONF=" + s.InnConf} }

// sendArgs returns the arguments of `nxmit send` to addr ("127.0.0.1:PORT").
func (s *fileSite) sendArgs(addr string, extra ...string) []string {
	host, port, _ := strings.Cut(addr, ":")
	args := []string{"send", s.Q.Site, "-v", "--log-file", filepath.Join(s.Dir, "nxmit.log"),
		"--host", host, "--port", port}
	return append(args, extra...)
}
