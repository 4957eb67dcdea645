package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/logging/syslogtest"
	"nxmit/nntp/nntptest"
)

// opLab is a real sender innd (site "peer" written as a file feed) and a real
// receiving innd, with nxmit built and a syslog receiver, for the operator-facing tests.
type opLab struct {
	t        *testing.T
	bin      string
	sender   *innlab.Instance
	receiver *innlab.Instance
	syslog   *syslogtest.Server
	seed     int64
	mids     []string
}

func newOpLab(t *testing.T) *opLab {
	t.Helper()
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{}, innlab.Options{})
	return &opLab{
		t:        t,
		bin:      nxmitBinary(t),
		sender:   sender,
		receiver: receiver,
		syslog:   syslogtest.Listen(t, ""),
		seed:     time.Now().UnixNano() % 1e9,
	}
}

// inject stores n articles in the sender, which writes a feed line for each.
func (l *opLab) inject(n int) []string {
	l.t.Helper()
	arts := innlab.Generate(innlab.GenOptions{Count: n, Seed: l.seed})
	l.seed++
	if err := l.sender.Inject(arts); err != nil {
		l.t.Fatal(err)
	}
	var mids []string
	for _, a := range arts {
		mids = append(mids, a.MessageID)
	}
	l.mids = append(l.mids, mids...)
	return mids
}

// writeConfig writes the sender's PATHETC/nxmit.conf, the default location.
func (l *opLab) writeConfig(text string) string {
	l.t.Helper()
	path := filepath.Join(l.sender.PathEtc, "nxmit.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return path
}

// nxmit runs the nxmit binary as news with the sender's INNCONF and returns its
// output and exit status. A run that takes over two minutes is killed with SIGQUIT, so
// that its goroutines show in stderr.
func (l *opLab) nxmit(args ...string) (stdout, stderr string, status int) {
	l.t.Helper()
	cmd := l.sender.Command(l.bin, args...)
	cmd.Env = append(cmd.Env, "NXMIT_SYSLOG_SOCKET="+l.syslog.Path)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("run nxmit: %v", err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Signal(syscall.SIGQUIT) })
	err := cmd.Wait()
	if !timer.Stop() {
		l.t.Fatalf("nxmit %q hung; killed:\n%s", args, e.String())
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		l.t.Fatalf("run nxmit: %v", err)
	}
	return o.String(), e.String(), status
}

// missing returns the message-ids the receiver does not have.
func (l *opLab) missing(mids []string) []string {
	l.t.Helper()
	m, err := l.receiver.Missing(mids)
	if err != nil {
		l.t.Fatal(err)
	}
	return m
}

// statsLines returns the innxmit stats lines logged so far.
func (l *opLab) statsLines() []syslogtest.Message {
	var out []syslogtest.Message
	for _, m := range l.syslog.Messages() {
		if strings.Contains(m.Text, " stats offered ") {
			out = append(out, m)
		}
	}
	return out
}

// queueFiles lists the site's queue files, its (empty) lock files left out.
func (l *opLab) queueFiles(site string) []string {
	names, _ := filepath.Glob(filepath.Join(l.sender.Outgoing, site+".*"))
	var out []string
	for _, n := range names {
		if !batch.IsBookkeeping(n) { // locks, totals, last-run records, deferral tallies hold no article
			out = append(out, filepath.Base(n))
		}
	}
	return out
}

// backlogCount counts the site's backlogs.
func (l *opLab) backlogCount(site string) int {
	n := 0
	for _, f := range l.queueFiles(site) {
		if strings.HasPrefix(f, site+".B.") {
			n++
		}
	}
	return n
}

var statsRE = regexp.MustCompile(`^peer stats offered 200 accepted 200 refused 0 rejected 0 missing 0 accsize [1-9][0-9]* rejsize 0$`)

