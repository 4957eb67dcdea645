package innlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// ErrUnavailable is wrapped by the errors of Ensure and Require when INN
// cannot be made available here (not installed and not root, install
// failed, or no way to run programs as user news).
var ErrUnavailable = errors.New("innlab: INN unavailable")

// required are the programs and files the harness uses.
var required = []string{
	"innd", "ctlinnd", "makedbz", "grephistory", "sm", "innxmit", "innconfval",
}

// installed reports what is missing for the harness, or "" if nothing.
func installed() string {
	for _, p := range required {
		if fi, err := os.Stat(filepath.Join(Binaries(), p)); err != nil || fi.Mode()&0o111 == 0 {
			return filepath.Join(Binaries(), p)
		}
	}
	for _, f := range []string{"active", "newsgroups"} {
		if _, err := os.Stat(filepath.Join(examplesDir, f)); err != nil {
			return filepath.Join(examplesDir, f)
		}
	}
	return ""
}

var ensure = sync.OnceValue(doEnsure)

// Ensure makes sure Debian's inn2 is installed. When it is missing and the
// process runs as root, it installs it with apt-get (running `apt-get
// update` first) and repairs the postinst failure of machines whose host name
// has no domain. It never starts or changes the system's own news server
// otherwise. The result is remembered for the life of the process; concurrent
// processes (parallel test binaries) serialize on a lock file.
func Ensure() error { return ensure() }

func doEnsure() error {
	if installed() == "" {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s missing and not root, so inn2 cannot be installed", ErrUnavailable, installed())
	}
	lock, err := lockFileWait(filepath.Join(os.TempDir(), "innlab-install.lock"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer lock.Close()
	if installed() == "" { // another process did it
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%w: %s missing and no apt-get", ErrUnavailable, installed())
	}
	var log bytes.Buffer
	run := func(name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = &log, &log
		fmt.Fprintf(&log, "$ %s %s\n", name, strings.Join(args, " "))
		return cmd.Run()
	}
	if err := run("apt-get", "update"); err != nil {
		return fmt.Errorf("%w: apt-get update: %v\n%s", ErrUnavailable, err, tail(log.Bytes()))
	}
	installErr := run("apt-get", "install", "-y", "-o", "Dpkg::Options::=--force-confold", "inn2")
	if installErr != nil {
		// The postinst runs innconfval, which fails when the host name has no
		// domain and inn.conf sets none. The package's own inn.conf exists by
		// now (creating it before the install makes dpkg ask about the
		// conffile), so add a domain and finish configuring.
		if err := addDomain("/etc/news/inn.conf"); err != nil {
			return fmt.Errorf("%w: apt-get install inn2: %v; %v\n%s", ErrUnavailable, installErr, err, tail(log.Bytes()))
		}
		if err := run("dpkg", "--configure", "-a", "--force-confold"); err != nil {
			return fmt.Errorf("%w: apt-get install inn2: %v; dpkg --configure -a: %v\n%s", ErrUnavailable, installErr, err, tail(log.Bytes()))
		}
	}
	if m := installed(); m != "" {
		return fmt.Errorf("%w: %s still missing after installing inn2\n%s", ErrUnavailable, m, tail(log.Bytes()))
	}
	return nil
}

var domainLine = regexp.MustCompile(`(?m)^[ \t]*domain[ \t]*:`)

// addDomain appends "domain: lab.test" to inn.conf unless it has an
// uncommented domain line.
func addDomain(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if domainLine.Match(data) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	prefix := ""
	if len(data) > 0 && data[len(data)-1] != '\n' {
		prefix = "\n"
	}
	if _, err := fmt.Fprintf(f, "%sdomain: lab.test\n", prefix); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func tail(b []byte) []byte {
	if len(b) > 3000 {
		return b[len(b)-3000:]
	}
	return b
}

// checkPrivileges reports whether INN programs can be run as user news:
// either we are root (and have setpriv) or we are news.
func checkPrivileges() error {
	ids, err := newsIDs()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	switch os.Geteuid() {
	case 0:
		if _, err := os.Stat(setprivPath); err != nil {
			return fmt.Errorf("%w: need %s to run innd as news: %v", ErrUnavailable, setprivPath, err)
		}
		return nil
	case ids[0]:
		if os.Getegid() != ids[1] {
			return fmt.Errorf("%w: running as user news but not group news", ErrUnavailable)
		}
		return nil
	}
	return fmt.Errorf("%w: must run as root or as user news (innd refuses any other user)", ErrUnavailable)
}

// Require makes sure INN sandboxes can run here (Ensure, and root or user
// news). Otherwise it ends the test: with t.Fatal when the environment
// variable CI is set (a CI run must not silently skip the real-INN tests),
// with t.Skip elsewhere.
func Require(t testing.TB) {
	t.Helper()
	err := Ensure()
	if err == nil {
		err = checkPrivileges()
	}
	if err == nil {
		return
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
		t.Fatalf("CI=%s: %v", ci, err)
	}
	t.Skip(err)
}

// lockFile opens (creating) path and takes an exclusive flock without
// waiting. The lock lasts until the file is closed or the process ends.
func lockFile(path string) (*os.File, error) {
	return flock(path, syscall.LOCK_EX|syscall.LOCK_NB)
}

// lockFileWait is lockFile but waits for the lock.
func lockFileWait(path string) (*os.File, error) {
	return flock(path, syscall.LOCK_EX)
}

func flock(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
