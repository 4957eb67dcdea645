// Package runas switches a process started as root to INN's user (inn.conf runasuser and
// runasgroup) for good: real, effective and saved ids, and the supplementary groups.
//
// A news server's outgoing directory and spool are written by innd as news, so whatever
// nxmit reads there (queue lines that may name files, article paths, links) is controlled
// by news. Run as root, nxmit would read and write with root's rights on news' behalf.
// Switching to news before the first such read makes a root run exactly as strong as a
// cron run as news, and files nxmit creates are news' without a chown.
package runas

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// Identity is a user and group to run as.
type Identity struct {
	User  string // name (or numeric id) of the user
	Group string // name (or numeric id) of the group; "" means the user's primary group
	UID   int
	GID   int
}

// Lookup resolves userName and groupName ("" for the user's primary group). A user or
// group that does not exist is an error naming it.
func Lookup(userName, groupName string) (Identity, error) {
	id := Identity{User: userName, Group: groupName}
	u, err := user.Lookup(userName)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			if n, nerr := strconv.Atoi(userName); nerr == nil {
				u, err = user.LookupId(strconv.Itoa(n))
			}
		}
		if err != nil {
			return id, fmt.Errorf("user %q (inn.conf runasuser): %w", userName, err)
		}
	}
	if id.UID, err = strconv.Atoi(u.Uid); err != nil {
		return id, fmt.Errorf("user %q: uid %q: %w", userName, u.Uid, err)
	}
	gid := u.Gid
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if _, nerr := strconv.Atoi(groupName); nerr != nil {
				return id, fmt.Errorf("group %q (inn.conf runasgroup): %w", groupName, err)
			}
			g = &user.Group{Gid: groupName}
		}
		gid = g.Gid
	}
	if id.GID, err = strconv.Atoi(gid); err != nil {
		return id, fmt.Errorf("group %q: gid %q: %w", groupName, gid, err)
	}
	return id, nil
}

// Switch makes the process run as id for good when it runs as root, and does nothing
// otherwise (a run as news, or as an administrator's own user, keeps its rights; the
// files it cannot read are reported by name as usual). On Linux the change applies to
// every thread of the process (Go 1.16 and later). It reports whether ids changed.
func Switch(id Identity) (bool, error) {
	if os.Geteuid() != 0 || id.UID == 0 {
		return false, nil
	}
	// Groups first: setgroups and setgid need root, which setuid gives up.
	if err := syscall.Setgroups([]int{id.GID}); err != nil {
		return false, fmt.Errorf("run as %s: setgroups %d: %w", id.User, id.GID, err)
	}
	if err := syscall.Setgid(id.GID); err != nil {
		return false, fmt.Errorf("run as %s: setgid %d: %w", id.User, id.GID, err)
	}
	if err := syscall.Setuid(id.UID); err != nil {
		return false, fmt.Errorf("run as %s: setuid %d: %w", id.User, id.UID, err)
	}
	// Paranoia costs a syscall: had anything failed silently, root would be kept.
	if os.Getuid() == 0 || os.Geteuid() == 0 {
		return false, fmt.Errorf("run as %s: still root after setuid %d", id.User, id.UID)
	}
	return true, nil
}
