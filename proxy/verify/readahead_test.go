package verify

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

// countingReaderAt counts the reads that reach the file.
type countingReaderAt struct {
	r     io.ReaderAt
	reads int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

// TestReadAhead checks that readAhead answers every read as the file does
// (bytes, count and error, at its end and past it, across its blocks and
// larger than them), and that sequential small reads reach the file once per
// block.
func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*readAheadSize+1234)
	rand.New(rand.NewSource(1)).Read(data)
	file := bytes.NewReader(data)
	ra := &readAhead{r: file, buf: make([]byte, readAheadSize)}
	rng := rand.New(rand.NewSource(2))
	check := func(off int64, n int) {
		t.Helper()
		want := make([]byte, n)
		wn, werr := file.ReadAt(want, off)
		got := make([]byte, n)
		gn, gerr := ra.ReadAt(got, off)
		if gn != wn || (gerr == nil) != (werr == nil) || !bytes.Equal(got[:gn], want[:wn]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; the file gives %d, %v", n, off, gn, gerr, wn, werr)
		}
	}
	size := int64(len(data))
	for _, c := range []struct {
		off int64
		n   int
	}{
		{0, 0}, {0, 1}, {0, readAheadSize}, {1, readAheadSize}, {readAheadSize - 1, 2}, {size - 10, 10},
		{size - 10, 20}, {size, 1}, {size + 5, 1}, {3, 2*readAheadSize + 7}, {size - 1, 1}, {0, len(data)},
	} {
		check(c.off, c.n)
	}
	for range 2000 {
		off := rng.Int63n(size + 100)
		n := rng.Intn(8 << 10)
		if rng.Intn(20) == 0 {
			n = rng.Intn(2 * readAheadSize)
		}
		check(off, n)
	}
	// Sequential 4 KiB reads, as archive/zip's bufio.Reader makes them.
	counting := &countingReaderAt{r: file}
	ra = &readAhead{r: counting, buf: make([]byte, readAheadSize)}
	p := make([]byte, 4<<10)
	for off := int64(0); off < size; off += int64(len(p)) {
		if _, err := ra.ReadAt(p, off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	// One read per block, and one that finds the end of the file.
	if want := int(size/readAheadSize) + 2; counting.reads > want {
		t.Errorf("%d sequential 4 KiB reads reached the file %d times; want at most %d", size/int64(len(p))+1, counting.reads, want)
	}
}
