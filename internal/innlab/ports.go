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
	"time"
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
// mode 0755. The caller removes it. A directory whose instance is not
// running is removed by a later TempDir, StartT or SenderReceiver of any
// process once it is a minute old, so a crashed run leaves nothing behind.
func TempDir() (string, error) { return tempInstanceDir() }

func tempInstanceDir() (string, error) {
	base := tempBase()
	sweepOnce.Do(func() { sweep(base) })
	dir, err := os.MkdirTemp(base, "innlab-")
	if err != nil {
		return "", fmt.Errorf("innlab: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("innlab: %w", err)
	}
	return dir, nil
}

// sweep removes instance directories that earlier test processes left
// behind when they were killed before their cleanups ran: directories named
// innlab-* whose instance lock is free and which are older than a minute (a
// younger one may belong to a process that is just starting its instance).
// The parent-death signal has already ended their innd.
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "innlab-*"))
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		lockPath := filepath.Join(dir, lockName)
		if _, err := os.Stat(lockPath); err != nil {
			continue
		}
		f, err := lockFile(lockPath)
		if err != nil {
			continue
		}
		if pid, err := os.ReadFile(filepath.Join(dir, "run", "innd.pid")); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil && isOurInnd(p, filepath.Join(dir, "etc", "inn.conf")) {
				f.Close()
				continue
			}
		}
		os.RemoveAll(dir)
		f.Close()
	}
}
