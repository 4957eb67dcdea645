package commands

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"nxmit/config"
)

// parseArgs parses a command line as main does.
func parseArgs(t *testing.T, args ...string) (*CLI, *kong.Context, error) {
	t.Helper()
	var cli CLI
	parser, err := kong.New(&cli, KongOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := parser.Parse(args)
	return &cli, ctx, err
}

// TestDurationFlags: every duration flag takes config.ParseDuration's syntax, the one
// of nxmit.conf: a plain number is seconds (innxmit's habit), units s, m, h, d.
func TestDurationFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		key  string
		want time.Duration
	}{
		{[]string{"send", "x", "-T", "30"}, "max-time", 30 * time.Second},
		{[]string{"send", "x", "--connect-timeout", "1m"}, "connect-timeout", time.Minute},
		{[]string{"run", "--retry-delay", "600"}, "retry-delay", 10 * time.Minute},
		{[]string{"run", "--rotate-max-age", "1d"}, "rotate-max-age", 24 * time.Hour},
		{[]string{"requeue", "x", "--retry-delay", "1h30m"}, "retry-delay", 90 * time.Minute},
		{[]string{"rotate", "x", "--max-age", "240"}, "rotate-max-age", 4 * time.Minute},
	} {
		s, err := cmdFlags(t, c.args...)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		var got time.Duration
		switch c.key {
		case "max-time":
			got = s.MaxTime
		case "connect-timeout":
			got = s.ConnectTimeout
		case "retry-delay":
			got = s.RetryDelay
		case "rotate-max-age":
			got = s.RotateMaxAge
		}
		if !s.IsSet(c.key) || got != c.want {
			t.Errorf("%q: %s = %v (set %v), want %v", c.args, c.key, got, s.IsSet(c.key), c.want)
		}
	}
	// The global ones: run's --run-time is nxmit.conf's max-time.
	cli, _, err := parseArgs(t, "run", "--run-time", "240", "--flush-timeout", "1m")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := flagGlobals(&config.Config{MaxTime: time.Hour}, &cli.Run)
	if err != nil || conf.MaxTime != 4*time.Minute || conf.FlushTimeout != time.Minute {
		t.Errorf("run globals: max-time %v, flush-timeout %v, %v", conf.MaxTime, conf.FlushTimeout, err)
	}
	// And the same refusals as the file's.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "x", "-T", "soon"}, `--max-time: "soon" is not a duration (seconds, or with units s, m, h, d`},
		{[]string{"run", "--retry-delay=-5m"}, "--retry-delay: -5m is negative"},
	} {
		_, _, err := parseArgs(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--max-connections", "0"}, "--max-connections: 0 is out of range (1 to 1024)"},
		{[]string{"rotate", "x", "--flush-timeout", "0"}, "--flush-timeout: must be more than 0"},
	} {
		cli, ctx, err := parseArgs(t, c.args...)
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		_ = cli
		_, err = flagGlobals(nil, ctx.Selected().Target.Addr().Interface())
		var usage *UsageError
		if !errors.As(err, &usage) || err.Error() != c.want {
			t.Errorf("%q: %v, want usage error %q", c.args, err, c.want)
		}
	}
}

// TestInnxmitHabitErrors: a flag that fails to parse because innxmit spells it
// differently is explained in nxmit's terms, not with kong's raw message.
func TestInnxmitHabitErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "x", "-c", "EOL"}, "-c is --connections N here (parallel connections); innxmit's -c, no CHECK, is --check=never"},
		{[]string{"send", "x", "-t", "30"}, "innxmit's -t (connect timeout in seconds) is --connect-timeout DUR here"},
		{[]string{"send", "-d", "x"}, "innxmit's -d (debug) is -v here"},
		{[]string{"send", "x", "-T", "EOL"}, "-T is --max-time DUR"},
	} {
		_, _, err := parseArgs(t, c.args...)
		if err == nil {
			t.Errorf("%q parsed", c.args)
			continue
		}
		if got := FlagError(c.args, err); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q: %q, want it to start %q", c.args, got, c.want)
		}
	}
	// Other errors keep kong's message.
	args := []string{"send", "x", "--window", "many"}
	_, _, err := parseArgs(t, args...)
	if got := FlagError(args, err); got != err.Error() {
		t.Errorf("%q: %q", args, got)
	}
}

// TestGlobalsLoadedOnce: kong initialises the Globals' cache (AfterApply) before the
// command runs, and run's goroutines share what it loaded without a race (go test
// -race).
func TestGlobalsLoadedOnce(t *testing.T) {
	g := siteEnv(t, "site a {\n  host: h\n}\n", "")
	cli, _, err := parseArgs(t, "--innconf", g.InnConfFile, "--log-file", t.TempDir()+"/log", "status")
	if err != nil {
		t.Fatal(err)
	}
	if cli.Globals.loaded == nil {
		t.Fatal("AfterApply did not initialise the Globals")
	}
	g = &cli.Globals
	done := make(chan *config.Config, 8)
	for range 8 {
		go func() {
			g.logger()
			c, err := g.SiteConfig()
			if err != nil {
				t.Error(err)
			}
			done <- c
		}()
	}
	first := <-done
	for range 7 {
		if c := <-done; c != first {
			t.Error("nxmit.conf read more than once")
		}
	}
}

// TestMissingInnConfHint: without inn.conf the message says how to name it (--innconf),
// not only how to do without it.
func TestMissingInnConfHint(t *testing.T) {
	g := &Globals{InnConfFile: t.TempDir() + "/inn.conf"}
	for what, f := range map[string]func() error{
		"SiteConfig":  func() error { _, err := g.SiteConfig(); return err },
		"OutgoingDir": func() error { _, err := g.OutgoingDir(); return err },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), "--innconf") {
			t.Errorf("%s: %v, want a hint naming --innconf", what, err)
		}
	}
}
