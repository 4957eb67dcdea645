package batch

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMergeCrashHelper is the child process of TestMergeCrash: it merges with Remove and
// kills itself with SIGKILL at the requested step.
func TestMergeCrashHelper(t *testing.T) {
	spec := os.Getenv("NXMIT_MERGE_CRASH")
	if spec == "" {
		t.Skip("helper process for TestMergeCrash")
	}
	stage, nth, _ := strings.Cut(spec, ":")
	want, _ := strconv.Atoi(nth)
	seen := 0
	crashEvery = 1000
	crashHook = func(s string) {
		if s == stage {
			if seen++; seen == want {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	q := Queue{Dir: os.Getenv("NXMIT_MERGE_DIR"), Site: "peer"}
	inputs := strings.Split(os.Getenv("NXMIT_MERGE_INPUTS"), "\n")
	if _, err := q.Merge(MergeOptions{Inputs: inputs, Remove: true, Compress: os.Getenv("NXMIT_MERGE_ZSTD") != ""}); err != nil {
		t.Fatal(err)
	}
	os.Exit(3) // not killed: the stage was never reached
}

// A merge killed (kill -9) at any step leaves either its inputs intact and no backlog, or
// the backlog complete; the next merge (its recovery) then finishes without losing or
// duplicating a line.
func TestMergeCrash(t *testing.T) {
	stages := []struct {
		spec      string
		installed bool
	}{
		{"writing:1", false},
		{"writing:2", false}, // after 1000 lines
		{"written:1", false},
		{"journaled:1", false},
		{"installed:1", true},
		{"removing:1", true},
		{"removing:2", true}, // one input already removed
	}
	for _, zst := range []bool{false, true} {
		for _, st := range stages {
			name := st.spec
			if zst {
				name += "/zstd"
			}
			t.Run(name, func(t *testing.T) {
				q := mqQueue(t)
				dir := t.TempDir()
				// Three inputs overlapping by 100 lines, 5000 distinct lines.
				in := []string{
					mqWrite(t, filepath.Join(dir, "a"), mqLineRange(1, 3000)...),
					mqWrite(t, filepath.Join(dir, "b"), mqLineRange(2901, 4000)...),
					mqWrite(t, filepath.Join(dir, "c"), mqLineRange(3901, 5000)...),
				}
				orig := map[string][]string{}
				for _, p := range in {
					orig[p] = mqFileLines(t, p)
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestMergeCrashHelper$", "-test.count=1")
				cmd.Env = append(os.Environ(), "NXMIT_MERGE_CRASH="+st.spec, "NXMIT_MERGE_DIR="+q.Dir,
					"NXMIT_MERGE_INPUTS="+strings.Join(in, "\n"))
				if zst {
					cmd.Env = append(cmd.Env, "NXMIT_MERGE_ZSTD=1")
				}
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("helper was not killed: %v\n%s", err, out)
				}

				want := mqLineRange(1, 5000)
				queued := mqBacklogLines(t, q)
				if st.installed {
					if !slices.Equal(queued, want) {
						t.Fatalf("installed backlog incomplete: %d lines", len(queued))
					}
				} else {
					if len(queued) != 0 {
						t.Fatalf("backlog installed before the commit point: %d lines", len(queued))
					}
					for _, p := range in {
						if got := mqFileLines(t, p); !slices.Equal(got, orig[p]) {
							t.Fatalf("input %s changed", p)
						}
					}
				}

				// The next merge recovers first; with the inputs gone, RecoverMerge alone.
				if _, err := q.RecoverMerge(); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{q.MergeTempPath(), q.MergeJournalPath(), q.MergeJournalPath() + TempSuffix} {
					if mqExists(p) {
						t.Errorf("%s left after recovery", filepath.Base(p))
					}
				}
				var left []string
				for _, p := range in {
					if mqExists(p) {
						left = append(left, p)
					}
				}
				if st.installed && len(left) > 0 {
					t.Fatalf("inputs %q not removed by recovery: their lines would be queued twice", left)
				}
				if !st.installed {
					if len(left) != len(in) {
						t.Fatalf("inputs removed though the backlog was not installed: left %q", left)
					}
					if _, err := q.Merge(MergeOptions{Inputs: left, Remove: true}); err != nil {
						t.Fatal(err)
					}
				}
				if got := mqBacklogLines(t, q); !slices.Equal(got, want) {
					t.Fatalf("final queue: %d lines, want %d exactly once", len(got), len(want))
				}
				for _, p := range in {
					if mqExists(p) {
						t.Errorf("input %s left", p)
					}
				}
			})
		}
	}
}
