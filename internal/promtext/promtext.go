// Package promtext checks text against Prometheus's text exposition format (version
// 0.0.4) and returns its samples, so tests can verify nxmit's metrics without a
// dependency on the Prometheus libraries. It is strict where the format is: metric and
// label names, quoting and escapes, values, one TYPE per family before its samples, a
// family's samples together, no repeated series, and the naming conventions nxmit
// follows (counters end in _total).
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// A Sample is one series and its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Key returns the series in a canonical form: name{a="x",b="y"}, labels sorted.
func (s Sample) Key() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, s.Labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Parse checks r and returns its samples by Key, and each family's type.
func Parse(r io.Reader) (samples map[string]Sample, types map[string]string, err error) {
	samples = map[string]Sample{}
	types = map[string]string{}
	helps := map[string]bool{}
	done := map[string]bool{} // families whose samples are over
	current := ""
	sc := bufio.NewScanner(r)
	line := 0
	fail := func(format string, args ...any) error {
		return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		t := sc.Text()
		switch {
		case t == "":
			continue
		case strings.HasPrefix(t, "#"):
			f := strings.SplitN(t, " ", 4)
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			name := f[2]
			if !metricName.MatchString(name) {
				return nil, nil, fail("bad metric name %q", name)
			}
			if f[1] == "HELP" {
				if helps[name] {
					return nil, nil, fail("second HELP for %s", name)
				}
				helps[name] = true
				continue
			}
			if len(f) != 4 {
				return nil, nil, fail("TYPE without a type")
			}
			switch f[3] {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, nil, fail("unknown type %q", f[3])
			}
			if _, ok := types[name]; ok {
				return nil, nil, fail("second TYPE for %s", name)
			}
			if done[name] || name == current {
				return nil, nil, fail("TYPE for %s after its samples", name)
			}
			if f[3] == "counter" && !strings.HasSuffix(name, "_total") {
				return nil, nil, fail("counter %s does not end in _total", name)
			}
			types[name] = f[3]
		default:
			s, err := parseSample(t)
			if err != nil {
				return nil, nil, fail("%v", err)
			}
			if s.Name != current {
				if done[s.Name] {
					return nil, nil, fail("samples of %s are not together", s.Name)
				}
				if current != "" {
					done[current] = true
				}
				current = s.Name
			}
			if types[s.Name] == "" {
				return nil, nil, fail("%s has no TYPE before its samples", s.Name)
			}
			k := s.Key()
			if _, dup := samples[k]; dup {
				return nil, nil, fail("series %s repeated", k)
			}
			samples[k] = s
		}
	}
	return samples, types, sc.Err()
}

// parseSample parses `name{label="value",...} value [timestamp]`.
func parseSample(t string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(t, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value in %q", t)
	}
	s.Name = t[:i]
	if !metricName.MatchString(s.Name) {
		return s, fmt.Errorf("bad metric name %q", s.Name)
	}
	rest := t[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 {
				return s, fmt.Errorf("bad label in %q", t)
			}
			name := rest[:eq]
			if !labelName.MatchString(name) || strings.HasPrefix(name, "__") {
				return s, fmt.Errorf("bad label name %q", name)
			}
			rest = rest[eq+1:]
			if !strings.HasPrefix(rest, `"`) {
				return s, fmt.Errorf("label %s: value not quoted", name)
			}
			var v strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				c := rest[j]
				if c == '\n' {
					return s, fmt.Errorf("label %s: raw newline", name)
				}
				if c == '\\' {
					j++
					if j == len(rest) {
						return s, fmt.Errorf("label %s: escape at end", name)
					}
					switch rest[j] {
					case '\\':
						c = '\\'
					case '"':
						c = '"'
					case 'n':
						c = '\n'
					default:
						return s, fmt.Errorf("label %s: bad escape \\%c", name, rest[j])
					}
				}
				v.WriteByte(c)
			}
			if j == len(rest) {
				return s, fmt.Errorf("label %s: unterminated value", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, fmt.Errorf("label %s repeated", name)
			}
			s.Labels[name] = v.String()
			rest = rest[j+1:]
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return s, fmt.Errorf("want , or } after label %s", name)
			}
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return s, fmt.Errorf("no space before the value in %q", t)
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp in %q", t)
	}
	v, err := parseValue(f[0])
	if err != nil {
		return s, err
	}
	s.Value = v
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return s, fmt.Errorf("bad timestamp %q", f[1])
		}
	}
	return s, nil
}

func parseValue(v string) (float64, error) {
	switch v {
	case "NaN":
		return math.NaN(), nil
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || strings.ContainsAny(v, "_xXpP") || strings.EqualFold(v, "inf") || strings.EqualFold(v, "infinity") {
		return 0, fmt.Errorf("bad value %q", v)
	}
	return f, nil
}
