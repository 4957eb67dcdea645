package commands

import (
	"fmt"
	"os"
	"time"

	"nxmit/batch"
	"nxmit/xmit"
)

// logStats records a pass's statistics in innxmit's formats, so innreport counts nxmit:
// to --log-file when given, and on stderr with -v.
func (g *Globals) logStats(host string, st xmit.Stats) {
	lines := []string{st.StatsLine(host), st.TimesLine(host), st.DetailLine(host)}
	if g.LogFile != "" {
		if f, err := os.OpenFile(g.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			stamp := time.Now().Format(time.Stamp)
			for _, l := range lines {
				fmt.Fprintf(f, "%s %s %s[%d]: %s\n", stamp, hostname(), g.LogIdent, os.Getpid(), l)
			}
			f.Close()
		} else {
			fmt.Fprintf(os.Stderr, "nxmit: log: %v\n", err)
		}
	}
	if g.Verbose {
		for _, l := range lines {
			fmt.Fprintln(os.Stderr, l)
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// progress reports long interactive work. (Plain counter until the progress bar lands.)
type progress struct{ done int64 }

func newProgress(g *Globals, what string, q batch.Queue) *progress { return &progress{} }

func (p *progress) add(n int64) { p.done += n }
func (p *progress) finish()     {}
