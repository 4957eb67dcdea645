package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"nxmit/batch"
	"nxmit/config"
	"nxmit/innctl"
	"nxmit/logging"
)

// RotateCmd turns sites' live feed files into backlogs. Options not given come from the
// site's block in nxmit.conf, then the built-in defaults.
type RotateCmd struct {
	Sites        []string       `arg:"" name:"site" help:"Sites (their newsfeeds names) whose feed files are rotated."`
	MinSize      *rotateSize    `help:"Rotate a feed file once it has this many bytes (suffixes k, M, G: powers of 1024; default: nxmit.conf's rotate-min-size, else ${default_rotate_min_size})." placeholder:"SIZE" setting:"rotate-min-size"`
	MaxAge       *time.Duration `help:"...or once it is this old, since innd created it; keep it a little under the cron interval (default: nxmit.conf's rotate-max-age, else ${default_rotate_max_age})." placeholder:"DUR" setting:"rotate-max-age"`
	Force        bool           `short:"f" help:"Rotate any non-empty feed file now, whatever its size and age."`
	Compress     *bool          `help:"Write the backlog zstd-compressed, S.B.<hex>.zst (default: nxmit.conf's compress)." negatable:"" setting:"compress"`
	Flush        *string        `help:"How to ask innd to flush: ctlinnd (run INN's program) or icc (speak innd's control socket natively) (default: nxmit.conf, else ctlinnd)." enum:"ctlinnd,icc" placeholder:"HOW" global:"flush"`
	Ctlinnd      *string        `help:"The ctlinnd program (default: nxmit.conf, else inn.conf's pathbin/ctlinnd, else /usr/sbin/ctlinnd)." placeholder:"PATH" global:"ctlinnd"`
	FlushTimeout *time.Duration `help:"How long to wait for innd's answer to the flush, ctlinnd -t (default: nxmit.conf, else ${default_flush_timeout})." placeholder:"DUR" global:"flush-timeout"`
}

// Help is shown under the subcommand's usage.
func (c *RotateCmd) Help() string {
	return `For each site, under the lock S.queue.lock: if a rotation was interrupted (a crash of
nxmit, ctlinnd or innd), it is finished first; otherwise, when the feed file S that innd
writes is big or old enough, it is hard-linked to S.rotating and unlinked, innd is told
to flush the site (ctlinnd -s -t T flush S) so that it finishes that file and starts a
new S, and S.rotating is installed as the backlog S.B.<hex>. Nothing is lost or
duplicated whatever dies when. A partial last line (innd's short write) is dropped with
a warning that shows it. If innd has no such site (removed from newsfeeds), the file is
installed as it is, with a warning.

Nothing is printed on success; -v prints a line per site.

Exit status: 0 done (or nothing to do), 1 error (e.g. outgoing directory not writable,
ctlinnd missing), 75 lock held or flush failed (the files are left as they are and the
next run retries). With several sites, every site is handled and the worst status wins.`
}

// Run rotates every site given.
func (c *RotateCmd) Run(g *Globals) error {
	if err := g.dropRoot(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	layer, err := c.settings()
	if err != nil {
		return err
	}
	conf, err := c.siteConfig(g)
	if err != nil {
		return err
	}
	if conf, err = flagGlobals(conf, c); err != nil {
		return err
	}
	flusher, err := newFlusher(g, conf)
	if err != nil {
		return err
	}
	for _, site := range c.Sites {
		if err := batch.SiteNameError(site); err != nil {
			continue // reported below, with the site's name
		}
		if err := knownSites(g, []string{site}, conf); err != nil {
			return err
		}
	}
	worst := ExitOK
	for _, site := range c.Sites {
		if err := c.rotate(ctx, g, site, layer, flusher); err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "site "+site+":") {
				msg = "site " + site + ": " + msg
			}
			fmt.Fprintf(os.Stderr, "nxmit: rotate: %s\n", msg)
			worst = worseStatus(worst, Status(err))
		}
	}
	return worstStatus(worst)
}

// settings returns the command line's layer of settings; --force is a minimum size
// and age of 0.
func (c *RotateCmd) settings() (config.Settings, error) {
	layer, err := flagSettings(c)
	if err == nil && c.Force {
		layer = layer.Merge(forceRotation())
	}
	return layer, err
}

// forceRotation is the settings layer of --force: any non-empty feed file rotates.
func forceRotation() config.Settings {
	var s config.Settings
	s.Set("rotate-min-size", "0", 0)
	s.Set("rotate-max-age", "0", 0)
	return s
}

