package blob

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"testing"
)

// BenchmarkRead reads a blob file to io.Discard as is and through the
// verifying Reader: the cost of the check alone (SHA-256 and the copy), with
// no network in the way.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{1 << 20, 22 << 20} {
		d, _ := Open(b.TempDir())
		data := make([]byte, size)
		rand.New(rand.NewSource(1)).Read(data)
		w, _ := d.Create()
		w.Write(data)
		key, n, err := w.Commit()
		if err != nil {
			b.Fatal(err)
		}
		for _, verified := range []bool{false, true} {
			name := fmt.Sprintf("%dMiB/plain", size>>20)
			if verified {
				name = fmt.Sprintf("%dMiB/verified", size>>20)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(n)
				for b.Loop() {
					f, _ := os.Open(d.path(key))
					var r io.Reader = f
					if verified {
						r = NewReader(f, key, n)
					}
					if _, err := io.Copy(io.Discard, struct{ io.Reader }{r}); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
			})
		}
	}
}
