package innlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports are leased, not just found free: a port that is free now may be
// taken by another test binary before innd binds it. Each lease holds an
// flock on a per-port file in a machine-wide directory, so concurrent
// harnesses (`go test ./...` runs packages in parallel) never hand out the
// same port, and a crashed process frees its leases automatically. Ports come
// from below the kernel's ephemeral range, so outgoing connections (which take
// ephemeral ports) cannot occupy them between the check and innd's bind.

// portLockDir is fixed, not under $TMPDIR, so that processes with different
// TMPDIRs still see each other's leases.
const portLockDir = "/tmp/innlab-ports"

type portLease struct {
	port int
	f    *os.File
	once sync.Once
}

func (l *portLease) release() {
	l.once.Do(func() {
		if l.f != nil {
			l.f.Close()
		}
	})
}

// portRange returns the range [lo, hi) leases are drawn from.
var portRange = sync.OnceValues(func() (int, int) {
	lo, hi := 20000, 32000
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if eph, err := strconv.Atoi(f[0]); err == nil && eph > 12000 {
				// Stay clear of the ephemeral range and of the low well-known
				// region.
				hi = eph
				lo = max(10000, eph-12000)
			}
		}
	}
	return lo, hi
})

// leasePort returns a port on 127.0.0.1 that is free and leased to the
// caller until release.
func leasePort() (*portLease, error) {
	if err := os.MkdirAll(portLockDir, 0o777); err != nil {
		return nil, fmt.Errorf("innlab: %w", err)
	}
	os.Chmod(portLockDir, 0o1777) // shared by every user that runs the harness
	lo, hi := portRange()
	for n := 0; n < 200; n++ {
		port := lo + rand.IntN(hi-lo)
		f, err := lockFile(filepath.Join(portLockDir, strconv.Itoa(port)))
		if err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue
			}
			return nil, fmt.Errorf("innlab: %w", err)
		}
		if portInUse(port) {
			f.Close()
			continue
		}
		return &portLease{port: port, f: f}, nil
	}
	// Everything in the range looked taken: fall back to a port the kernel
	// picks, which is only free rather than leased.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("innlab: find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &portLease{port: port}, nil
}

// portInUse reports whether 127.0.0.1:port cannot be bound now.
func portInUse(port int) bool {
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// tempBase is where StartT puts instance directories: $INNLAB_BASE if set,
// else /dev/shm when it is a tmpfs with room, else the temporary directory
// (or /tmp when $TMPDIR is long: CNFS buffer paths must fit in 63
// characters). A tmpfs matters: innd creates one file per article with
// timehash and tradspool, and on this machine's ext4 each creation costs
// about 0.9 ms against 12 us on tmpfs, which bounds injection at about
// 1,000 articles/s.
var tempBase = sync.OnceValue(func() string {
	if d := os.Getenv("INNLAB_BASE"); d != "" {
		return filepath.Clean(d)
	}
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if err := syscall.Statfs("/dev/shm", &st); err == nil && st.Type == tmpfsMagic &&
		st.Bavail*uint64(st.Bsize) >= 4<<30 && syscall.Access("/dev/shm", 2 /* W_OK */) == nil {
		return "/dev/shm"
	}
	if d := filepath.Clean(os.TempDir()); len(d) <= 20 {
		return d
	}
	return "/tmp"
})

var sweepOnce sync.Once

// TempDir makes a new directory for an instance, as StartT does: under
// $INNLAB_BASE, else /dev/shm when it is a tmpfs with room (innd is many
// times faster there), else the temporary directory; named innlab-*,
// mode 0755. The caller removes it. The directory records which process made
// it; once that process has ended (a test binary killed before its cleanups
// ran), a later TempDir, StartT or SenderReceiver of any process removes it.
func TempDir() (string, error) { return tempInstanceDir() }

// ownerName is the file in a TempDir directory naming the process that made
// it: "PID STARTTIME", the start time telling a reused pid apart.
const ownerName = "innlab.owner"

func tempInstanceDir() (string, error) {
	base := tempBase()
	sweepOnce.Do(func() { sweep(base) })
	dir, err := os.MkdirTemp(base, "innlab-")
	if err != nil {
		return "", fmt.Errorf("innlab: %w", err)
	}
	err = os.Chmod(dir, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, ownerName), []byte(processID(os.Getpid())+"\n"), 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("innlab: %w", err)
	}
	return dir, nil
}

// processID returns "PID STARTTIME" for a running process, or "" if there is
// no such process.
func processID(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name in parentheses may contain spaces; the start time is
	// the 20th field after it.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return ""
	}
	return fmt.Sprintf("%d %s", pid, f[19])
}

// sweep removes instance directories left behind by processes that ended
// before their cleanups ran. The parent-death signal has already ended
// their innd; a directory whose innd still runs (Detach) is kept.
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "innlab-*"))
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		owner, err := os.ReadFile(filepath.Join(dir, ownerName))
		if err != nil {
			continue // not made by TempDir, or just being made
		}
		var pid int
		fmt.Sscan(string(owner), &pid)
		if pid > 0 && processID(pid) == strings.TrimSpace(string(owner)) {
			continue // its maker is alive
		}
		f, err := lockFile(filepath.Join(dir, lockName))
		if err != nil {
			continue // an instance runs in it
		}
		if pidText, err := os.ReadFile(filepath.Join(dir, "run", "innd.pid")); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(pidText))); err == nil && isOurInnd(p, filepath.Join(dir, "etc", "inn.conf")) {
				f.Close()
				continue
			}
		}
		os.RemoveAll(dir)
		f.Close()
	}
}
