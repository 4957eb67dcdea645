package runas

import (
	"os"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, tt := range []struct {
		user, group string
		uid, gid    int
		err         string
	}{
		{user: "root", uid: 0, gid: 0},
		{user: "0", group: "0", uid: 0, gid: 0},
		{user: "nxmit-no-such-user", err: `user "nxmit-no-such-user" (inn.conf runasuser)`},
		{user: "root", group: "nxmit-no-such-group", err: `group "nxmit-no-such-group" (inn.conf runasgroup)`},
	} {
		id, err := Lookup(tt.user, tt.group)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Lookup(%q, %q): %v, want an error naming %s", tt.user, tt.group, err, tt.err)
			}
			continue
		}
		if err != nil || id.UID != tt.uid || id.GID != tt.gid {
			t.Errorf("Lookup(%q, %q) = %+v, %v", tt.user, tt.group, id, err)
		}
	}
}

// TestSwitchKeepsOtherUsers: not root, or asked for root, nothing changes (the switch
// itself is tested on the program, commands' TestRootRunSwitchesToNews, since it is for
// the whole process).
func TestSwitchKeepsOtherUsers(t *testing.T) {
	uid := os.Getuid()
	changed, err := Switch(Identity{User: "root", UID: 0, GID: 0})
	if err != nil || changed || os.Getuid() != uid {
		t.Fatalf("Switch to root: changed %v, %v; uid %d, was %d", changed, err, os.Getuid(), uid)
	}
}
