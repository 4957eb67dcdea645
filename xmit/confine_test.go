package xmit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"nxmit/batch"
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

// TestPathOutsideSpoolDurableBeforeBlank: a path line refused for leaving the spool is
// blanked only once its copy in S.bad is fsynced, or a power loss could keep the blank
// and lose the line (the order deferrals keep with S.defer).
func TestPathOutsideSpoolDurableBeforeBlank(t *testing.T) {
	attacks := []string{"/etc/passwd <p1@y>", "/etc/hostname <p2@y>", "../../etc/group <p3@y>"}
	s := newSite(t, 200, attacks...)
	files, err := s.q.Backlogs()
	if err != nil || len(files) != 1 {
		t.Fatal(files, err)
	}
	data, err := os.ReadFile(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[int64]string{} // offset of an attack line → the line
	var off int64
	for _, l := range strings.SplitAfter(string(data), "\n") {
		for _, a := range attacks {
			if strings.TrimSuffix(l, "\n") == a {
				lines[off] = a
			}
		}
		off += int64(len(l))
	}
	if len(lines) != len(attacks) {
		t.Fatalf("found %d attack lines in the backlog, want %d", len(lines), len(attacks))
	}
	var (
		mu               sync.Mutex
		written, durable string
		blanks           int
		violates         []string
	)
	restore := batch.SetOpsHook(func(op batch.FileOp) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case op.Path == s.q.BadPath() && op.Kind == batch.OpWrite:
			written += string(op.Data)
		case op.Path == s.q.BadPath() && op.Kind == batch.OpSync:
			durable = written
		case op.Path == files[0].Path && op.Kind == batch.OpWrite && op.Off >= 0:
			for o, a := range lines {
				if o < op.Off || o >= op.Off+int64(len(op.Data)) {
					continue
				}
				blanks++
				if !strings.Contains(durable, a) {
					violates = append(violates, a)
				}
			}
		}
	})
	defer restore()
	srv := nntptest.NewServer(t, nntptest.Script{})
	st, err := Send(context.Background(), s.options(srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	s.checkBalance(st, 200)
	mu.Lock()
	defer mu.Unlock()
	if len(violates) > 0 {
		t.Errorf("%d of %d path lines blanked before their copy in S.bad was durable: %q", len(violates), blanks, violates)
	}
	t.Logf("%d path lines blanked, each after S.bad's fsync", blanks)
}
