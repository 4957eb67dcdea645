package xmit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nxmit/nntp/nntptest"
)

// TestSendPathOutsideSpool is the attack of issue 18: whoever can write the outgoing
// directory (news) queues a line naming a root-only file with a Message-ID header; a pass
// run as root must not send it, and must name the line (FILE:LINE) as malformed.
func TestSendPathOutsideSpool(t *testing.T) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	if err := os.WriteFile(secret, []byte("From: root\nMessage-ID: <x@y>\n\nroot's private mail\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	attacks := []string{
		secret + " <x@y>",            // an absolute path with its Message-ID
		secret,                       // the Message-ID to be read from the file
		"../../" + secret + " <x@y>", // relative, climbing out
		"innocent <x@y>",             // a link inside the spool pointing out
	}
	s := newSite(t, 5, attacks...)
	arts := filepath.Join(filepath.Dir(s.q.Dir), "articles") // newSite's patharticles
	if err := os.Symlink(secret, filepath.Join(arts, "innocent")); err != nil {
		t.Fatal(err)
	}
	srv := nntptest.NewServer(t, nntptest.Script{})
	st, err := Send(context.Background(), s.options(srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Article("<x@y>"); ok {
		t.Fatal("the root-only file was sent to the peer")
	}
	for mid, art := range srv.Articles() {
		if strings.Contains(string(art), "root's private mail") {
			t.Fatalf("the root-only file was sent as %s", mid)
		}
	}
	if st.Accepted != 5 || st.Malformed != int64(len(attacks)) {
		t.Errorf("accepted %d malformed %d, want 5 and %d", st.Accepted, st.Malformed, len(attacks))
	}
	var named int
	for _, w := range s.warns.all() {
		if strings.Contains(w, "outside patharticles") && strings.Contains(w, ".B.") && strings.Contains(w, ":") {
			named++
		}
	}
	if named != len(attacks) {
		t.Errorf("%d warnings name the lines outside patharticles, want %d: %q", named, len(attacks), s.warns.all())
	}
	// Nothing lost: the lines are quarantined in S.bad with their FILE:LINE.
	s.checkBalance(st, 5)
	bad, err := os.ReadFile(s.q.BadPath())
	if err != nil {
		t.Fatalf("quarantine: %v", err)
	}
	for _, a := range attacks {
		if !strings.Contains(string(bad), a) {
			t.Errorf("S.bad lacks %q:\n%s", a, bad)
		}
	}
	if n := strings.Count(string(bad), "outside patharticles"); n != len(attacks) {
		t.Errorf("S.bad has %d lines outside patharticles, want %d:\n%s", n, len(attacks), bad)
	}
}
