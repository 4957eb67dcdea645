package innctl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nxmit/internal/innlab"
)

// TestFlushRealInnd runs both flushers against a real innd: the renamed
// feed file is complete and closed after the flush and innd starts a new
// one; an unknown site is ErrNoSuchSite; a stopped innd is a temporary
// *FlushError with a message saying so.
func TestFlushRealInnd(t *testing.T) {
	inst := innlab.StartT(t, innlab.Options{Feeds: []string{innlab.PeerFeed}})
	flushers := []struct {
		name string
		f    Flusher
	}{
		{"ctlinnd", Command{Path: filepath.Join(innlab.Binaries(), "ctlinnd"), Timeout: 10 * time.Second, Env: inst.Env()}},
		{"icc", ICC{PathRun: inst.PathRun, Timeout: 10 * time.Second}},
	}
	feed := filepath.Join(inst.Outgoing, "peer")
	seed := int64(100)
	for _, fl := range flushers {
		t.Run(fl.name, func(t *testing.T) {
			seed++
			arts := innlab.Generate(innlab.GenOptions{Count: 30, Seed: seed, Size: 300})
			if err := inst.Inject(arts); err != nil {
				t.Fatal(err)
			}
			work := feed + ".work"
			if err := os.Rename(feed, work); err != nil {
				t.Fatal(err)
			}
			if err := fl.f.Flush(context.Background(), "peer"); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(work)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range arts {
				if !strings.Contains(string(b), " "+a.MessageID+"\n") {
					t.Errorf("%s not in the flushed file", a.MessageID)
				}
			}
			if _, err := os.Stat(feed); err != nil {
				t.Errorf("innd did not start a new feed file: %v", err)
			}
			os.Remove(work)

			err = fl.f.Flush(context.Background(), "nosuchsite")
			if !errors.Is(err, ErrNoSuchSite) {
				t.Errorf("unknown site: %v", err)
			}
			if ents, _ := filepath.Glob(filepath.Join(inst.PathRun, "nxmit*")); len(ents) > 0 {
				t.Errorf("reply sockets left: %v", ents)
			}
		})
	}

	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, fl := range flushers {
		start := time.Now()
		err := fl.f.Flush(context.Background(), "peer")
		var fe *FlushError
		if !errors.As(err, &fe) || !fe.Temporary() {
			t.Errorf("%s with innd stopped: %T %v", fl.name, err, err)
			continue
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("%s took %v to notice innd is gone", fl.name, time.Since(start))
		}
		t.Logf("%s, innd stopped: %v", fl.name, err)
	}
}
