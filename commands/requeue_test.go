package commands

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/nntp/nntptest"
)

// qtSpool is a minimal INN tree without innd: an inn.conf, a timehash spool and an
// outgoing directory, enough for filter, merge, requeue and send.
type qtSpool struct {
	dir, innconf, articles, outgoing string
}

func newQTSpool(t testing.TB) *qtSpool {
	t.Helper()
	dir := t.TempDir()
	s := &qtSpool{dir: dir, innconf: filepath.Join(dir, "inn.conf"),
		articles: filepath.Join(dir, "spool", "articles"), outgoing: filepath.Join(dir, "spool", "outgoing")}
	for _, d := range []string{s.articles, s.outgoing, filepath.Join(dir, "etc"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("pathnews: %s\npathhost: qt.test\ndomain: qt.test\n", dir)
	if err := os.WriteFile(s.innconf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// qtMID is the Message-ID of test article i.
func qtMID(i int) string { return fmt.Sprintf("<%d.qt@example.org>", i) }

// store writes article i (groups, arrival time) as a timehash file and returns its
// feed line "token message-id".
func (s *qtSpool) store(t testing.TB, i int, groups string, arrival time.Time, bodySize int) string {
	t.Helper()
	tok := fmt.Sprintf("@0200%08X%04X%020d@", uint32(arrival.Unix()), uint16(i), 0)
	p := s.path(tok)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Path: qt.test!not-for-mail\r\nFrom: t@example.org\r\nNewsgroups: %s\r\nSubject: %d\r\nMessage-ID: %s\r\nDate: %s\r\n\r\n",
		groups, i, qtMID(i), arrival.Format(time.RFC1123Z))
	for b.Len() < bodySize {
		b.WriteString("body line\r\n")
	}
	b.WriteString(".\r\n")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return tok + " " + qtMID(i)
}

// path returns the timehash file of a token made by store (inn-formats §1.5).
func (s *qtSpool) path(tok string) string {
	var at uint32
	var seq uint16
	fmt.Sscanf(tok[5:17], "%08X%04X", &at, &seq)
	return filepath.Join(s.articles, "time-00", fmt.Sprintf("%02x", (at>>16)&0xff), fmt.Sprintf("%02x", (at>>8)&0xff),
		fmt.Sprintf("%04x-%02x%02x", seq, at>>24, at&0xff))
}

// run runs the nxmit binary with this tree's inn.conf and returns its output and exit
// status.
func (s *qtSpool) run(t testing.TB, bin, stdin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	giveToNews(t, s.dir)
	cmd := exec.Command(bin, append([]string{"--innconf", s.innconf}, args...)...)
	cmd.Env = append(os.Environ(), "NXMIT_SYSLOG_SOCKET="+filepath.Join(s.dir, "no-syslog"))
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatalf("run nxmit: %v", err)
	}
	return o.String(), e.String(), status
}

// queueNames lists the files of site in the outgoing directory, lock files left out.
func qtQueueNames(t testing.TB, dir, site string) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, site+".*"))
	var out []string
	for _, n := range names {
		if !batch.IsBookkeeping(n) { // locks, totals, last-run records, deferral tallies hold no article
			out = append(out, filepath.Base(n))
		}
	}
	return out
}

// qtFileLines returns the good lines of a (possibly compressed) batch file.
func qtFileLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := batch.NewScanner(f, path)
	defer sc.Close()
	var out []string
	for sc.Scan() {
		if sc.LineErr() == nil {
			out = append(out, sc.Line().String())
		}
	}
	return out
}