// TestRunCron is the crontab line: "nxmit run" rotates the feed file innd writes,
// sends it to the real receiver, prints nothing, and logs innxmit's statistics.
func TestRunCron(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig(fmt.Sprintf(`# test configuration
max-connections: 3
defaults {
    connections: 2
    rotate-min-size: 0
    rotate-max-age: 0
}
site peer {
    host: 127.0.0.1
    port: %d
}
`, l.receiver.Port))
	mids := l.inject(200)

	stdout, stderr, status := l.nxmit("run")
	if status != 0 || stdout != "" || stderr != "" {
		t.Fatalf("run: status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Fatalf("receiver lacks %d of %d articles, e.g. %s", len(m), len(mids), m[0])
	}
	if files := l.queueFiles("peer"); len(files) != 0 {
		t.Errorf("queue files left: %v", files)
	}
	msgs := l.syslog.Wait(3, 5*time.Second)
	var stats, times, detail int
	for _, m := range msgs {
		switch {
		case m.Ident == "innxmit" && m.Facility == 7 && m.Priority == 5 &&
			statsRE.MatchString(m.Text):
			stats++
		case m.Ident == "innxmit" && strings.HasPrefix(m.Text, "peer times user "):
			times++
		case m.Ident == "nxmit" && m.Priority == 6 && strings.HasPrefix(m.Text, "peer nxmit deferred 0 "):
			detail++
		}
	}
	if stats != 1 || times != 1 || detail != 1 {
		t.Errorf("syslog: %d stats, %d times, %d detail lines:\n%+v", stats, times, detail, msgs)
	}

	// A second run with nothing new does nothing and says nothing.
	stdout, stderr, status = l.nxmit("run")
	if status != 0 || stdout != "" || stderr != "" {
		t.Errorf("idle run: status %d, stdout %q, stderr %q", status, stdout, stderr)
	}

	// -v prints the statistics.
	more := l.inject(20)
	_, stderr, status = l.nxmit("-v", "run", "peer")
	if status != 0 || !strings.Contains(stderr, "peer stats offered 20 accepted 20 ") {
		t.Errorf("run -v: status %d, stderr %q", status, stderr)
	}
	if m := l.missing(more); len(m) != 0 {
		t.Errorf("receiver lacks %d articles after the -v run", len(m))
	}
}

// TestRunSkipsLockedSite: a site whose send lock is held (a long drain) is skipped
// without a word, and its queue stays for the next run.
func TestRunSkipsLockedSite(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %d\n rotate-min-size: 0\n rotate-max-age: 0\n}\n", l.receiver.Port))
	mids := l.inject(30)

	// Hold the send lock from another process: flock(1) as news (-o: the lock is
	// flock's own, so killing it releases the lock).
	lock := filepath.Join(l.sender.Outgoing, "peer.send.lock")
	holder := l.sender.Command("/usr/bin/flock", "-o", lock, "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Skipf("flock(1): %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(lock); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)

	stdout, stderr, status := l.nxmit("run")
	if status != 0 || stdout != "" || stderr != "" {
		t.Fatalf("run with the send lock held: status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
	if m := l.missing(mids); len(m) != len(mids) {
		t.Errorf("a locked site was sent: receiver has %d articles", len(mids)-len(m))
	}
	// Rotation still happened: the backlog waits.
	if l.backlogCount("peer") != 1 {
		t.Errorf("want one backlog waiting, have %v", l.queueFiles("peer"))
	}

	holder.Process.Kill()
	holder.Wait()
	if _, stderr, status := l.nxmit("run"); status != 0 || stderr != "" {
		t.Fatalf("run after the lock was released: status %d, stderr %q", status, stderr)
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Errorf("receiver lacks %d articles after the lock was released", len(m))
	}
}

// TestRunUnreachablePeer: a peer that is down makes run exit 75 (cron retries) with a
// line on stderr and innxmit's "connect failed" in syslog; nothing is lost.
func TestRunUnreachablePeer(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig("site peer {\n host: 127.0.0.1\n port: 1\n rotate-min-size: 0\n rotate-max-age: 0\n connect-timeout: 5s\n}\n")
	l.inject(10)
	_, stderr, status := l.nxmit("run")
	t.Logf("stderr:\n%s", stderr)
	if status != 75 || !strings.Contains(stderr, "nxmit: run peer: send: ") {
		t.Errorf("status %d, stderr %q; want 75 and a line naming the site", status, stderr)
	}
	found := false
	for _, m := range l.syslog.Wait(1, 5*time.Second) {
		found = found || strings.HasPrefix(m.Text, "peer connect failed ")
	}
	if !found {
		t.Errorf("no 'connect failed' in syslog: %+v", l.syslog.Messages())
	}
	if l.backlogCount("peer") != 1 {
		t.Errorf("the rotated backlog should wait for the next run: %v", l.queueFiles("peer"))
	}
}

// TestRunConfigErrors: a broken configuration names the file and line and exits 1.
func TestRunConfigErrors(t *testing.T) {
	l := newOpLab(t)
	path := l.writeConfig("site peer {\n  host: 127.0.0.1\n  port: 99999\n}\n")
	_, stderr, status := l.nxmit("run")
	if status == 0 || !strings.Contains(stderr, path+":3: port: 99999 is out of range") {
		t.Errorf("status %d, stderr %q", status, stderr)
	}
	// --config overrides, and so does NXMIT_CONFIG.
	other := filepath.Join(l.sender.Dir, "other.conf")
	os.WriteFile(other, []byte("bogus: 1\n"), 0o644)
	if _, stderr, _ := l.nxmit("--config", other, "status"); !strings.Contains(stderr, other+":1: unknown parameter \"bogus\"") {
		t.Errorf("--config: stderr %q", stderr)
	}
	cmd := l.sender.Command(l.bin, "status")
	cmd.Env = append(cmd.Env, "NXMIT_CONFIG="+other)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), other+":1: unknown parameter") {
		t.Errorf("NXMIT_CONFIG: %q", out)
	}
	// No site configured, none named.
	l.writeConfig("# nothing yet\n")
	if _, stderr, status := l.nxmit("run"); status != 1 || !strings.Contains(stderr, "no sites configured in") {
		t.Errorf("empty configuration: status %d, stderr %q", status, stderr)
	}
}

