package commands

import (
	"errors"
	"fmt"
	"io/fs"
	"net"

	"nxmit/nntp"
	"nxmit/xmit"
)

// credSource is where a site's AUTHINFO credentials came from, or could have come from.
type credSource struct {
	Given  string // "--user" or "FILE:LINE"; "" when none were given
	Config string // nxmit.conf
	Site   string
	Passwd string // passwd.nntp, when it was looked at
}

// authHint turns a send pass's *xmit.AuthError into one line that says where the
// credentials go (or came from); other errors are returned as they are. The result is
// still not temporary: exit status 1, and cron mails it.
func authHint(p peer, err error) error {
	var ae *xmit.AuthError
	if !errors.As(err, &ae) {
		return err
	}
	// Credentials may be per host (passwd.nntp): name those of the host that answered.
	src := p.CredFrom
	_, src.Given = p.credentialsFor(ae.Addr)
	host, _, splitErr := net.SplitHostPort(ae.Addr)
	if splitErr != nil {
		host = p.Host
	}
	reply := ae.Err.Error()
	var ne *nntp.Error
	if errors.As(ae.Err, &ne) {
		reply = ne.Reply.String() // the peer's words, not the step's
	}
	if ae.User == "" || src.Given == "" {
		where := fmt.Sprintf("add user: and password: to \"site %s\" in %s", src.Site, orWord(src.Config, "nxmit.conf"))
		if src.Passwd != "" {
			where += fmt.Sprintf(", or a line %s:USER:PASSWORD to %s", host, src.Passwd)
		}
		return fmt.Errorf("site %s: peer %s requires authentication (%s) and no credentials are configured: %s", src.Site, ae.Addr, reply, where)
	}
	return fmt.Errorf("site %s: peer %s refused user %s (%s): correct the user and password in %s", src.Site, ae.Addr, ae.User, reply, src.Given)
}

// passwdHint adds what to do to a passwd.nntp that cannot be read for lack of
// permission: INN's files belong to news, and nxmit is meant to run as news.
func passwdHint(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (run nxmit as news, which owns INN's files)", err)
	}
	return err
}
