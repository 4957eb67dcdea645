package batch

import (
	"fmt"
	"strings"
)

// SiteNameError returns why name cannot be a site name, or nil. Site names become file
// names in the outgoing directory, as innd's newsfeeds site names do: this is the one
// rule, used by every command and by nxmit.conf's parser.
func SiteNameError(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("invalid site name %q", name)
	case strings.HasPrefix(name, "-"):
		return fmt.Errorf("invalid site name %q: starts with '-'", name)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return r == '/' || r == ':' || r == ',' || r <= ' ' || r == 0x7f || r == '\\' || r == '!'
	}); i >= 0 {
		return fmt.Errorf("invalid site name %q: contains %q", name, name[i])
	}
	return nil
}