// TestRunSitesInParallelBounded: two sites go in parallel; one peer never finishes, and
// --run-time ends the whole run on time with its articles still queued.
func TestRunSitesInParallelBounded(t *testing.T) {
	sender, receiver := innlab.SenderReceiver(t, innlab.Options{Feeds: []string{"stuck:*,!junk,!control,!control.*:Tf,Wnm:"}}, innlab.Options{})
	l := &opLab{t: t, bin: nxmitBinary(t), sender: sender, receiver: receiver, syslog: syslogtest.Listen(t, ""), seed: time.Now().UnixNano() % 1e9}
	stuck := nntptest.NewServer(t, nntptest.Script{StallAt: 5})
	_, stuckPort, _ := strings.Cut(stuck.Addr, ":")
	l.writeConfig(fmt.Sprintf(`max-connections: 2
defaults {
    connections: 2
    rotate-min-size: 0
    rotate-max-age: 0
}
site peer {
    host: 127.0.0.1
    port: %d
}
site stuck {
    host: 127.0.0.1
    port: %s
}
`, l.receiver.Port, stuckPort))
	mids := l.inject(100)

	start := time.Now()
	_, stderr, status := l.nxmit("-v", "run", "--run-time", "4s")
	took := time.Since(start)
	t.Logf("run took %v; stderr:\n%s", took, stderr)
	if status != 0 {
		t.Errorf("status %d, stderr %q", status, stderr)
	}
	// The run time, the grace for answers in flight included, plus a second for
	// starting, rotating and exiting.
	if took > 5*time.Second {
		t.Errorf("run took %v with --run-time 4s", took)
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Errorf("site peer: receiver lacks %d articles", len(m))
	}
	if l.backlogCount("stuck") != 1 {
		t.Errorf("site stuck: want its backlog still queued, have %v", l.queueFiles("stuck"))
	}
}