// siteConfig returns nxmit.conf, or nil when there is none to read: no --config and no
// inn.conf to find it by (rotate works with --outgoing and --ctlinnd alone).
func (c *RotateCmd) siteConfig(g *Globals) (*config.Config, error) {
	if g.Config == "" {
		if _, err := g.InnConf(); err != nil {
			return nil, nil
		}
	}
	return g.SiteConfig()
}

// rotateOptions are a site's rotation settings as batch takes them.
func rotateOptions(s config.Settings) batch.RotateOptions {
	return batch.RotateOptions{MinSize: s.RotateMinSize, MaxAge: s.RotateMaxAge, Compress: s.Compress}
}

func (c *RotateCmd) rotate(ctx context.Context, g *Globals, site string, layer config.Settings, flusher innctl.Flusher) error {
	q, s, err := siteQueue(g, site)
	if err != nil {
		return err
	}
	opt := rotateOptions(s.Merge(layer))
	opt.Flusher = flusher
	opt.Command = "nxmit rotate " + site
	opt.Warn = func(msg string) { fmt.Fprintf(os.Stderr, "nxmit: rotate %s: %s\n", site, msg) }
	res, err := q.Rotate(ctx, opt)
	if err == nil && res.Backlog != "" {
		g.logger().LogAs(detailIdent, logging.Info, site+" rotate: "+rotateSummary(res, opt))
	}
	if err == nil && g.Verbose {
		fmt.Fprintf(os.Stderr, "rotate %s: %s\n", site, rotateSummary(res, opt))
	}
	return err
}

// rotateSummary describes a site's rotation in one line for -v (rotate and run): what
// was installed, or why nothing was.
func rotateSummary(res batch.RotateResult, opt batch.RotateOptions) string {
	var parts []string
	if res.Recovered != batch.StateIdle {
		parts = append(parts, "finished an interrupted rotation ("+res.Recovered.Describe()+")")
	}
	switch {
	case res.Backlog != "":
		s := fmt.Sprintf("installed %s", filepath.Base(res.Backlog))
		if res.Bytes > 0 {
			s += fmt.Sprintf(": %d lines, %d bytes", res.Lines, res.Bytes)
		}
		parts = append(parts, s)
	case res.Rotated || res.Recovered != batch.StateIdle:
		parts = append(parts, "no complete line to install")
	default:
		parts = append(parts, opt.Waiting(res.FeedSize, res.FeedAge))
	}
	if res.Partial > 0 {
		parts = append(parts, "dropped a partial last line")
	}
	if res.NoSuchSite {
		parts = append(parts, "innd has no such site")
	}
	return strings.Join(parts, "; ")
}

// newFlusher builds the way rotation flushes innd from conf's flush ("" is ctlinnd),
// ctlinnd ("": inn.conf's pathbin/ctlinnd, else /usr/sbin/ctlinnd) and flush-timeout
// (0: innctl.DefaultTimeout), the command line's flags already set over the file's.
func newFlusher(g *Globals, conf *config.Config) (innctl.Flusher, error) {
	timeout := conf.FlushTimeout
	if timeout <= 0 {
		timeout = innctl.DefaultTimeout
	}
	if conf.Flush == "icc" {
		ic, err := g.InnConf()
		if err != nil {
			return nil, fmt.Errorf("rotate --flush=icc needs inn.conf's pathrun: %w", err)
		}
		return innctl.ICC{PathRun: ic.PathRun, Timeout: timeout}, nil
	}
	ic, icErr := g.InnConf()
	path := conf.Ctlinnd
	if path == "" {
		path = innctl.SystemCtlinnd
		if icErr == nil {
			path = innctl.CtlinndPath(ic.PathBin)
		}
	}
	cmd := innctl.Command{Path: path, Timeout: timeout}
	if icErr == nil && ic.Path != "" {
		// ctlinnd finds innd through inn.conf: the one nxmit was told to use.
		cmd.Env = append(withoutEnv(os.Environ(), "INNCONF"), "INNCONF="+ic.Path)
	}
	return cmd, nil
}

func withoutEnv(env []string, key string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// rotateSize is a byte count given as N, Nk, NM or NG (powers of 1024), as nxmit.conf
// and INN's shrinkfile take them.
type rotateSize int64

// UnmarshalText parses a size.
func (s *rotateSize) UnmarshalText(b []byte) error {
	v, err := config.ParseSize(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*s = rotateSize(v)
	return nil
}
