package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"nxmit/batch"
	"nxmit/internal/bench"
	"nxmit/internal/innlab"
	"nxmit/linefilter"
	"nxmit/nntp"
	"nxmit/spoolfmt"
	"nxmit/xmit"
)

// profileSendCmd is the hidden first argument under which benchrun re-executes itself to
// run one send pass with nxmit's own code (xmit.Send, wired as commands/send.go wires
// it) under the CPU profiler: in a process of its own, so the profile holds the sender
// and nothing else (the sink lives in the parent).
const profileSendCmd = "profile-send"

func profileSendMain(args []string) error {
	fs := flag.NewFlagSet(profileSendCmd, flag.ContinueOnError)
	innconf := fs.String("innconf", "", "sender's inn.conf")
	outgoing := fs.String("outgoing", "", "outgoing directory holding peer.B.*")
	addr := fs.String("addr", "", "peer address")
	conns := fs.Int("c", 4, "connections")
	window := fs.Int("w", nntp.DefaultWindow, "window")
	cpu := fs.String("cpuprofile", "", "CPU profile file")
	heap := fs.String("heapprofile", "", "heap profile file (at the end of the pass)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conf, err := spoolfmt.LoadInnConf(*innconf)
	if err != nil {
		return err
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		return err
	}
	defer store.Close()
	opt := xmit.Options{
		Queue:       batch.Queue{Dir: *outgoing, Site: "peer"},
		Store:       store,
		Addr:        *addr,
		Dial:        nntp.Config{DialTimeout: 30 * time.Second, ReplyTimeout: 2 * time.Minute},
		Connections: *conns,
		Stream:      nntp.StreamConfig{Window: *window, Mode: nntp.Adaptive},
		Warn:        func(msg string) { fmt.Fprintln(os.Stderr, "send:", msg) },
	}
	f, err := os.Create(*cpu)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	st, err := xmit.Send(context.Background(), opt)
	pprof.StopCPUProfile()
	if cerr := f.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if *heap != "" {
		h, herr := os.Create(*heap)
		if herr == nil {
			runtime.GC()
			pprof.WriteHeapProfile(h)
			h.Close()
		}
	}
	host, _, _ := strings.Cut(*addr, ":")
	fmt.Fprintln(os.Stderr, st.StatsLine(host))
	fmt.Fprintln(os.Stderr, st.TimesLine(host))
	fmt.Fprintln(os.Stderr, st.DetailLine(host))
	return err
}

// profileResult is the top of one scenario's CPU profile.
type profileResult struct {
	Scenario string
	File     string
	Stats    string // the pass's stats and times lines
	Top      string // go tool pprof -top
}

// profiles runs one profiled send per sink scenario and per real-innd scenario and keeps
// the top of each profile for the report.
func (l *lab) profiles(ctx context.Context) error {
	if err := os.MkdirAll(l.c.profile, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, sc := range l.scenarios() {
		if sc.peer == peerDelay || sc.peer == peerDelay2 || sc.peer == peerTLS || sc.batch == l.large || !l.c.want(sc.name) {
			continue
		}
		r, err := l.profileOne(ctx, self, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		l.profiled = append(l.profiled, r)
	}
	return nil
}

func (l *lab) profileOne(ctx context.Context, self string, sc scenario) (profileResult, error) {
	// One pass of 20,000 small articles lasts half a second: profile every round and
	// merge the profiles for enough samples.
	var cpus []string
	var stats []string
	for round := 1; round <= l.c.rounds; round++ {
		cpu := filepath.Join(l.c.profile, fmt.Sprintf("%s.%d.cpu.pprof", sc.name, round))
		heap := filepath.Join(l.c.profile, fmt.Sprintf("%s.%d.heap.pprof", sc.name, round))
		st, err := l.profileRun(ctx, self, sc, cpu, heap)
		if err != nil {
			return profileResult{}, err
		}
		cpus = append(cpus, cpu)
		stats = append(stats, st)
	}
	var tops []string
	for _, extra := range [][]string{nil, {"-cum"}} {
		args := append([]string{"tool", "pprof", "-top", "-nodecount=30"}, extra...)
		out, err := exec.CommandContext(ctx, "go", append(args, cpus...)...).Output()
		if err != nil {
			return profileResult{}, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
		tops = append(tops, trimPprofHeader(string(out)))
	}
	return profileResult{Scenario: "nxmit's send pass, " + sc.title, File: strings.Join(cpus, " "), Stats: strings.Join(stats, "\n"),
		Top: strings.Join(tops, "\n\n")}, nil
}

// trimPprofHeader drops pprof's File, Build ID, Type and Time lines.
func trimPprofHeader(s string) string {
	var keep []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		switch {
		case strings.HasPrefix(line, "File: "), strings.HasPrefix(line, "Build ID: "),
			strings.HasPrefix(line, "Type: "), strings.HasPrefix(line, "Time: "):
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// profileRun runs one profiled send pass of the scenario's batch and returns its stats
// and times lines.
func (l *lab) profileRun(ctx context.Context, self string, sc scenario, cpu, heap string) (string, error) {
	dir := filepath.Join(l.work, "profile-"+sc.name)
	out := filepath.Join(dir, "outgoing")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := copyFile(sc.batch.path, filepath.Join(out, fmt.Sprintf("peer.B.%08x", time.Now().Unix())), nil); err != nil {
		return "", err
	}
	port := 0
	switch sc.peer {
	case peerSink:
		port = l.sink.port
	case peerInnd:
		l.recvN++
		recv, err := innlab.Start(filepath.Join(l.work, fmt.Sprintf("recv%d", l.recvN)), innlab.Options{})
		if err != nil {
			return "", err
		}
		defer func() {
			recv.Stop()
			os.RemoveAll(recv.Dir)
		}()
		port = recv.Port
	}
	logf("profiling nxmit's send pass in %s", sc.name)
	cmd := exec.Command(self, profileSendCmd, "-innconf", l.sender.InnConf, "-outgoing", out,
		"-addr", "127.0.0.1:"+strconv.Itoa(port), "-cpuprofile", cpu, "-heapprofile", heap)
	o, err := l.measureTool(ctx, cmd)
	if err != nil {
		return "", err
	}
	st, perr := bench.ParseXmitStats(o.Stderr)
	if o.ExitCode != 0 || perr != nil || st.Accepted != int64(sc.batch.lines) {
		return "", fmt.Errorf("%w: profiled send: exit %d:\n%s", errCheck, o.ExitCode, clip(o.Combined()))
	}
	var lines []string
	for _, line := range strings.Split(string(o.Stderr), "\n") {
		if strings.Contains(line, " stats offered ") || strings.Contains(line, " times user ") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return strings.Join(lines, "\n"), nil
}

// profileFilterCmd re-executes benchrun to run nxmit's filter --dedupe (linefilter, wired
// as commands/filter.go wires it) from standard input to /dev/null under the profiler.
const profileFilterCmd = "profile-filter"

func profileFilterMain(args []string) error {
	fs := flag.NewFlagSet(profileFilterCmd, flag.ContinueOnError)
	cpu := fs.String("cpuprofile", "", "CPU profile file")
	heap := fs.String("heapprofile", "", "heap profile file (at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	flt, err := linefilter.New(linefilter.Options{Dedupe: true, Warn: func(err error) { fmt.Fprintln(os.Stderr, err) }})
	if err != nil {
		return err
	}
	f, err := os.Create(*cpu)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	err = flt.Filter(null, os.Stdin, "-")
	pprof.StopCPUProfile()
	if cerr := f.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if *heap != "" {
		if h, herr := os.Create(*heap); herr == nil {
			pprof.WriteHeapProfile(h)
			h.Close()
		}
	}
	fmt.Fprintln(os.Stderr, flt.Stats())
	return err
}

// profileCommand runs a re-executed benchrun under the profiler (the command writes
// cpu), then keeps pprof's top for the report.
func (l *lab) profileCommand(ctx context.Context, title string, cmd *exec.Cmd, cpu string) error {
	logf("profiling %s", title)
	o, err := l.measureTool(ctx, cmd)
	if err != nil {
		return err
	}
	if o.ExitCode != 0 {
		return fmt.Errorf("%w: profiled %s: exit %d:\n%s", errCheck, title, o.ExitCode, clip(o.Combined()))
	}
	var tops []string
	for _, extra := range [][]string{nil, {"-cum"}} {
		args := append([]string{"tool", "pprof", "-top", "-nodecount=30"}, extra...)
		out, err := exec.CommandContext(ctx, "go", append(args, cpu)...).Output()
		if err != nil {
			return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
		tops = append(tops, trimPprofHeader(string(out)))
	}
	var stats []string
	for _, line := range strings.Split(string(o.Stderr), "\n") {
		if strings.Contains(line, " stats offered ") || strings.Contains(line, " times user ") || strings.Contains(line, " lines, ") {
			stats = append(stats, strings.TrimSpace(line))
		}
	}
	l.profiled = append(l.profiled, profileResult{Scenario: title, File: cpu, Stats: strings.Join(stats, "\n"), Top: strings.Join(tops, "\n\n")})
	return nil
}