// TestFirstTryExplains is the guide's first try on a real innd: with the default
// thresholds "nxmit -v run" rotates nothing and says why, and that nothing is queued;
// status counts the articles waiting in the feed file, its age and when it rotates;
// "rotate --force" then "send" moves them.
func TestFirstTryExplains(t *testing.T) {
	l := newOpLab(t)
	l.writeConfig(fmt.Sprintf("site peer {\n host: 127.0.0.1\n port: %d\n}\n", l.receiver.Port))
	mids := l.inject(150)

	_, stderr, status := l.nxmit("-v", "run")
	if status != 0 || !regexp.MustCompile(`run peer: rotate: feed [0-9.]+K, [0-9]+s old: rotates at 10M or 4m old \(in [0-9m]+s\)`).MatchString(stderr) ||
		!strings.Contains(stderr, "run peer: send: nothing queued") {
		t.Errorf("-v run: status %d, stderr %q; want why nothing moved", status, stderr)
	}
	stdout, _, status := l.nxmit("status")
	if status != 0 || !regexp.MustCompile(`(?m)^peer +[0-9.]+K \(150\) +0 +150 `).MatchString(stdout) ||
		!strings.Contains(stdout, "peer: feed ") {
		t.Errorf("status: %d\n%s\nwant the feed's 150 articles under ARTICLES and when it rotates", status, stdout)
	}
	stdout, _, _ = l.nxmit("status", "--json")
	var rep struct {
		Sites []struct {
			Feed          struct{ Articles int64 }
			FeedAge       *float64 `json:"feed_age_seconds"`
			FeedRotatesIn *float64 `json:"feed_rotates_in_seconds"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Sites) != 1 {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	if s := rep.Sites[0]; s.Feed.Articles != 150 || s.FeedAge == nil || s.FeedRotatesIn == nil || *s.FeedRotatesIn > 240 {
		t.Errorf("status --json: %s", stdout)
	}

	if _, stderr, status := l.nxmit("rotate", "--force", "peer"); status != 0 || stderr != "" {
		t.Fatalf("rotate --force: %d %q", status, stderr)
	}
	if _, stderr, status := l.nxmit("-v", "send", "peer"); status != 0 || !strings.Contains(stderr, "peer stats offered 150 accepted 150 ") {
		t.Fatalf("send: %d %q", status, stderr)
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Errorf("receiver lacks %d articles", len(m))
	}
	if _, stderr, _ := l.nxmit("-v", "send", "peer"); !strings.Contains(stderr, "send peer: nothing queued") {
		t.Errorf("idle send -v: %q", stderr)
	}
}

// TestRunAlertAfter: a peer that stays down makes cron mail once, not every run: the
// first failure is printed, the same failure again is only logged (still exit 75),
// after alert-after it is said once more, and the recovery is said when the peer is
// back. Status shows the last run and its error; the record is S.lastrun.
func TestRunAlertAfter(t *testing.T) {
	l := newOpLab(t)
	conf := "site peer {\n host: 127.0.0.1\n port: %d\n rotate-min-size: 0\n rotate-max-age: 0\n connect-timeout: 5s\n alert-after: 3s\n}\n"
	l.writeConfig(fmt.Sprintf(conf, 1))
	mids := l.inject(10)
	_, stderr, status := l.nxmit("run")
	if status != 75 || !strings.Contains(stderr, "nxmit: run peer: send: ") {
		t.Fatalf("first failure: status %d, stderr %q", status, stderr)
	}
	start := time.Now()
	l.inject(5)
	if _, stderr, status := l.nxmit("run"); status != 75 || stderr != "" {
		t.Errorf("the same failure again: status %d, stderr %q; want 75 and silence", status, stderr)
	}
	stdout, _, _ := l.nxmit("status")
	if !strings.Contains(stdout, "temporary ") || !strings.Contains(stdout, "peer: last run ") || !strings.Contains(stdout, "connect failed") {
		t.Errorf("status does not show the failing last run:\n%s", stdout)
	}
	stdout, _, _ = l.nxmit("status", "--json")
	if !strings.Contains(stdout, `"last_run": {`) || !strings.Contains(stdout, `"failing_since": `) {
		t.Errorf("status --json lacks last_run:\n%s", stdout)
	}
	// A run that only rotates is no recovery: it leaves the record alone.
	if _, stderr, status := l.nxmit("run", "--no-send"); status != 0 || stderr != "" {
		t.Errorf("run --no-send while failing: status %d, stderr %q", status, stderr)
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	_, stderr, status = l.nxmit("run")
	if status != 75 || !strings.Contains(stderr, "nxmit: run peer: still failing the same way since ") {
		t.Errorf("after alert-after: status %d, stderr %q", status, stderr)
	}
	if _, stderr, _ := l.nxmit("run"); stderr != "" {
		t.Errorf("after the alert: stderr %q, want silence", stderr)
	}
	found := 0
	for _, m := range l.syslog.Messages() {
		if m.Ident == "nxmit" && strings.Contains(m.Text, "run peer: send: ") && strings.Contains(m.Text, "connect failed") {
			found++
		}
	}
	if found != 4 {
		t.Errorf("%d failures logged, want all 4", found)
	}

	l.writeConfig(fmt.Sprintf(conf, l.receiver.Port))
	_, stderr, status = l.nxmit("run")
	if status != 0 || !strings.Contains(stderr, "nxmit: run peer: recovered after failing since ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("recovery: status %d, stderr %q", status, stderr)
	}
	if m := l.missing(l.mids); len(m) != 0 {
		t.Errorf("receiver lacks %d of %d", len(m), len(l.mids))
	}
	_ = mids
	if _, stderr, status := l.nxmit("run"); status != 0 || stderr != "" {
		t.Errorf("after recovery: status %d, stderr %q", status, stderr)
	}
	if _, err := os.Stat(filepath.Join(l.sender.Outgoing, "peer.lastrun")); err != nil {
		t.Error(err)
	}
}

// TestHold: 'nxmit hold' and "hold: yes" pause sending (run still rotates), status
// says so, 'nxmit release' resumes.
func TestHold(t *testing.T) {
	l := newOpLab(t)
	conf := "site peer {\n host: 127.0.0.1\n port: %d\n rotate-min-size: 0\n rotate-max-age: 0\n%s}\n"
	l.writeConfig(fmt.Sprintf(conf, l.receiver.Port, ""))
	mids := l.inject(20)
	if _, stderr, status := l.nxmit("hold", "peer", "peer", "migrating"); status != 0 || stderr != "" {
		t.Fatalf("hold: %d %q", status, stderr)
	}
	_, stderr, status := l.nxmit("-v", "run")
	if status != 0 || !strings.Contains(stderr, "run peer: send: held (held by ") {
		t.Errorf("held run: %d %q", status, stderr)
	}
	if l.backlogCount("peer") != 1 || len(l.missing(mids)) != len(mids) {
		t.Errorf("held site: rotated %d backlogs, sent %d", l.backlogCount("peer"), len(mids)-len(l.missing(mids)))
	}
	if stdout, _, _ := l.nxmit("status"); !strings.Contains(stdout, "held; ") || !strings.Contains(stdout, "migrating") {
		t.Errorf("status of a held site:\n%s", stdout)
	}
	if _, stderr, status := l.nxmit("send", "peer"); status != 0 || !strings.Contains(stderr, "'nxmit release peer' resumes sending") {
		t.Errorf("send of a held site: %d %q", status, stderr)
	}
	if _, stderr, status := l.nxmit("unhold", "peer"); status != 0 || stderr != "" {
		t.Errorf("unhold: %d %q", status, stderr)
	}
	// hold: yes in nxmit.conf holds it until the line goes.
	l.writeConfig(fmt.Sprintf(conf, l.receiver.Port, " hold: yes\n"))
	if _, stderr, _ := l.nxmit("send", "peer"); !strings.Contains(stderr, "nxmit.conf:6); remove it to resume sending") {
		t.Errorf("send, hold: yes: %q", stderr)
	}
	if _, stderr, status := l.nxmit("release", "peer"); status != 1 || !strings.Contains(stderr, "still held by hold: yes in ") {
		t.Errorf("release, hold: yes: %d %q", status, stderr)
	}
	l.writeConfig(fmt.Sprintf(conf, l.receiver.Port, ""))
	if _, stderr, status := l.nxmit("run"); status != 0 || stderr != "" {
		t.Errorf("released run: %d %q", status, stderr)
	}
	if m := l.missing(mids); len(m) != 0 {
		t.Errorf("after release the receiver lacks %d", len(m))
	}
}
