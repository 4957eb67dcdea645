package config

import (
	"io"
	"strings"
)

// Format writes c in the file's syntax: global parameters, the defaults block, then the
// sites in order, each with only the keys that were given. Parsing the output gives c
// back.
func (c *Config) Format(w io.Writer) error {
	var b strings.Builder
	for i, k := range globalKeys {
		if c.set&(1<<i) != 0 {
			b.WriteString(k.name + ": " + quote(k.format(c)) + "\n")
		}
	}
	if c.Defaults.set != 0 {
		b.WriteString("\ndefaults {\n")
		formatSettings(&b, &c.Defaults)
		b.WriteString("}\n")
	}
	for _, s := range c.Sites {
		b.WriteString("\nsite " + quote(s.Name) + " {\n")
		formatSettings(&b, &s.Settings)
		b.WriteString("}\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatSettings(b *strings.Builder, s *Settings) {
	for i, k := range siteKeys {
		if s.set&(1<<i) != 0 {
			b.WriteString("    " + k.name + ": " + quote(k.format(s)) + "\n")
		}
	}
}

// quote returns v as a word when it can be one, else as a quoted string.
func quote(v string) string {
	if v != "" && !strings.ContainsFunc(v, func(r rune) bool {
		return r < 0x80 && !isWordByte(byte(r)) || r == '\\'
	}) {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
