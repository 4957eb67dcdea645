package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/nntp/nntptest"
)

// TestPasswordsNeverShown: a password given in nxmit.conf or passwd.nntp appears in no
// output of nxmit (stderr, stdout, status --json, the statistics log, errors about the
// files themselves, check) nor in the argv or environment of the ctlinnd it runs; status
// and check warn
// when those files are readable by every user, and is quiet once they are not.
func TestPasswordsNeverShown(t *testing.T) {
	bin := nxmitBinary(t)
	s := newQTSpool(t)
	const confPass, passwdPass = "Sekr3t-conf", "Sekr3t-passwd"
	secrets := []string{confPass, passwdPass, "Second-half"}
	srv := nntptest.NewServer(t, nntptest.Script{User: "feeder", Pass: "not-what-we-send"})
	host, port, _ := strings.Cut(srv.Addr, ":")
	conf := filepath.Join(s.dir, "etc", "nxmit.conf")
	passwd := filepath.Join(s.dir, "etc", "passwd.nntp")
	logFile := filepath.Join(s.dir, "nxmit.log")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, 0o644)
	}
	write(conf, "log-file: "+logFile+"\nsite peer {\n  host: "+host+"\n  port: "+port+"\n  user: feeder\n  password: "+confPass+"\n}\n"+
		"site leaf {\n  host: "+host+"\n  port: "+port+"\n}\n")
	write(passwd, host+":feeder:"+passwdPass+"\n")
	qtWrite(t, filepath.Join(s.outgoing, "peer"), s.store(t, 1, "misc.test", time.Now(), 100))
	qtWrite(t, filepath.Join(s.outgoing, "leaf"), s.store(t, 2, "misc.test", time.Now(), 100))
	ctlinndOut := filepath.Join(t.TempDir(), "ctlinnd.out")
	giveToNews(t, filepath.Dir(ctlinndOut))
	ctlinnd := rotFakeProgram(t, "ctlinnd", `{ echo "argv: $*"; env; } > `+ctlinndOut)

	var outputs []string
	run := func(args ...string) (stdout, stderr string) {
		t.Helper()
		stdout, stderr, _ = s.run(t, bin, "", args...)
		outputs = append(outputs, strings.Join(args, " ")+":\n"+stdout+stderr)
		return stdout, stderr
	}
	_, stderr := run("status")
	for _, f := range []string{conf, passwd} {
		if !strings.Contains(stderr, f+" holds passwords and every user can read it (mode 0644)") {
			t.Errorf("status does not warn that %s is readable by every user: %q", f, stderr)
		}
	}
	stdout, _ := run("check")
	for _, f := range []string{conf, passwd} {
		if !strings.Contains(stdout, "warning: "+f+" holds passwords and every user can read it") {
			t.Errorf("check does not warn that %s is readable by every user: %q", f, stdout)
		}
	}
	run("check", "--connect")
	run("status", "--json")
	run("-v", "send", "peer") // the peer refuses the password: authentication fails
	run("-v", "send", "leaf") // passwd.nntp's entry
	run("rotate", "peer", "--force", "--ctlinnd", ctlinnd)
	run("-v", "run")
	data, _ := os.ReadFile(ctlinndOut)
	if len(data) == 0 {
		t.Error("ctlinnd did not run")
	}
	outputs = append(outputs, "ctlinnd's argv and environment:\n"+string(data))
	logged, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logged), "authenticate failed") {
		t.Errorf("the log does not record the failed authentication:\n%s", logged)
	}
	outputs = append(outputs, "log file:\n"+string(logged))

	// Errors about the files themselves do not quote the password either.
	write(conf, "site peer {\n  password: "+confPass+" Second-half\n}\n")
	run("status")
	write(conf, "site peer {\n  host: "+host+"\n  port: "+port+"\n}\n")
	write(passwd, host+":feeder:"+passwdPass+":Second-half\n")
	run("send", "peer")

	for _, out := range outputs {
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("%q shown in the output of %s", secret, out)
			}
		}
	}

	// Private files: no warning.
	write(passwd, host+":feeder:"+passwdPass+"\n")
	os.Chmod(passwd, 0o640)
	if _, stderr := run("status"); strings.Contains(stderr, "warning") {
		t.Errorf("status warns about private files: %q", stderr)
	}
}
