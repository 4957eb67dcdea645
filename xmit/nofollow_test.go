package xmit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nxmit/nntp/nntptest"
)

// TestSendNeverFollowsSwappedBacklog: a backlog listed as a regular file and replaced
// before it is opened (by a symbolic link, or by another file) is reported and left
// alone: nothing is sent from what it now names, and no line there is blanked.
func TestSendNeverFollowsSwappedBacklog(t *testing.T) {
	for _, tc := range []struct {
		name string
		swap func(path, victim string) error
		want string
	}{
		{"symlink", func(path, victim string) error { return os.Symlink(victim, path) }, "symbolic link"},
		{"other file", func(path, victim string) error { return os.Link(victim, path) }, "replaced since it was listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, 5)
			files, err := s.q.Backlogs()
			if err != nil || len(files) != 1 {
				t.Fatalf("backlogs %v, %v", files, err)
			}
			// The victim holds valid lines naming the site's articles: followed, they would
			// be sent and blanked.
			data, err := os.ReadFile(files[0].Path)
			if err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, data, 0o600); err != nil {
				t.Fatal(err)
			}
			moved := files[0].Path + ".moved-away"
			testHookBeforeOpen = func(path string) {
				if path != files[0].Path {
					return
				}
				if err := os.Rename(path, moved); err != nil {
					t.Error(err)
				}
				if err := tc.swap(path, victim); err != nil {
					t.Error(err)
				}
			}
			defer func() { testHookBeforeOpen = nil }()
			srv := nntptest.NewServer(t, nntptest.Script{})
			st, err := Send(context.Background(), s.options(srv.Addr))
			if err != nil {
				t.Fatal(err)
			}
			if st.Offered != 0 || len(srv.Articles()) != 0 {
				t.Errorf("offered %d, peer received %d articles; want nothing", st.Offered, len(srv.Articles()))
			}
			if got, _ := os.ReadFile(victim); string(got) != string(data) {
				t.Errorf("the file the name was swapped for changed:\n%q\nwant\n%q", got, data)
			}
			if _, err := os.Lstat(files[0].Path); err != nil {
				t.Errorf("the swapped name was not left alone: %v", err)
			}
			w := strings.Join(s.warns.all(), "\n")
			if !strings.Contains(w, files[0].Path) || !strings.Contains(w, tc.want) || !strings.Contains(w, "left alone") {
				t.Errorf("warnings %q do not report %s (%s)", w, files[0].Path, tc.want)
			}
		})
	}
}
