package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestTransportKeys checks the TLS, address and rate settings: what they accept, what
// they refuse with the file's line, and the port that follows "tls".
func TestTransportKeys(t *testing.T) {
	tests := []struct {
		name, text string
		check      func(s Settings) bool
		err        string
	}{
		{"defaults", "site a {}", func(s Settings) bool {
			return !s.TLS && s.StartTLS == "no" && s.TLSVerify && s.Family == "any" && s.MaxRate == 0 && s.Port == 119 && !s.UsesTLS()
		}, ""},
		{"tls moves the port", "site a { tls: yes }", func(s Settings) bool { return s.Port == DefaultTLSPort && s.UsesTLS() }, ""},
		{"tls with a port", "site a {\ntls: yes\nport: 4563\n}", func(s Settings) bool { return s.Port == 4563 }, ""},
		{"tls in defaults", "defaults { tls: yes }\nsite a {}", func(s Settings) bool { return s.Port == 563 }, ""},
		{"starttls keeps 119", "site a { starttls: optional }", func(s Settings) bool { return s.Port == 119 && s.UsesTLS() }, ""},
		{"several hosts", "site a { host: one.example two.example,three.example }", func(s Settings) bool {
			return reflect.DeepEqual(s.Hosts(), []string{"one.example", "two.example", "three.example"})
		}, ""},
		{"bind both", "site a { bind-address: 192.0.2.1 2001:db8::1 }", func(s Settings) bool { return s.BindAddress != "" }, ""},
		{"max-rate", "site a { max-rate: 2m }", func(s Settings) bool { return s.MaxRate == 2<<20 }, ""},
		{"family", "site a { family: ipv6 }", func(s Settings) bool { return s.Family == "ipv6" }, ""},
		{"bad starttls", "site a {\nstarttls: maybe\n}", nil, "f:2: starttls: \"maybe\": want yes, no or optional"},
		{"bad family", "site a {\nfamily: inet\n}", nil, "f:2: family:"},
		{"bad bind", "site a {\nbind-address: news.example\n}", nil, "f:2: bind-address: \"news.example\" is not an IP address"},
		{"two v4 binds", "site a {\nbind-address: 192.0.2.1 192.0.2.2\n}", nil, "at most one IPv4 and one IPv6"},
		{"bad rate", "site a {\nmax-rate: fast\n}", nil, "f:2: max-rate:"},
		{"bad tls-verify", "site a {\ntls-verify: sometimes\n}", nil, "f:2: tls-verify:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.text), "f")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := c.Resolve("a"); !tt.check(s) {
				t.Errorf("resolved %+v", s)
			}
		})
	}

	// A command line's --tls moves the default port too; its --port wins.
	c, _ := Parse(strings.NewReader("site a {}"), "f")
	var over Settings
	over.Set("tls", "yes", 0)
	if s := c.ResolveWith("a", over); s.Port != 563 {
		t.Errorf("--tls: port %d", s.Port)
	}
	over.Set("port", "1563", 0)
	if s := c.ResolveWith("a", over); s.Port != 1563 {
		t.Errorf("--tls --port 1563: port %d", s.Port)
	}
}
