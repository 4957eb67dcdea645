package config

import (
	"errors"
	"fmt"
	"os"
)

// secretKeys are the parameters whose values are never repeated in a message.
var secretKeys = map[string]bool{"password": true}

// HoldsPassword reports whether the file gives an AUTHINFO password, in its defaults or
// in a site.
func (c *Config) HoldsPassword() bool {
	if c.Defaults.Password != "" {
		return true
	}
	for _, s := range c.Sites {
		if s.Settings.Password != "" {
			return true
		}
	}
	return false
}

// HoldsPassword reports whether some entry of passwd.nntp has a password.
func (p *Passwd) HoldsPassword() bool {
	for _, e := range p.Entries {
		if e.Password != "" {
			return true
		}
	}
	return false
}

// CheckSecretFile returns a warning when the file at path, which holds passwords, may be
// read by every user of the machine (INN's passwd.nntp is root:news 0640: its group must
// read it, others not). A file that does not exist gives nil.
func CheckSecretFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("%s holds passwords and cannot be checked: %w", path, err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return fmt.Errorf("%s holds passwords and every user can read it (mode %04o): chmod o-r %s", path, fi.Mode().Perm(), path)
	}
	return nil
}
