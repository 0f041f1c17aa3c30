//go:build unix

// Package filelock takes advisory locks on open files (flock), which the
// kernel releases when the process that holds them dies: a lock file tells a
// live owner from a dead one.
package filelock

import (
	"errors"
	"os"
	"syscall"
)

// Supported is true where TryLock tells a live owner from a dead one.
const Supported = true

// TryLock takes an exclusive lock on f without waiting: false if another open
// file (in any process) holds it. The lock lasts until f is closed.
func TryLock(f *os.File) (bool, error) {
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
