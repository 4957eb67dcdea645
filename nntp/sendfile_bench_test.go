package nntp

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"nxmit/nntp/nntptest"
)

// fileBenchFeeder offers n ids cycling over a few stored articles, and hands them over
// as files (fast) or not at all (the copy through the buffer), whatever min says, so
// that a benchmark compares the two paths at each size.
type fileBenchFeeder struct {
	benchFeeder
	arts  [][]byte
	fds   []int
	fast  bool
	least int64 // hand over files of at least this size
}

func (f *fileBenchFeeder) Article(o *Offer, buf []byte) ([]byte, error) {
	// As the spool does: read the stored copy.
	fd := f.fds[o.Ref%int64(len(f.fds))]
	buf = append(buf[:0], make([]byte, len(f.arts[o.Ref%int64(len(f.arts))]))...)
	_, err := syscall.Pread(fd, buf, 0)
	return buf, err
}

func (f *fileBenchFeeder) ArticleFile(o *Offer, _ int64, _ []byte) (FileRange, []byte, bool, error) {
	i := o.Ref % int64(len(f.fds))
	if !f.fast || int64(len(f.arts[i])) < f.least {
		return FileRange{}, nil, false, nil
	}
	return FileRange{FD: f.fds[i], Size: int64(len(f.arts[i]))}, nil, true, nil
}

func (f *fileBenchFeeder) FileUnchanged(o *Offer) error { return nil }

func newFileBenchFeeder(b *testing.B, sizes []int) *fileBenchFeeder {
	f := &fileBenchFeeder{benchFeeder: benchFeeder{n: b.N}}
	dir := b.TempDir()
	for i, size := range sizes {
		art := wireArticle("<bench@nntp.example>", i, size)
		p := filepath.Join(dir, strconv.Itoa(i))
		if err := os.WriteFile(p, art, 0o644); err != nil {
			b.Fatal(err)
		}
		fd, err := syscall.Open(p, syscall.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { syscall.Close(fd) })
		f.arts = append(f.arts, art)
		f.fds = append(f.fds, fd)
	}
	return f
}

func cpuTime() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func benchFiles(b *testing.B, f *fileBenchFeeder) {
	c := streamClient(b, nntptest.NewServer(b, nntptest.Script{CountOnly: true}), Config{})
	total := 0
	for _, a := range f.arts {
		total += len(a)
	}
	b.SetBytes(int64(total / len(f.arts)))
	b.ResetTimer()
	cpu := cpuTime()
	st, err := c.Stream(context.Background(), f, StreamConfig{Mode: NeverCheck})
	cpu = cpuTime() - cpu
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if st.Accepted != int64(b.N) {
		b.Fatalf("accepted %d of %d", st.Accepted, b.N)
	}
	// The process's CPU: the in-process sink's share is the same for both paths.
	b.ReportMetric(cpu*1e6/float64(b.N), "cpu-µs/article")
}

// BenchmarkSendfile compares sendfile with the copy through the write buffer, for
// articles of one size (where SendfileMin pays) and for mixed sizes as innlab's Mixed
// draws them (70 % 1–4 KB, 25 % 10–100 KB, 5 % 0.5–2 MB) with the SendfileMin cut.
func BenchmarkSendfile(b *testing.B) {
	if !sendfileSupported {
		b.Skip("no sendfile here")
	}
	for _, size := range []int{16 << 10, 64 << 10, 128 << 10, 256 << 10, 1 << 20} {
		for _, fast := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%dK/sendfile=%v", size>>10, fast), func(b *testing.B) {
				f := newFileBenchFeeder(b, []int{size})
				f.fast = fast
				benchFiles(b, f)
			})
		}
	}
	r := rand.New(rand.NewSource(14))
	var mixed []int
	for range 100 {
		switch p := r.Intn(100); {
		case p < 70:
			mixed = append(mixed, 1024+r.Intn(3072))
		case p < 95:
			mixed = append(mixed, 10240+r.Intn(92160))
		default:
			mixed = append(mixed, 512<<10+r.Intn(1536<<10))
		}
	}
	for _, least := range []int64{0, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("mixed/sendfile-from=%dK", least>>10), func(b *testing.B) {
			f := newFileBenchFeeder(b, mixed)
			f.fast, f.least = least > 0, least
			benchFiles(b, f)
		})
	}
}
