package xmit

import (
	"os"
	"path/filepath"
	"testing"
)

// A run that crashed after the batch was removed (every line done or deferred) and before
// its deferred lines were written back leaves BATCH.nxmit-defer alone: the next run
// recovers it as the batch, its partial last line cut, and sends it.
func TestInnxmitStrandedDeferRecovered(t *testing.T) {
	for _, crashedMidRecovery := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "peer.nntp")
		dpath := path + DeferSuffix
		os.WriteFile(dpath, []byte("a1 <1@x>\na2 <2@x>\na3 <3"), 0o644)
		if crashedMidRecovery {
			// Both names on one file, the partial line already cut.
			os.WriteFile(dpath, []byte("a1 <1@x>\na2 <2@x>\n"), 0o644)
			if err := os.Link(dpath, path); err != nil {
				t.Fatal(err)
			}
		}
		b, err := OpenInnxmitBatch(path)
		if err != nil {
			t.Fatalf("crashed mid-recovery %v: %v", crashedMidRecovery, err)
		}
		if err := b.OpenDeferrals(); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if string(data) != "a1 <1@x>\na2 <2@x>\n" {
			t.Errorf("crashed mid-recovery %v: batch %q, want the two complete deferred lines once", crashedMidRecovery, data)
		}
		if d, _ := os.ReadFile(dpath); len(d) != 0 {
			t.Errorf("deferral file still holds %q", d)
		}
		b.Close()
	}
}

// innxmit -a: the batch is rewritten even when nothing was done (innxmit then says
// "rewriting batch file and exiting", not "nothing sent -- leaving batchfile alone").
func TestInnxmitRewriteAlways(t *testing.T) {
	for _, always := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "peer.nntp")
		os.WriteFile(path, []byte("a1 <1@x>\na2 <2@x>\n"), 0o644)
		before, _ := os.Stat(path)
		b, err := OpenInnxmitBatch(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.OpenDeferrals(); err != nil {
			t.Fatal(err)
		}
		res, err := b.Rewrite(always)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		after, _ := os.Stat(path)
		data, _ := os.ReadFile(path)
		if res.Changed != always || os.SameFile(before, after) == always || string(data) != "a1 <1@x>\na2 <2@x>\n" || res.Unsent != 2 {
			t.Errorf("always=%v: %+v, same file %v, %q", always, res, os.SameFile(before, after), data)
		}
	}
}
