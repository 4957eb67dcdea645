package commands

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/alecthomas/kong"

	"nxmit/config"
)

// The command line is the top layer of "flag over nxmit.conf over built-in default".
// A flag that stands for a parameter of nxmit.conf says so with a tag: setting:"KEY"
// for a site parameter, global:"KEY" for a top-level one, setting:"!KEY" for a boolean
// flag that sets KEY to no (--no-stream). Such flags are pointers (nil: not given), so
// that "0" given is told from nothing given, and their values pass through the same
// parser and the same rules as the file's: -P 0 is refused here as "port: 0" is there.

// flagSettings returns the site parameters given on cmd's command line as a
// configuration layer to merge over nxmit.conf's. A value the file would refuse is a
// usage error naming the flag.
func flagSettings(cmd any) (config.Settings, error) {
	var s config.Settings
	err := eachFlag(reflect.ValueOf(cmd), "setting", func(flag, key, value string) error {
		return s.Set(key, value, 0)
	})
	return s, err
}

// flagGlobals returns conf (which may be nil: no file) with the top-level parameters
// given on cmd's command line set over the file's; conf itself is not changed.
func flagGlobals(conf *config.Config, cmd any) (*config.Config, error) {
	var c config.Config
	if conf != nil {
		c = *conf
	}
	err := eachFlag(reflect.ValueOf(cmd), "global", func(flag, key, value string) error {
		return c.SetGlobal(key, value)
	})
	return &c, err
}

// eachFlag calls set with the flag name, the key and the value as text of each given
// flag of v (a struct or a pointer to one, embedded structs included) tagged with tag.
func eachFlag(v reflect.Value, tag string, set func(flag, key, value string) error) error {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if f.Anonymous && fv.Kind() == reflect.Struct {
			if err := eachFlag(fv, tag, set); err != nil {
				return err
			}
			continue
		}
		key, ok := f.Tag.Lookup(tag)
		if !ok {
			continue
		}
		flag := f.Tag.Get("name")
		if flag == "" {
			flag = kebab(f.Name)
		}
		var value string
		switch {
		case strings.HasPrefix(key, "!"):
			if !fv.Bool() {
				continue
			}
			key, value = key[1:], "no"
		case fv.IsNil():
			continue
		default:
			value = flagText(fv.Elem())
		}
		if err := set(flag, key, value); err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // the error names the key; the flag is named here
			}
			return usagef("--%s: %v", flag, err)
		}
	}
	return nil
}

// flagText writes a typed flag value as the file would.
func flagText(v reflect.Value) string {
	if d, ok := v.Interface().(time.Duration); ok {
		if d%time.Second == 0 {
			return strconv.FormatInt(int64(d/time.Second), 10)
		}
		return d.String()
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return "yes"
		}
		return "no"
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	return v.String()
}

// kebab writes a field name as kong names its flag: MaxTime is max-time.
func kebab(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// durationMapper parses every time.Duration flag with config.ParseDuration: one syntax
// on the command line, in nxmit.conf and in filter (a plain number is seconds, units
// s, m, h, d).
func durationMapper() kong.MapperFunc {
	return func(ctx *kong.DecodeContext, target reflect.Value) error {
		var text string
		if err := ctx.Scan.PopValueInto("duration", &text); err != nil {
			return err
		}
		d, err := config.ParseDuration(text)
		if err != nil {
			return err
		}
		target.SetInt(int64(d))
		return nil
	}
}

// innxmitHabits explain innxmit's options (getopt "acdHlpP:rst:T:v") in nxmit's
// terms. A command line that fails to parse on one of them most likely carries the
// habit, and the message says what nxmit calls it instead of kong's raw "expected int
// value".
var innxmitHabits = map[string]string{
	"-c": "-c is --connections N here (parallel connections); innxmit's -c, no CHECK, is --check=never",
	"-t": "innxmit's -t (connect timeout in seconds) is --connect-timeout DUR here",
	"-T": "-T is --max-time DUR: seconds, or with a unit (30, 90s, 10m, 1h)",
	"-P": "-P is --port N, a port number",
	"-a": "innxmit's -a is not needed: nxmit does not look an article up before offering it",
	"-d": "innxmit's -d (debug) is -v here",
	"-H": "innxmit's -H has no nxmit equivalent; 'nxmit innxmit ...' takes innxmit's options",
	"-l": "innxmit's -l has no nxmit equivalent; 'nxmit innxmit ...' takes innxmit's options",
	"-p": "innxmit's -p has no nxmit equivalent; 'nxmit innxmit ...' takes innxmit's options",
	"-r": "innxmit's -r is not needed: nxmit leaves what it did not send queued",
}

// shortOf names the nxmit flags whose short forms are also innxmit options.
var shortOf = map[string]string{"-c": "connections", "-T": "max-time", "-P": "port"}

// FlagError returns the message for a command line that did not parse (args are the
// arguments given): kong's message, or, when the error is about one of innxmit's
// options, what nxmit calls it.
func FlagError(args []string, err error) string {
	msg := err.Error()
	for _, a := range args {
		if a == "--" {
			break
		}
		opt := a
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			opt = a[:2] // -cEOL, -T30
		}
		hint, ok := innxmitHabits[opt]
		if !ok {
			continue
		}
		if strings.Contains(msg, opt+":") || strings.Contains(msg, "unknown flag "+opt) || shortOf[opt] != "" && strings.Contains(msg, "--"+shortOf[opt]+":") {
			return fmt.Sprintf("%s (%s)", hint, msg)
		}
	}
	return msg
}
