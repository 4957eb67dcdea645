package commands

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

const manFile = "../man/nxmit.8"

// TestManPageUpToDate fails when the committed man/nxmit.8 differs from what the
// command line generates. NXMIT_UPDATE_MAN=1 rewrites it.
func TestManPageUpToDate(t *testing.T) {
	var b bytes.Buffer
	if err := GenerateMan(&b); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("NXMIT_UPDATE_MAN") == "1" {
		if err := os.WriteFile(manFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(manFile)
	if err != nil || !bytes.Equal(old, b.Bytes()) {
		t.Errorf("%s is out of date with the command line: run\n\tNXMIT_UPDATE_MAN=1 go test ./commands -run TestManPageUpToDate\n(or: nxmit man > man/nxmit.8) and commit it", manFile)
	}
	// Every command and every flag of --help is in it.
	for _, want := range []string{`.SS "send <site> [flags]"`, `\fB\-\-run\-time\fR=\fIDUR\fR`, `\fB\-c\fR, \fB\-\-connections\fR=\fIN\fR`,
		`\fB\-\-innconf\fR=\fIFILE\fR`, `.SS "version [flags]"`, `.SH EXIT STATUS`} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("man page lacks %q", want)
		}
	}
	// man(1) renders it without warnings.
	if _, err := exec.LookPath("man"); err == nil {
		cmd := exec.Command("man", "--warnings", "-l", manFile)
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil || stderr.Len() > 0 || !bytes.Contains(out, []byte("NXMIT(8)")) {
			t.Errorf("man -l %s: %v\n%s", manFile, err, stderr.String())
		}
	}
}

// TestHelpVersion: "nxmit help CMD" is "nxmit CMD --help"; the global flags are listed
// once, in nxmit's own help, not in each command's; no flag shows an empty default;
// "nxmit version" and "--version" print the build's version.
func TestHelpVersion(t *testing.T) {
	bin := nxmitBinary(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("nxmit %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if a, b := run("help", "send"), run("send", "--help"); a != b {
		t.Errorf("nxmit help send differs from nxmit send --help:\n%s\n----\n%s", a, b)
	}
	top := run("help")
	if !strings.Contains(top, "--innconf=FILE") || !strings.Contains(top, "Commands:") {
		t.Errorf("nxmit help lacks the global flags or the commands:\n%s", top)
	}
	for _, cmd := range []string{"send", "rotate", "run", "requeue", "merge", "filter", "status"} {
		h := run(cmd, "--help")
		if strings.Contains(h, "--innconf=FILE") || !strings.Contains(h, "Global flags (see 'nxmit --help'): ") {
			t.Errorf("%s --help repeats the global flags or does not point at them:\n%s", cmd, h)
		}
		if strings.Contains(h, `=""`) {
			t.Errorf("%s --help shows an empty default:\n%s", cmd, h)
		}
	}
	// A mistyped command is a usage slip (2), as without "help", and says what to do.
	out, err := exec.Command(bin, "help", "sned").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitUsage || !strings.Contains(string(out), "'nxmit help' lists the commands") {
		t.Errorf("nxmit help sned: %v, %q; want exit %d and a pointer to 'nxmit help'", err, out, ExitUsage)
	}
	v := run("version")
	if !strings.HasPrefix(v, "nxmit ") || !strings.Contains(v, runtime.Version()) {
		t.Errorf("nxmit version: %q", v)
	}
	if f := run("--version"); f != v {
		t.Errorf("--version %q, version %q", f, v)
	}
}
