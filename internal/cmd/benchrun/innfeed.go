package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"nxmit/internal/bench"
	"nxmit/nntp"
)

// innfeedStartSleep is innfeed's initial-sleep (default 2 s): it waits this long at
// start-up before it opens a connection. It is taken off its wall time.
const innfeedStartSleep = 2 * time.Second

// innfeedPeer names the peer in innfeed.conf: innfeed refuses "peer", nxmit's name.
const innfeedPeer = "bench"

// runInnfeed runs INN's innfeed in batch mode (-x) as news on a copy of the batch, placed
// as the peer's backlog input file; innfeed sends it and exits. Its settings match nxmit's
// defaults: as many connections (initial-connections = max-connections, no dynamic
// method), and its queue (the articles in flight per connection) = nxmit's window cap.
func (l *lab) runInnfeed(ctx context.Context, b *batchSet, port int, dir string) (bench.Sample, error) {
	if err := os.Chown(dir, l.news.uid, l.news.gid); err != nil {
		return bench.Sample{}, err
	}
	backlog := filepath.Join(dir, "backlog")
	if err := os.Mkdir(backlog, 0o755); err != nil {
		return bench.Sample{}, err
	}
	if err := os.Chown(backlog, l.news.uid, l.news.gid); err != nil {
		return bench.Sample{}, err
	}
	if err := copyFile(b.path, filepath.Join(backlog, innfeedPeer+".input"), &l.news); err != nil {
		return bench.Sample{}, err
	}
	conns := 4
	conf := fmt.Sprintf(`# benchrun: innfeed matched to nxmit's defaults
backlog-directory: %[1]s
pid-file: %[2]s/innfeed.pid
status-file: %[2]s/innfeed.status
log-file: %[2]s/innfeed.log
peer %[3]s {
	ip-name: 127.0.0.1
	port-number: %[4]d
	initial-connections: %[5]d
	max-connections: %[5]d
	dynamic-method: 0
	max-queue-size: %[6]d
	streaming: true
}
`, backlog, dir, innfeedPeer, port, conns, nntp.DefaultWindow)
	confPath := filepath.Join(dir, "innfeed.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return bench.Sample{}, err
	}
	cmd := l.sender.Command("innfeed", "-x", "-c", confPath)
	o, err := bench.Measure(ctx, cmd)
	if err != nil {
		return bench.Sample{}, err
	}
	if o.ExitCode != 0 {
		return bench.Sample{}, fmt.Errorf("%w: innfeed: exit status %d:\n%s", errCheck, o.ExitCode, clip(o.Combined()))
	}
	// What innfeed could not send it writes to the .output backlog; nothing may be left.
	for _, name := range []string{innfeedPeer + ".input", innfeedPeer + ".output", innfeedPeer} {
		if fi, err := os.Stat(filepath.Join(backlog, name)); err == nil && fi.Size() > 0 && lineCount(filepath.Join(backlog, name)) > 0 {
			log, _ := os.ReadFile(filepath.Join(dir, "innfeed.log"))
			return bench.Sample{}, fmt.Errorf("%w: innfeed left %s with lines in it:\n%s", errCheck, name, clip(append(o.Combined(), log...)))
		}
	}
	wall := o.Wall - innfeedStartSleep
	return bench.Sample{
		Articles: int64(b.lines), Bytes: b.wireBytes, Elapsed: wall,
		Wall: wall, CPU: o.CPU(), RSSKiB: o.MaxRSSKiB,
	}, nil
}

// lineCount counts the lines of a file that are not blank (innfeed blanks nothing, but
// rewrites its .input file as it checkpoints).
func lineCount(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}
