package spoolfmt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArticlePathConfined: a batch line's path may only name a file inside patharticles,
// whatever the spelling (absolute, "..", a symbolic link inside the spool pointing out).
func TestArticlePathConfined(t *testing.T) {
	dir := t.TempDir()
	c := confFor(t, dir)
	arts := filepath.Join(dir, "spool/articles")
	os.MkdirAll(filepath.Join(arts, "lab/test"), 0o755)
	article := "Path: x\r\nMessage-ID: <in@x>\r\n\r\nbody\r\n.\r\n"
	os.WriteFile(filepath.Join(arts, "lab/test/1"), []byte(article), 0o644)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("Message-ID: <x@y>\n\nroot's mail\n"), 0o600)
	os.Symlink(secret, filepath.Join(arts, "lab/test/link-out"))
	os.Symlink(filepath.Join(arts, "lab/test/1"), filepath.Join(arts, "lab/test/link-in"))
	// patharticles reached through a symbolic link is still patharticles.
	os.Symlink(arts, filepath.Join(dir, "arts-link"))
	s := mustOpen(t, c)

	for _, tt := range []struct {
		path    string
		outside bool
	}{
		{"lab/test/1", false},
		{filepath.Join(arts, "lab/test/1"), false},
		{filepath.Join(dir, "arts-link/lab/test/1"), false},
		{filepath.Join(dir, "arts-link/../secret"), true},
		{"lab/test/link-in", false},
		{secret, true},
		{"/root/secret", true},
		{"../../secret", true},
		{"lab/../../../secret", true},
		{filepath.Join(arts, "../secret"), true},
		{"lab/test/link-out", true},
		{"/", true},
	} {
		_, err := s.RetrieveFile(tt.path, nil)
		if got := errors.Is(err, ErrOutsideSpool); got != tt.outside {
			t.Errorf("RetrieveFile(%s): %v, want outside=%v", tt.path, err, tt.outside)
		}
		if _, err := s.OpenFile(tt.path); errors.Is(err, ErrOutsideSpool) != tt.outside {
			t.Errorf("OpenFile(%s): %v, want outside=%v", tt.path, err, tt.outside)
		}
	}
	if _, err := s.RetrieveFile("lab/test/none", nil); !errors.Is(err, ErrMissing) {
		t.Errorf("missing file inside: %v, want ErrMissing", err)
	}
}

// FuzzArticlePath: whatever a batch line's path says, ArticlePath either refuses it or
// returns a file inside patharticles (symbolic links resolved, or a missing name inside).
func FuzzArticlePath(f *testing.F) {
	for _, seed := range []string{"lab/test/1", "../secret", "/", "", ".", "..", "lab/../../x",
		"lab/test/link-out", "lab/test/link-out/../1", "//lab//test/1", "lab/test/1/..", "\x00"} {
		f.Add(seed)
	}
	dir := f.TempDir()
	arts := filepath.Join(dir, "spool/articles")
	os.MkdirAll(filepath.Join(arts, "lab/test"), 0o755)
	os.WriteFile(filepath.Join(arts, "lab/test/1"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("x"), 0o600)
	os.Symlink(filepath.Join(dir, "secret"), filepath.Join(arts, "lab/test/link-out"))
	os.Symlink(dir, filepath.Join(arts, "lab/up"))
	c, err := ParseInnConf(strings.NewReader("pathnews: /usr/lib/news\npathetc: "+dir+"/etc\npathspool: "+dir+"/spool\n"), "inn.conf")
	if err != nil {
		f.Fatal(err)
	}
	s, err := OpenStore(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string) {
		p, err := s.ArticlePath(path)
		if err != nil {
			return
		}
		if !within(p, s.articlesReal) && !within(p, s.articles) {
			t.Fatalf("ArticlePath(%q) = %s, outside %s", path, p, s.articlesReal)
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && !within(real, s.articlesReal) {
			t.Fatalf("ArticlePath(%q) = %s, which resolves to %s outside %s", path, p, real, s.articlesReal)
		}
	})
}
