package reliability

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/nntp/nntptest"
)

// The disk-full tests put a site's outgoing directory on a 1 MiB tmpfs, fill it up,
// and run the command that must write: send (S.defer, a compressed backlog's
// checkpoint), requeue and merge (a new S.B.*), rotate --compress (S.B.*.zst). Each must
// fail with an error that says the disk is full, lose nothing, leave no temporary file
// and install no truncated file; and once there is room again, the same command must
// finish the job.

const tinyFS = 1 << 20

// page is the allocation unit of tmpfs: each lock file a command writes its holder into
// takes one.
const page = 4096

// fullSite is a fileSite whose outgoing directory is a tiny tmpfs.
func fullSite(t *testing.T, n int) (*fileSite, string) {
	t.Helper()
	mnt := mountTmpfs(t, tinyFS)
	out := filepath.Join(mnt, "outgoing")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return newFileSite(t, n, 1500, out), mnt
}

// checkENOSPC checks that a run failed and said why.
func checkENOSPC(t *testing.T, r result) {
	t.Helper()
	if r.Status == 0 {
		t.Errorf("succeeded on a full disk?\n%s", r)
	}
	if r.Status == -1 || r.Status == raceExit || r.Status == 2 {
		t.Errorf("exit status %d on a full disk\n%s", r.Status, r)
	}
	if !strings.Contains(r.Stderr, "no space left on device") {
		t.Errorf("the error does not say the disk is full:\n%s", r.Stderr)
	}
	if strings.Contains(r.Stderr, "panic") {
		t.Errorf("panic:\n%s", r.Stderr)
	}
}

// keys returns the sorted message-ids a snapshot holds.
func keys(s snapshot) []string {
	var k []string
	for mid := range s.Count {
		k = append(k, mid)
	}
	sort.Strings(k)
	return k
}

// checkSameQueue fails the test unless after holds every message-id before held.
func checkSameQueue(t *testing.T, before, after snapshot) {
	t.Helper()
	lost := 0
	for mid := range before.Count {
		if after.Count[mid] == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("LOST %d of %d queued lines (files before %v, after %v)", lost, before.Lines, before.Files, after.Files)
	}
	if len(after.Partial) > 0 || len(after.Bad) > 0 {
		t.Errorf("damaged queue: partial %v, malformed %v", after.Partial, after.Bad)
	}
}

// TestDiskFullSend fills the disk under S.defer: the peer defers every third article, and
// the first deferral cannot be written. The pass must stop offering, keep every line it
// could not record (its backlog line stays as it was), and say the disk is full.
func TestDiskFullSend(t *testing.T) {
	s, mnt := fullSite(t, 300)
	srv := nntptest.NewServer(t, nntptest.Script{Dedupe: true, Decide: deferEveryThird})
	before := takeSnapshot(t, s.Q, false)
	filler := fillFS(t, mnt, page) // room for the send lock's holder, not for S.defer
	r := runNxmit(t, time.Minute, s.env(), s.sendArgs(srv.Addr)...)
	checkENOSPC(t, r)
	if !strings.Contains(r.Stderr, "defer") {
		t.Errorf("the error does not name S.defer:\n%s", r.Stderr)
	}
	checkAccounted(t, s, []*nntptest.Server{srv}, takeSnapshot(t, s.Q, false))
	checkNoLeftovers(t, s.Q)
	checkWholeFiles(t, s.Q)
	first := r

	// With room again (and a peer that no longer defers), requeue and send finish.
	os.Remove(filler)
	healthy := nntptest.NewServer(t, nntptest.Script{})
	passes := drainFileSite(t, s, healthy)
	checkAccounted(t, s, []*nntptest.Server{srv, healthy}, takeSnapshot(t, s.Q, false))
	report(t, "%d lines queued; S.defer cannot be written: exit %d, %s, %q; every article at the peer or "+
		"still queued, no *.tmp, no partial file; with room again %d passes of requeue+send deliver all",
		before.Lines, first.Status, first.Stats, lastNxmitLine(first.Stderr), passes)
}

// deferEveryThird defers (431) the CHECK of every third article.
func deferEveryThird(stage nntptest.Stage, mid string) int {
	var n int
	fmt.Sscanf(mid[strings.IndexByte(mid, '.')+1:], "%d", &n)
	if stage == nntptest.Check && n%3 == 0 {
		return 431
	}
	return 0
}

