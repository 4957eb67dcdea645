//go:build race

package reliability

// raceEnabled: the test binary runs under the race detector, and so will nxmit.
const raceEnabled = true
