package commands

import (
	"errors"
	"fmt"
	"testing"

	"nxmit/batch"
)

func TestExitStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("x"), ExitError},
		{usagef("bad"), ExitUsage},
		{fmt.Errorf("site a: %w", &batch.LockedError{}), ExitTemporary},
		{ExitStatus(3), 3},
		{fmt.Errorf("wrapped: %w", ExitStatus(ExitError)), ExitError},
	}
	for _, tt := range tests {
		if got := Status(tt.err); got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestWorstStatus(t *testing.T) {
	tests := []struct {
		in   []int
		want int
	}{
		{nil, ExitOK},
		{[]int{ExitOK, ExitTemporary}, ExitTemporary},
		{[]int{ExitTemporary, ExitError, ExitOK}, ExitError},
		{[]int{ExitError, ExitUsage, ExitTemporary}, ExitUsage},
	}
	for _, tt := range tests {
		err := worstStatus(tt.in...)
		if got := Status(err); got != tt.want {
			t.Errorf("worstStatus(%v) = %v, want %d", tt.in, err, tt.want)
		}
	}
}
