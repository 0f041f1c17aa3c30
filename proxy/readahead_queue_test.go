package proxy

import (
	"sync"
	"testing"

	"golang.org/x/mod/modfile"
)

// The read-ahead queue runs its jobs oldest first, at most workers at once,
// refuses what exceeds its bound, and drops what waits when stopped.
func TestAheadQueue(t *testing.T) {
	var bg sync.WaitGroup
	q := &aheadQueue{workers: 1, max: 3, bg: &bg}
	release := make(chan struct{})
	started := make(chan struct{})
	var mu sync.Mutex
	var ran []int
	job := func(i int) func() {
		return func() {
			if i == 0 {
				close(started)
				<-release // hold the only worker
			}
			mu.Lock()
			ran = append(ran, i)
			mu.Unlock()
		}
	}
	if !q.add(job(0)) {
		t.Fatal("the first job was refused")
	}
	<-started
	for i := 1; i <= 3; i++ {
		if !q.add(job(i)) {
			t.Fatalf("job %d refused with room in the queue", i)
		}
	}
	if q.add(job(4)) {
		t.Error("a job beyond the queue's bound was taken")
	}
	close(release)
	bg.Wait()
	if want := []int{0, 1, 2, 3}; len(ran) != len(want) || ran[0] != 0 || ran[1] != 1 || ran[2] != 2 || ran[3] != 3 {
		t.Errorf("ran %v, want %v (oldest first)", ran, want)
	}

	// Stopped: what waits is dropped, what comes is refused.
	ran = nil
	release = make(chan struct{})
	started = make(chan struct{})
	q.add(job(0))
	<-started
	q.add(job(1))
	q.stop()
	if q.add(job(2)) {
		t.Error("a stopped queue took a job")
	}
	close(release)
	bg.Wait()
	if len(ran) != 1 || ran[0] != 0 {
		t.Errorf("after stop ran %v, want only the job already running", ran)
	}
}

// unpruned follows the go command's graph pruning: go.mod files without a
// go directive or before 1.17 have their requirements loaded.
func TestUnpruned(t *testing.T) {
	for text, want := range map[string]bool{
		"module m\n":               true,
		"module m\n\ngo 1.12\n":    true,
		"module m\n\ngo 1.16\n":    true,
		"module m\n\ngo 1.17\n":    false,
		"module m\n\ngo 1.21.0\n":  false,
		"module m\n\ngo 1.22rc1\n": false,
		"module m\n\ngo 1.9\n":     true,
		"module m\n\ngo 1.26\n":    false,
		"module m\n\ngo 1.16.15\n": true,
		"module m\n\ngo 2.0\n":     false,
	} {
		f, err := modfile.ParseLax("go.mod", []byte(text), nil)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := unpruned(f); got != want {
			t.Errorf("unpruned(%q) = %v, want %v", text, got, want)
		}
	}
}
