package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"nxmit/runas"
	"nxmit/spoolfmt"
)

// dropRoot switches a process started as root to INN's user (inn.conf runasuser, default
// news; group runasgroup) before anything in the outgoing directory or the spool is read
// or written: those belong to news, and a line there must not make root read a file for
// news (see docs/SECURITY.md). What root named itself is opened first: the configuration
// files, and the statistics log file. A missing user is refused: running on as root is
// what this prevents. It does nothing when Globals.DropRoot is off (tests calling
// commands in-process) or when not root; it runs once.
func (g *Globals) dropRoot() error {
	if !g.DropRoot || os.Geteuid() != 0 {
		return nil
	}
	g.DropRoot = false
	userName, groupName := spoolfmt.DefaultRunAsUser, spoolfmt.DefaultRunAsGroup
	if conf, err := g.InnConf(); err == nil {
		userName, groupName = conf.RunAsUser, conf.RunAsGroup
	}
	id, err := runas.Lookup(userName, groupName)
	if err != nil {
		return fmt.Errorf("started as root, nxmit runs as INN's user: %w; refusing to run as root", err)
	}
	// Read as root what root wrote: nxmit.conf may be root's alone (it can hold passwords).
	// Errors are left to the command, which reports them in its own words.
	conf, _ := g.SiteConfig()
	if g.LogFile != "" || (conf != nil && conf.LogFile != "") {
		g.logger()
	}
	if _, err := runas.Switch(id); err != nil {
		return fmt.Errorf("started as root: %w; refusing to run as root", err)
	}
	return nil
}

// openNamed opens, before dropRoot, the files an administrator running as root named on
// the command line (merge's and filter's inputs; "-" is stdin and skipped): root asked
// for them, and news may not be allowed to read them. It returns nil when no switch is
// coming, and the command opens its files as usual. The files are read-only and stay
// open until the process exits.
func (g *Globals) openNamed(names []string) (map[string]*os.File, error) {
	if !g.DropRoot || os.Geteuid() != 0 {
		return nil, nil
	}
	opened := make(map[string]*os.File, len(names))
	for _, name := range names {
		if name == "-" || opened[name] != nil {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			for _, f := range opened {
				f.Close()
			}
			return nil, err
		}
		opened[name] = f
	}
	return opened, nil
}

// checkRemovable makes sure, after dropRoot, that INN's user may remove each named file
// (write and search its directory): merge --remove removes its inputs only after the new
// backlog is installed, and finding out then would leave the lines queued twice. A file
// root named in a directory of root's is refused before anything is done.
func checkRemovable(names []string) error {
	for _, name := range names {
		if name == "-" {
			continue
		}
		dir := filepath.Dir(name)
		err := syscall.Access(dir, 0o2|0o1) // W_OK|X_OK, as the real uid: news now
		if err == nil && stickyOther(dir, name) {
			err = errors.New("a sticky directory, and the file is not ours")
		}
		if err != nil {
			return usagef("merge --remove: %s: INN's user cannot remove files in %s (%v): give it the file, or merge without --remove and remove it yourself", name, dir, err)
		}
	}
	return nil
}

// stickyOther reports whether dir is sticky (like /tmp) and neither dir nor the file
// name belongs to this process's user: unlink would then be refused.
func stickyOther(dir, name string) bool {
	di, err := os.Stat(dir)
	if err != nil || di.Mode()&os.ModeSticky == 0 {
		return false
	}
	uid := uint32(os.Getuid())
	if st, ok := di.Sys().(*syscall.Stat_t); ok && st.Uid == uid {
		return false
	}
	fi, err := os.Lstat(name)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Uid != uid
}
