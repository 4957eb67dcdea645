package commands

import (
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newsIDsForTest returns the uid and gid of news, skipping a test that does not run as root.
func newsIDsForTest(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the switch to INN's user is what is tested")
	}
	u, err := user.Lookup("news")
	if err != nil {
		t.Skipf("no user news: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func ownerOf(t *testing.T, path string) (uid, gid int) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// TestRootRunSwitchesToNews: started as root, nxmit runs as news (inn.conf runasuser)
// for good, real, effective and saved ids alike and no supplementary group of root's;
// the files it creates are news' without any chown; and the files root named on the
// command line (a root-only merge input) are still read.
func TestRootRunSwitchesToNews(t *testing.T) {
	uid, gid := newsIDsForTest(t)
	bin := nxmitBinary(t)
	s := newQTSpool(t)
	a := s.store(t, 1, "misc.test", time.Now(), 100)
	b := s.store(t, 2, "misc.test", time.Now(), 100)
	qtWrite(t, filepath.Join(s.outgoing, "peer"), a)

	// The fake ctlinnd records the ids of its parent, nxmit, from /proc.
	ids := filepath.Join(t.TempDir(), "ids")
	giveToNews(t, filepath.Dir(ids))
	ctlinnd := rotFakeProgram(t, "ctlinnd", "grep -E '^(Uid|Gid|Groups):' /proc/$PPID/status > "+ids)
	_, stderr, status := s.run(t, bin, "", "rotate", "peer", "--force", "--ctlinnd", ctlinnd)
	if status != 0 {
		t.Fatalf("rotate: status %d: %s", status, stderr)
	}
	data, err := os.ReadFile(ids)
	if err != nil {
		t.Fatal(err)
	}
	four := func(id int) string { return strings.TrimSuffix(strings.Repeat(strconv.Itoa(id)+`\s+`, 4), `\s+`) }
	want := regexp.MustCompile(`^Uid:\s+` + four(uid) + `\s*\nGid:\s+` + four(gid) + `\s*\nGroups:\s+` + strconv.Itoa(gid) + `\s*$`)
	if !want.Match(data) {
		t.Errorf("nxmit's ids while it ran ctlinnd:\n%s\nwant every uid %d, every gid and the only group %d", data, uid, gid)
	}
	names := qtQueueNames(t, s.outgoing, "peer")
	if len(names) != 1 {
		t.Fatalf("queue after rotate: %v", names)
	}
	for _, name := range []string{names[0], "peer.queue.lock"} {
		if u, g := ownerOf(t, filepath.Join(s.outgoing, name)); u != uid || g != gid {
			t.Errorf("%s owned by %d:%d, want news %d:%d", name, u, g, uid, gid)
		}
	}

	// merge reads what root named, even where news may not look, and writes as news.
	private := t.TempDir()
	os.Chmod(private, 0o700)
	in := qtWrite(t, filepath.Join(private, "old-batch"), b)
	os.Chmod(in, 0o600)
	if _, stderr, status := s.run(t, bin, "", "merge", "peer", in); status != 0 {
		t.Fatalf("merge of a root-only file: status %d: %s", status, stderr)
	}
	for _, name := range qtQueueNames(t, s.outgoing, "peer") {
		if u, _ := ownerOf(t, filepath.Join(s.outgoing, name)); u != uid {
			t.Errorf("%s owned by uid %d after merge, want news %d", name, u, uid)
		}
	}
	if got := len(qtQueueNames(t, s.outgoing, "peer")); got != 2 {
		t.Errorf("%d backlogs after merge, want 2", got)
	}
	// filter too reads its named file as root, then the spool as news.
	if out, stderr, status := s.run(t, bin, "", "filter", "--exists", in); status != 0 || out != b+"\n" {
		t.Errorf("filter of a root-only file: status %d, out %q: %s", status, out, stderr)
	}
}

// TestRootRunRefusesUnknownUser: when inn.conf's runasuser does not exist, a root run
// refuses, saying why, and touches nothing.
func TestRootRunRefusesUnknownUser(t *testing.T) {
	newsIDsForTest(t)
	bin := nxmitBinary(t)
	s := newQTSpool(t)
	f, err := os.OpenFile(s.innconf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("runasuser: nxmit-no-such-user\n")
	f.Close()
	qtWrite(t, filepath.Join(s.outgoing, "peer"), s.store(t, 1, "misc.test", time.Now(), 100))
	for _, args := range [][]string{{"rotate", "peer", "--force"}, {"send", "peer"}, {"status"}, {"requeue", "peer"}, {"run"}} {
		_, stderr, status := s.run(t, bin, "", args...)
		if status != 1 || !strings.Contains(stderr, `user "nxmit-no-such-user" (inn.conf runasuser)`) ||
			!strings.Contains(stderr, "refusing to run as root") {
			t.Errorf("%v: status %d, stderr %q; want 1 and a refusal naming the user", args, status, stderr)
		}
	}
	if names := qtQueueNames(t, s.outgoing, "peer"); len(names) != 0 {
		t.Errorf("files created: %v", names)
	}
	if _, err := os.Stat(filepath.Join(s.outgoing, "peer.queue.lock")); err == nil {
		t.Error("a lock file was created")
	}
}