// drainFileSite runs requeue and send against srv until the queue is empty, and
// returns the number of passes.
func drainFileSite(t *testing.T, s *fileSite, srv *nntptest.Server) int {
	t.Helper()
	for pass := 1; ; pass++ {
		if err := requeue(t, s.env(), s.Q); err != nil {
			t.Fatalf("requeue: %v", err)
		}
		snap := takeSnapshot(t, s.Q, false)
		if snap.Lines == 0 {
			return pass - 1
		}
		if pass > 10 {
			t.Fatalf("still %d lines queued after %d passes", snap.Lines, pass)
		}
		r := runNxmit(t, time.Minute, s.env(), s.sendArgs(srv.Addr)...)
		if r.Status != 0 {
			t.Fatalf("send: %s", r)
		}
		if r.Stats.Offered == 0 {
			time.Sleep(time.Second) // nothing could be offered yet: wait, then requeue again
		}
	}
}

// TestDiskFullRequeueMerge fills the disk under the new backlog of requeue and of merge
// (plain and compressed): nothing is installed, no input is removed, no temporary file
// stays, and with room again the same command succeeds.
func TestDiskFullRequeueMerge(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *fileSite, input string) result
	}{
		{"requeue", func(t *testing.T, s *fileSite, _ string) result {
			return runNxmit(t, time.Minute, s.env(), "requeue", s.Q.Site, "--outgoing", s.Q.Dir, "--retry-delay", "0s")
		}},
		{"merge", func(t *testing.T, s *fileSite, input string) result {
			return runNxmit(t, time.Minute, s.env(), "merge", s.Q.Site, "--outgoing", s.Q.Dir, "--remove", input)
		}},
		{"merge --compress", func(t *testing.T, s *fileSite, input string) result {
			return runNxmit(t, time.Minute, s.env(), "merge", s.Q.Site, "--outgoing", s.Q.Dir, "--remove", "--compress", input)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, mnt := fullSite(t, 0)
			// 8,000 articles' lines (about 350 KB): deferral files on the tiny file
			// system for requeue, an input file elsewhere for merge.
			mids := s.addArticles(t, 8000, 10, "d")
			var lines strings.Builder
			for i, mid := range mids {
				fmt.Fprintf(&lines, "%s %s\n", s.Paths[i], mid)
			}
			input := filepath.Join(s.Dir, "old-feed")
			if err := os.WriteFile(input, []byte(lines.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			want := 8000
			if tt.name == "requeue" {
				half := strings.Index(lines.String()[len(lines.String())/2:], "\n") + len(lines.String())/2 + 1
				for _, part := range []string{lines.String()[:half], lines.String()[half:]} {
					if _, err := s.Q.Create(batch.KindDeferred, false, func(w io.Writer) error {
						_, err := w.Write([]byte(part))
						return err
					}); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(2 * time.Second) // let the deferral files' names come due
			}
			before := takeSnapshot(t, s.Q, false)
			filler := fillFS(t, mnt, 2*page) // room for the lock files' holders
			r := tt.run(t, s, input)
			checkENOSPC(t, r)
			after := takeSnapshot(t, s.Q, false)
			checkSameQueue(t, before, after)
			if backlogs, _ := s.Q.Backlogs(); len(backlogs) != 0 {
				t.Errorf("a backlog was installed on a full disk: %v", backlogs)
			}
			if tt.name != "requeue" && !exists(input) {
				t.Error("merge --remove removed its input though it failed")
			}
			checkNoLeftovers(t, s.Q)
			checkWholeFiles(t, s.Q)
			first := r

			os.Remove(filler)
			r = tt.run(t, s, input)
			if r.Status != 0 {
				t.Fatalf("with room again: %s", r)
			}
			final := takeSnapshot(t, s.Q, false)
			if final.Lines != want || len(final.Dups()) != 0 {
				t.Errorf("with room again: %d lines queued (%d twice), want %d", final.Lines, len(final.Dups()), want)
			}
			checkNoLeftovers(t, s.Q)
			checkWholeFiles(t, s.Q)
			report(t, "%d lines; new backlog cannot be written: exit %d, %q; inputs intact, nothing installed, "+
				"no temporary file; with room again exit 0 and %d lines queued once each, files %v",
				want, first.Status, lastNxmitLine(first.Stderr), final.Lines, final.Files)
		})
	}
}

// TestDiskFullRotateCompress fills the disk under the compressed copy rotate makes of the
// feed file: no truncated .zst may be installed, and the feed's lines must all stay
// queued. Rotate then installs the feed file uncompressed (a rename needs no room), so
// send can go on with it.
func TestDiskFullRotateCompress(t *testing.T) {
	s, mnt := fullSite(t, 0)
	mids := s.addArticles(t, 8000, 10, "f")
	f, err := os.Create(s.Q.FeedPath())
	if err != nil {
		t.Fatal(err)
	}
	for i, mid := range mids {
		fmt.Fprintf(f, "%s %s\n", s.Paths[i], mid)
	}
	f.Close()
	ctlinnd := filepath.Join(s.Dir, "ctlinnd")
	if err := os.WriteFile(ctlinnd, []byte("#!/bin/sh\necho Ok\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := takeSnapshot(t, s.Q, true)
	filler := fillFS(t, mnt, 2*page)
	defer os.Remove(filler)
	r := runNxmit(t, time.Minute, s.env(), "rotate", s.Q.Site, "--outgoing", s.Q.Dir, "--force", "--compress",
		"--ctlinnd", ctlinnd)
	if r.Status != 0 || !strings.Contains(r.Stderr, "no space left on device") || !strings.Contains(r.Stderr, "uncompressed") {
		t.Fatalf("rotate --compress on a full disk: want exit 0 and a warning naming ENOSPC and the uncompressed install\n%s", r)
	}
	after := takeSnapshot(t, s.Q, true)
	checkSameQueue(t, before, after)
	if len(after.Dups()) != 0 {
		t.Errorf("%d lines queued twice", len(after.Dups()))
	}
	checkNoLeftovers(t, s.Q)
	checkWholeFiles(t, s.Q)
	backlogs, _ := s.Q.Backlogs()
	if len(backlogs) != 1 || backlogs[0].Compressed {
		t.Errorf("backlogs %v, want one plain backlog", backlogs)
	}
	if _, err := os.Stat(s.Q.RotatingPath()); err == nil {
		t.Errorf("%s left behind", s.Q.RotatingPath())
	}
	report(t, "%d-line feed file; compressed backlog cannot be written: exit %d, %q, files %v; every line queued once, uncompressed",
		len(mids), r.Status, lastNxmitLine(r.Stderr), after.Files)
}

// TestDiskFullCheckpoint sends a compressed backlog on a full disk, where its checkpoint
// (PATH.done) cannot be rewritten: the progress is not recorded, so the lines are offered
// again later, but none is lost.
func TestDiskFullCheckpoint(t *testing.T) {
	s, mnt := fullSite(t, 0)
	mids := s.addArticles(t, 2000, 500, "z")
	var lines strings.Builder
	for i, mid := range mids {
		fmt.Fprintf(&lines, "%s %s\n", s.Paths[i], mid)
	}
	if _, err := s.Q.Create(batch.KindBacklog, true, func(w io.Writer) error {
		_, err := w.Write([]byte(lines.String()))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := nntptest.NewServer(t, nntptest.Script{Dedupe: true, Delay: time.Millisecond})
	filler := fillFS(t, mnt, page)
	r := runNxmit(t, time.Minute, s.env(), s.sendArgs(srv.Addr, "--max-articles", "1000")...)
	checkNoLeftovers(t, s.Q)
	checkAccounted(t, s, []*nntptest.Server{srv}, takeSnapshot(t, s.Q, false))
	first := r
	os.Remove(filler)
	passes := drainFileSite(t, s, srv)
	checkAccounted(t, s, []*nntptest.Server{srv}, takeSnapshot(t, s.Q, false))
	report(t, "2000-line zstd backlog, 1000 sent while its checkpoint cannot be written: exit %d, %s, %q; "+
		"nothing lost; with room again %d passes finish", first.Status, first.Stats, lastNxmitLine(first.Stderr), passes)
}
