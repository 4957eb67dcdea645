package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// PasswdFileName is INN's file of credentials for remote servers, in pathetc.
const PasswdFileName = "passwd.nntp"

// Credential is one line of passwd.nntp: "host:user:pass[:style]".
type Credential struct {
	Host, User, Password string
	Style                string // "authinfo" (the default) is the only style INN knows
	Line                 int
}

// Passwd is a parsed passwd.nntp.
type Passwd struct {
	Path    string
	Entries []Credential
	Skipped []error // lines INN ignores too, each naming file and line
}

// LoadPasswd reads passwd.nntp. A missing file is an empty Passwd, as for innxmit.
func LoadPasswd(path string) (*Passwd, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &Passwd{Path: path}, nil
		}
		return nil, fmt.Errorf("passwd.nntp: %w", err)
	}
	defer f.Close()
	return ParsePasswd(f, path)
}

// ParsePasswd parses passwd.nntp as INN's NNTPsendpassword does: lines starting with '#'
// and empty lines are skipped, the first two ':' end the host and the user, and an
// optional third ends the password; the style after it must be "authinfo". Lines with
// fewer than two ':' are skipped by INN; they are skipped here too and listed in
// Skipped, so that a typo can be reported instead of showing up as "480 authentication
// required" from the peer.
func ParsePasswd(r io.Reader, name string) (*Passwd, error) {
	p := &Passwd{Path: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		host, rest, ok1 := strings.Cut(line, ":")
		user, pass, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			p.Skipped = append(p.Skipped, &SyntaxError{File: name, Line: n, Msg: "ignored: want host:user:password[:authinfo]"})
			continue
		}
		c := Credential{Host: host, User: user, Password: pass, Style: "authinfo", Line: n}
		if pw, style, ok := strings.Cut(pass, ":"); ok {
			if style != "authinfo" {
				// Not quoted: with a ':' in the password, "style" is its second half.
				return nil, &SyntaxError{File: name, Line: n, Msg: "unknown authentication style after the third ':' (only authinfo; a password cannot hold ':')"}
			}
			c.Password = pw
		}
		p.Entries = append(p.Entries, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return p, nil
}

// Lookup returns the first entry for host, compared without regard to ASCII case as INN
// does (strcasecmp): "K" (the Kelvin sign) is not "k", as strings.EqualFold would have
// it. An entry with an empty user sends no AUTHINFO USER, as in INN.
func (p *Passwd) Lookup(host string) (Credential, bool) {
	for _, c := range p.Entries {
		if asciiEqualFold(c.Host, host) {
			return c, true
		}
	}
	return Credential{}, false
}

// asciiEqualFold reports whether a and b are equal, ASCII letters compared without
// regard to case and every other byte exactly.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
