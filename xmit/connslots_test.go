package xmit

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestConnSlotsCap(t *testing.T) {
	s := NewConnSlots(3)
	var mu sync.Mutex
	inUse, peak := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.Acquire(context.Background(), 1+i%3)
			if err != nil || n < 1 || n > 1+i%3 {
				t.Errorf("acquire: %d, %v", n, err)
				return
			}
			mu.Lock()
			inUse += n
			peak = max(peak, inUse)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inUse -= n
			mu.Unlock()
			s.Release(n)
		}()
	}
	wg.Wait()
	if peak > 3 || peak == 0 {
		t.Errorf("peak %d connections with a cap of 3", peak)
	}
	// A waiting site gives up when the run's time is over.
	s.Acquire(context.Background(), 3)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Acquire(ctx, 1); err == nil {
		t.Error("acquire beyond the cap succeeded")
	}
}
