package commands

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/nntp/nntptest"
)

// TestSendAuthMessages: a peer that wants AUTHINFO and gets none, or refuses the
// password, makes send and run print one line naming where the credentials go (or came
// from) and exit 1, not 75, after a handful of connections, not a retry per
// connection; the articles stay queued.
func TestSendAuthMessages(t *testing.T) {
	bin := nxmitBinary(t)
	tests := []struct {
		name     string
		conf     string // the site block's extra lines
		passwd   string // passwd.nntp, "%s" the host
		want     []string
		wantCode int
	}{
		{"no credentials", "", "", []string{"requires authentication (480 ", "no credentials are configured", "add user: and password: to \"site peer\" in ", "nxmit.conf", "or a line 127.0.0.1:USER:PASSWORD to ", "passwd.nntp"}, 1},
		{"wrong password in nxmit.conf", " user: feeder\n password: wrong\n", "", []string{"refused user feeder (481 ", "correct the user and password in ", "nxmit.conf:4"}, 1},
		{"wrong password in passwd.nntp", "", "%s:feeder:wrong\n", []string{"refused user feeder (481 ", "passwd.nntp:1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newQTSpool(t)
			srv := nntptest.NewServer(t, nntptest.Script{User: "feeder", Pass: "right"})
			host, port, _ := strings.Cut(srv.Addr, ":")
			conf := fmt.Sprintf("site peer {\n host: %s\n port: %s\n%s connections: 2\n}\n", host, port, tt.conf)
			os.WriteFile(filepath.Join(s.dir, "etc", "nxmit.conf"), []byte(conf), 0o644)
			if tt.passwd != "" {
				os.WriteFile(filepath.Join(s.dir, "etc", "passwd.nntp"), []byte(fmt.Sprintf(tt.passwd, host)), 0o640)
			}
			var lines []string
			for i := range 20 {
				lines = append(lines, s.store(t, i, "lab.test", time.Now().Add(-time.Hour), 200))
			}
			q := batch.Queue{Dir: s.outgoing, Site: "peer"}
			if _, err := q.Create(batch.KindBacklog, false, func(w io.Writer) error {
				_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"send", "peer"}, {"run", "--no-rotate", "peer"}} {
				_, stderr, status := s.run(t, bin, "", args...)
				if status != tt.wantCode || strings.Count(stderr, "\n") != 1 {
					t.Errorf("%s: status %d, stderr %q; want %d and one line", args[0], status, stderr, tt.wantCode)
				}
				for _, w := range tt.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%s: stderr lacks %q: %s", args[0], w, stderr)
					}
				}
			}
			if c := srv.Stats().Connections; c > 4 {
				t.Errorf("%d connections for two passes of 2: it retried", c)
			}
			files, _ := q.Backlogs()
			if len(files) != 1 || batch.EstimateFile(files[0]).Pending != 20 {
				t.Errorf("queue after refused authentication: %v", files)
			}
		})
	}
}

// TestPasswdHint: passwd.nntp unreadable for lack of permission says to run as news.
func TestPasswdHint(t *testing.T) {
	err := passwdHint(&fs.PathError{Op: "open", Path: "/etc/news/passwd.nntp", Err: fs.ErrPermission})
	if !strings.Contains(err.Error(), "run nxmit as news") || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%v", err)
	}
	if err := passwdHint(io.EOF); err != io.EOF {
		t.Errorf("other errors changed: %v", err)
	}
}
