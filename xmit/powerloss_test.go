package xmit

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"nxmit/batch"
	"nxmit/nntp"
	"nxmit/nntp/nntptest"
)

// durability replays the writes and fsyncs of the queue files as a power loss would see
// them: a write may reach the disk at any moment (the kernel flushes when it likes), a
// deferral is durable only once S.defer is fsynced. Every blank of a deferred line must
// find that line durable in S.defer when it is written, or a power loss could keep the
// blank and lose the deferral: the article would be lost.
type durability struct {
	t        *testing.T
	defer_   string            // path of S.defer
	lines    map[int64]string  // backlog line offsets → message-id
	deferred func(string) bool // the peer deferred this message-id

	mu       sync.Mutex
	written  bytes.Buffer    // S.defer as written
	durable  map[string]bool // message-ids durable in S.defer
	blanks   int             // deferred lines blanked
	syncs    int             // fsyncs of S.defer
	violates []string
}

func (d *durability) observe(op batch.FileOp) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case op.Path == d.defer_ && op.Kind == batch.OpWrite:
		d.written.Write(op.Data)
	case op.Path == d.defer_ && op.Kind == batch.OpSync:
		d.syncs++
		for _, l := range strings.Split(d.written.String(), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				d.durable[f[1]] = true
			}
		}
	case op.Kind == batch.OpWrite:
		// A blank over [Off, Off+len): every line starting in it is blanked.
		for off, mid := range d.lines {
			if off < op.Off || off >= op.Off+int64(len(op.Data)) || !d.deferred(mid) {
				continue
			}
			d.blanks++
			if !d.durable[mid] {
				d.violates = append(d.violates, mid)
			}
		}
	}
}

// TestSendDeferralDurableBeforeBlank records every write and fsync of the queue files
// during passes with deferrals and checks the order a power loss needs.
func TestSendDeferralDurableBeforeBlank(t *testing.T) {
	for _, mode := range []nntp.CheckMode{nntp.NeverCheck, nntp.AlwaysCheck} {
		t.Run(mode.String(), func(t *testing.T) {
			const n = 600
			s := newSite(t, n)
			files, err := s.q.Backlogs()
			if err != nil || len(files) != 1 {
				t.Fatal(files, err)
			}
			data, err := os.ReadFile(files[0].Path)
			if err != nil {
				t.Fatal(err)
			}
			d := &durability{t: t, defer_: s.q.DeferPath(), lines: map[int64]string{}, durable: map[string]bool{}}
			var off int64
			for _, l := range strings.SplitAfter(string(data), "\n") {
				if f := strings.Fields(l); len(f) == 2 {
					d.lines[off] = f[1]
				}
				off += int64(len(l))
			}
			d.deferred = func(mid string) bool { return midNumber(mid)%10 == 7 }
			restore := batch.SetOpsHook(d.observe)
			defer restore()
			srv := nntptest.NewServer(t, nntptest.Script{Decide: func(st nntptest.Stage, mid string) int {
				if d.deferred(mid) {
					return map[nntptest.Stage]int{nntptest.Check: 431, nntptest.Takethis: 431}[st]
				}
				return 0
			}})
			opt := s.options(srv.Addr)
			opt.Stream.Mode = mode
			st, err := Send(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			s.checkBalance(st, n)
			d.mu.Lock()
			defer d.mu.Unlock()
			if st.Deferred != n/10 || d.blanks != n/10 {
				t.Fatalf("deferred %d, blanks of deferred lines seen %d; want %d", st.Deferred, d.blanks, n/10)
			}
			if len(d.violates) > 0 {
				t.Errorf("%d deferred lines blanked before their deferral was durable, e.g. %s", len(d.violates), d.violates[0])
			}
			t.Logf("%d deferred lines, %d fsyncs of S.defer", d.blanks, d.syncs)
		})
	}
}