// TestDeferralRoundTrip: a peer that defers every article the first time (431 to
// CHECK, as a paused innd does) gets them all in the end through send, requeue, send;
// the site's queue is then empty.
func TestDeferralRoundTrip(t *testing.T) {
	bin := nxmitBinary(t)
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			s := newQTSpool(t)
			var mu sync.Mutex
			offered := map[string]int{}
			srv := nntptest.NewServer(t, nntptest.Script{Decide: func(stage nntptest.Stage, mid string) int {
				mu.Lock()
				defer mu.Unlock()
				if stage == nntptest.Check || stage == nntptest.IHave {
					if offered[mid]++; offered[mid] == 1 {
						if stage == nntptest.IHave {
							return 436
						}
						return 431
					}
				}
				return 0
			}})
			host, port, _ := strings.Cut(srv.Addr, ":")
			var lines, mids []string
			for i := range 300 {
				lines = append(lines, s.store(t, i, "lab.test", time.Now().Add(-time.Hour), 500))
				mids = append(mids, qtMID(i))
			}
			q := batch.Queue{Dir: s.outgoing, Site: "peer"}
			if _, err := q.Create(batch.KindBacklog, compress, func(w io.Writer) error {
				_, err := w.Write([]byte(strings.Join(lines, "\n") + "\n"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			send := []string{"send", "peer", "--host", host, "--port", port, "--connections", "2"}

			_, stderr, status := s.run(t, bin, "", send...)
			if status != 0 {
				t.Fatalf("first send: status %d: %s", status, stderr)
			}
			if st := srv.Stats(); st.Deferred != 300 || st.Accepted != 0 {
				t.Fatalf("first send: %d deferred, %d accepted", st.Deferred, st.Accepted)
			}
			files := qtQueueNames(t, s.outgoing, "peer")
			if len(files) != 1 || !strings.HasPrefix(files[0], "peer.D.") {
				t.Fatalf("after the first send: %v", files)
			}

			args := []string{"-v", "requeue", "peer", "--retry-delay", "0"}
			if compress {
				args = append(args, "--compress")
			}
			_, stderr, status = s.run(t, bin, "", args...)
			if status != 0 || !strings.Contains(stderr, "300 lines: 300 written") {
				t.Fatalf("requeue: status %d: %s", status, stderr)
			}
			files = qtQueueNames(t, s.outgoing, "peer")
			if len(files) != 1 || !strings.HasPrefix(files[0], "peer.B.") || strings.HasSuffix(files[0], ".zst") != compress {
				t.Fatalf("after requeue: %v", files)
			}

			_, stderr, status = s.run(t, bin, "", send...)
			if status != 0 {
				t.Fatalf("second send: status %d: %s", status, stderr)
			}
			for _, m := range mids {
				if _, ok := srv.Article(m); !ok {
					t.Fatalf("peer never got %s", m)
				}
			}
			if st := srv.Stats(); st.Accepted != 300 {
				t.Errorf("accepted %d of 300", st.Accepted)
			}
			if files := qtQueueNames(t, s.outgoing, "peer"); len(files) != 0 {
				t.Errorf("queue not empty: %v", files)
			}
		})
	}
}

// TestDeferralRoundTripINN is the same round trip against a real receiving innd that
// defers: paused (ctlinnd pause), innd answers CHECK with 431 and IHAVE with 436.
func TestDeferralRoundTripINN(t *testing.T) {
	l := newOpLab(t)
	mids := l.inject(120)
	if _, stderr, status := l.nxmit("rotate", "peer", "--force"); status != 0 {
		t.Fatalf("rotate: status %d: %s", status, stderr)
	}
	port := strconv.Itoa(l.receiver.Port)
	send := []string{"send", "peer", "--host", "127.0.0.1", "--port", port}

	if _, err := l.receiver.Ctlinnd("pause", "deferral test"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, status := l.nxmit(send...); status != 0 {
		t.Fatalf("send to the paused innd: status %d: %s", status, stderr)
	}
	if m := l.missing(mids); len(m) != len(mids) {
		t.Fatalf("the paused innd took %d articles", len(mids)-len(m))
	}
	files := l.queueFiles("peer")
	if len(files) != 1 || !strings.HasPrefix(files[0], "peer.D.") {
		t.Fatalf("after the deferred send: %v", files)
	}
	if got := qtFileLines(t, filepath.Join(l.sender.Outgoing, files[0])); len(got) != len(mids) {
		t.Fatalf("deferral file has %d lines, want %d", len(got), len(mids))
	}
	if _, err := l.receiver.Ctlinnd("go", "deferral test"); err != nil {
		t.Fatal(err)
	}

	// Not due yet with the default retry delay; due with none.
	if _, stderr, status := l.nxmit("requeue", "peer"); status != 0 || len(l.queueFiles("peer")) != 1 || !strings.HasPrefix(l.queueFiles("peer")[0], "peer.D.") {
		t.Fatalf("requeue before the delay: status %d: %s; queue %v", status, stderr, l.queueFiles("peer"))
	}
	if _, stderr, status := l.nxmit("requeue", "peer", "--retry-delay", "0"); status != 0 {
		t.Fatalf("requeue: status %d: %s", status, stderr)
	}
	if files := l.queueFiles("peer"); len(files) != 1 || !strings.HasPrefix(files[0], "peer.B.") {
		t.Fatalf("after requeue: %v", files)
	}
	if _, stderr, status := l.nxmit(send...); status != 0 {
		t.Fatalf("second send: status %d: %s", status, stderr)
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Fatalf("receiver lacks %d of %d articles", len(m), len(mids))
	}
	if files := l.queueFiles("peer"); len(files) != 0 {
		t.Errorf("queue not empty: %v", files)
	}
}

// TestRequeueCommand: flags, nxmit.conf defaults, silence on success, malformed lines on
// stderr with FILE:LINE, exit statuses.
func TestRequeueCommand(t *testing.T) {
	bin := nxmitBinary(t)
	s := newQTSpool(t)
	q := batch.Queue{Dir: s.outgoing, Site: "peer"}
	now := time.Now()
	old := filepath.Join(s.outgoing, q.Name(batch.KindDeferred, now.Add(-20*time.Minute), false))
	young := filepath.Join(s.outgoing, q.Name(batch.KindDeferred, now.Add(-5*time.Minute), false))
	l1, l2 := s.store(t, 1, "a", now, 10), s.store(t, 2, "a", now, 10)
	os.WriteFile(old, []byte(l1+"\n"+l1+"\n"+"bad line\r\n"), 0o644)
	os.WriteFile(young, []byte(l2+"\n"), 0o644)

	// Default retry delay 10m: only the old file; nothing printed but the bad line.
	stdout, stderr, status := s.run(t, bin, "", "requeue", "peer")
	if status != 0 || stdout != "" || stderr != "nxmit: requeue peer: "+old+":3: carriage return at column 9 (CRLF line ending?)\n" {
		t.Fatalf("requeue: status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
	files := qtQueueNames(t, s.outgoing, "peer")
	// The bad line is quarantined, not lost with the requeued file.
	if i := slices.Index(files, "peer.bad"); i < 0 {
		t.Errorf("no peer.bad in %v", files)
	} else {
		files = slices.Delete(files, i, i+1)
	}
	if len(files) != 2 || !slices.Contains(files, filepath.Base(young)) {
		t.Fatalf("queue %v", files)
	}

	// nxmit.conf's retry-delay applies; -v says what happened.
	os.WriteFile(filepath.Join(s.dir, "etc", "nxmit.conf"), []byte("site peer {\n retry-delay: 1m\n}\n"), 0o644)
	_, stderr, status = s.run(t, bin, "", "-v", "requeue", "peer")
	if status != 0 || !strings.Contains(stderr, "requeue peer: 1 file(s), 1 lines: 1 written; into peer.B.") {
		t.Fatalf("requeue -v: status %d, stderr %q", status, stderr)
	}
	var got []string
	for _, f := range qtQueueNames(t, s.outgoing, "peer") {
		got = append(got, qtFileLines(t, filepath.Join(s.outgoing, f))...)
	}
	slices.Sort(got)
	if want := []string{l1, l2}; !slices.Equal(got, want) {
		t.Errorf("queued %q, want %q", got, want)
	}

	// A held queue lock: 75 and the holder named.
	lk, err := q.Lock(batch.QueueLock, "nxmit rotate peer")
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, status = s.run(t, bin, "", "requeue", "peer")
	lk.Unlock()
	if status != 75 || !strings.Contains(stderr, "nxmit rotate peer") {
		t.Errorf("locked: status %d, stderr %q", status, stderr)
	}
	if _, _, status = s.run(t, bin, "", "requeue", "peer", "--retry-delay", "-1m"); status != 2 {
		t.Errorf("negative delay: status %d", status)
	}
}

// writeLines writes lines to path, each ending in "\n".
func qtWrite(t testing.TB, path string, lines ...string) string {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	for _, l := range lines {
		w.WriteString(l + "\n")
	}
	w.Flush()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
