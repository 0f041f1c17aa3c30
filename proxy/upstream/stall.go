package upstream

import (
	"fmt"
	"sync/atomic"
	"time"
)

// stallWatch enforces a minimum transfer rate on a body: over each window of
// time spent waiting inside Read (time the consumer spends elsewhere does not
// count), the upstream must deliver at least need bytes, else the read is
// aborted with an ErrTimeout error. With a minimum rate of 1 byte per window
// this is a plain idle timeout; with a higher one, a trickle (1 byte/s) that
// would reset an idle timer forever is cut after one window.
//
// Use: before() ahead of each Read, after() once it returns. Not safe for
// concurrent Reads; stop() may be called at any time.
type stallWatch struct {
	where   string
	window  time.Duration
	minRate int64 // bytes per second; 0: idle timeout only
	need    int64 // bytes per window
	left    time.Duration
	got     int64
	timer   *time.Timer
	pending atomic.Pointer[error] // cause the timer reports if it fires
	start   time.Time
}

// newStallWatch returns a watch that calls abort(cause) from a timer
// goroutine when a Read waits past the end of a window that has not seen
// enough bytes. abort must make the waiting Read return.
func newStallWatch(where string, window time.Duration, minRate int64, abort func(cause error)) *stallWatch {
	s := &stallWatch{where: where, window: window, minRate: minRate, left: window}
	s.need = max(1, int64(float64(minRate)*window.Seconds()))
	s.timer = time.AfterFunc(time.Hour, func() {
		if p := s.pending.Load(); p != nil {
			abort(*p)
		}
	})
	s.timer.Stop()
	return s
}

// cause describes the window's failure.
func (s *stallWatch) cause() error {
	if s.got == 0 {
		return fmt.Errorf("%w: %s delivered no data for %v", ErrTimeout, s.where, s.window)
	}
	return fmt.Errorf("%w: %s delivered %d bytes in %v, below the minimum transfer rate of %d bytes/s", ErrTimeout, s.where, s.got, s.window, s.minRate)
}

func (s *stallWatch) before() {
	err := s.cause()
	s.pending.Store(&err)
	s.start = time.Now()
	s.timer.Reset(max(s.left, time.Millisecond))
}

// after accounts for a Read that returned n bytes; it returns an error when
// the window is used up without enough bytes.
func (s *stallWatch) after(n int) error {
	s.timer.Stop()
	s.left -= time.Since(s.start)
	s.got += int64(n)
	if s.got >= s.need {
		s.got, s.left = 0, s.window
		return nil
	}
	if s.left <= 0 {
		return s.cause()
	}
	return nil
}

func (s *stallWatch) stop() { s.timer.Stop() }
