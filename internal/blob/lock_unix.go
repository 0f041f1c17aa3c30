//go:build unix

package blob

import (
	"errors"
	"os"
	"syscall"
)

// fileLocks is true where tryLock tells a live owner from a dead one.
const fileLocks = true

// tryLock takes an exclusive lock on f without waiting: false if another open
// file (in any process) holds it.
func tryLock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		}
		return false, err
	}
}
