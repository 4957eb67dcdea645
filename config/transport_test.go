package config

import (
	"strings"
	"testing"
)

// TestTransportKeys checks the defaults of the TLS, address and rate settings and the
// port that follows "tls" from each layer (keyCases has each key's values and errors).
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

// TestKeyBits: Settings records which keys were given in one bit each of a uint64.
func TestKeyBits(t *testing.T) {
	if n := len(siteKeys); n > 64 {
		t.Fatalf("%d site keys do not fit Settings.set", n)
	}
	// Every key, the 33rd and later included, is seen as given once set.
	b := Builtin()
	for _, k := range siteKeys {
		var s Settings
		if err := s.Set(k.name, k.format(&b), 0); err != nil && k.format(&b) != "" {
			t.Errorf("%s: %v", k.name, err)
			continue
		}
		if k.format(&b) != "" && !s.IsSet(k.name) {
			t.Errorf("%s: set but not IsSet", k.name)
		}
	}
}
