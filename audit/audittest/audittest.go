// Package audittest helps tests read what a pass wrote to its article log.
package audittest

import (
	"bufio"
	"os"
	"testing"

	"nxmit/audit"
)

// ReadLog parses every entry of the article log file at path, failing t on a line
// that is not one.
func ReadLog(t testing.TB, path string) []audit.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var es []audit.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, err := audit.ParseEntry(sc.Text())
		if err != nil {
			t.Fatalf("%s: %v: %q", path, err, sc.Text())
		}
		es = append(es, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return es
}
