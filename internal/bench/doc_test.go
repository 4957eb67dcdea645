package bench

import (
	"errors"
	"testing"
)

func TestReplaceBlock(t *testing.T) {
	b, e := BeginMarker, EndMarker
	tests := []struct {
		name, doc, block, want string
		err                    bool
	}{
		{"empty doc", "", "T", b + "\nT\n" + e + "\n", false},
		{"append", "# Title\nprose", "T\n", "# Title\nprose\n\n" + b + "\nT\n" + e + "\n", false},
		{"replace", "head\n" + b + "\nold\nold\n" + e + "\ntail\n", "new", "head\n" + b + "\nnew\n" + e + "\ntail\n", false},
		{"only begin", "x " + b, "T", "", true},
		{"reversed", e + "\n" + b, "T", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceBlock(tt.doc, tt.block)
			if tt.err {
				if !errors.Is(err, ErrNoMarkers) {
					t.Fatalf("err = %v, want ErrNoMarkers", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
