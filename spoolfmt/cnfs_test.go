package spoolfmt

import "testing"

func TestMayBeHere(t *testing.T) {
	tests := []struct {
		cur     uint32
		free    int64
		version int
		cycle   uint32
		off     int64
		want    bool
	}{
		{5, 1000, 4, 5, 50, true},            // this cycle
		{5, 1000, 4, 5, 5000, true},          // this cycle, beyond the (lagging) free pointer
		{5, 1000, 4, 4, 5000, true},          // last cycle, not yet overwritten
		{5, 1000, 4, 4, 1000, true},          // last cycle, at free
		{5, 1000, 4, 4, 999, false},          // last cycle, overwritten
		{5, 1000, 4, 3, 5000, false},         // two cycles ago
		{5, 1000, 4, 6, 50, true},            // next cycle: header not yet written
		{5, 1000, 4, 7, 50, false},           // no such cycle
		{2, 1000, 3, 0xFFFFFFFF, 1001, true}, // v3 counter wrap
		{2, 1000, 3, 0xFFFFFFFF, 1000, false},
		{2, 1000, 4, 0xFFFFFF, 5000, false}, // v4 wrap quirk: last pre-wrap cycle reads as overwritten
		{0xFFFFFF, 1000, 4, 2, 50, true},    // v4: the cycle after 0xFFFFFF is 2
		{0xFFFFFFFF, 1000, 3, 2, 50, true},  // v3: the cycle after 2^32-1 is 2
	}
	for _, tt := range tests {
		h := &cnfsHead{free: tt.free, cycle: tt.cur}
		if got := mayBeHere(h, tt.version, tt.cycle, tt.off); got != tt.want {
			t.Errorf("mayBeHere(cur %d free %d v%d, cycle %d off %d) = %v", tt.cur, tt.free, tt.version, tt.cycle, tt.off, got)
		}
	}
}
