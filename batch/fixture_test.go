package batch

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/batch")

// TestFixtures scans each testdata/batch/*.batch file and compares what the
// Scanner makes of every line with the .golden file next to it.
func TestFixtures(t *testing.T) {
	inputs, err := filepath.Glob("../testdata/batch/*.batch")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var out strings.Builder
			s := NewScanner(f, filepath.Base(in))
			for s.Scan() {
				switch err := s.LineErr(); {
				case err == nil:
					l := s.Line()
					fmt.Fprintf(&out, "%d ok token=%v article=%q mid=%q\n", s.LineNo(), l.IsToken, l.Article, l.MessageID)
				case errors.Is(err, ErrBlank):
					fmt.Fprintf(&out, "%d blank\n", s.LineNo())
				default:
					fmt.Fprintf(&out, "%s\n", err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, ".batch") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}
