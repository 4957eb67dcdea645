package xmit

import (
	"context"
	"sync"
)

// ConnSlots caps the connections of several sites sent at once together (nxmit run's
// --max-connections): each site takes slots before it connects and gives them back.
type ConnSlots struct {
	size int
	mu   sync.Mutex
	used int
	wake chan struct{} // closed and replaced on every release
}

// NewConnSlots returns n free slots.
func NewConnSlots(n int) *ConnSlots { return &ConnSlots{size: n, wake: make(chan struct{})} }

// Size returns the number of slots.
func (s *ConnSlots) Size() int { return s.size }

// Acquire takes up to n slots, as soon as at least one is free, and returns how many
// it took.
func (s *ConnSlots) Acquire(ctx context.Context, n int) (int, error) {
	for {
		s.mu.Lock()
		if free := s.size - s.used; free > 0 {
			k := min(n, free)
			s.used += k
			s.mu.Unlock()
			return k, nil
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-wake:
		}
	}
}

// TryAcquire takes one slot if one is free, without waiting, and reports whether it
// did.
func (s *ConnSlots) TryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used >= s.size {
		return false
	}
	s.used++
	return true
}

// Release gives n slots back.
func (s *ConnSlots) Release(n int) {
	s.mu.Lock()
	s.used -= n
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}
