package batch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestEstimateCompressedSample(t *testing.T) {
	// A compressed backlog bigger than the sample is estimated from it.
	dir := t.TempDir()
	var z bytes.Buffer
	enc, _ := zstd.NewWriter(&z, zstd.WithEncoderLevel(zstd.SpeedFastest))
	// Varied lines so that the file compresses to more than the sample.
	for i := 0; i < 400000; i++ {
		fmt.Fprintf(enc, "@0200%032X@ <%x.%d@lab.test>\n", uint64(i)*2654435761, uint64(i)*11400714819323198485, i)
	}
	enc.Close()
	path := filepath.Join(dir, "s.B.00000001.zst")
	os.WriteFile(path, z.Bytes(), 0o644)
	if z.Len() <= zstSample {
		t.Skipf("compressed to %d bytes, not more than the sample", z.Len())
	}
	e := EstimateFile(File{Path: path, Size: int64(z.Len()), Compressed: true})
	if e.Exact || e.Lines < 360000 || e.Lines > 440000 {
		t.Errorf("estimate %+v, want about 400000 lines", e)
	}
}
