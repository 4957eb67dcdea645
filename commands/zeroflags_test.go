package commands

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// -P 0, -c 0 and -w 0 are usage errors, as the same values are in nxmit.conf; a zero
// field otherwise means "not given", and the default would silently apply.
func TestPeerFlagsZeroIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"send", "-P", "0", "peer"},
		{"send", "-c", "0", "peer"},
		{"send", "--window", "0", "peer"},
		{"run", "-w", "0"},
		{"run", "--connections=0"},
	} {
		var cli CLI
		parser, err := kong.New(&cli, KongOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parser.Parse(args)
		if Status(err) != ExitUsage || !strings.Contains(err.Error(), "must be at least 1") {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
