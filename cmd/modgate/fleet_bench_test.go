package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// logTime returns the time of the first JSON log line with message msg and
// key key.
func logTime(logs, msg, key string) (time.Time, bool) {
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Time time.Time
			Msg  string
			Key  string
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Key == key {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}

// TestFleetLeaseCost measures, with MODGATE_FLEET_BENCH=1, what coordinating
// fetches costs two replicas on one PostgreSQL, with an upstream that takes
// 20 ms per request: the latency a replica that waits for the other's fetch
// adds (both asked for one cold zip at once), and the time to fetch 100 cold
// zips each asked of both replicas at once. The replicas share one bucket.
func TestFleetLeaseCost(t *testing.T) {
	if os.Getenv("MODGATE_FLEET_BENCH") != "1" {
		t.Skip("set MODGATE_FLEET_BENCH=1 to measure")
	}
	f := newFleet(t)
	const waits, cold = 30, 100
	var mods []*testkit.Built
	for i := range waits + cold {
		mods = append(mods, testkit.Build(t, testkit.Module{Path: fmt.Sprintf("example.com/m%03d", i), Version: "v1.0.0",
			Files: map[string]string{"m.go": fmt.Sprintf("package m\n\nconst N = %d\n", i)}}))
	}
	up := testkit.NewUpstream(t, mods...)
	type arrival struct {
		path string
		once sync.Once
		ch   chan struct{}
	}
	var watch atomic.Pointer[arrival] // signals when upstream gets path
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if a := watch.Load(); a != nil && r.URL.Path == a.path {
			a.once.Do(func() { close(a.ch) })
		}
		time.Sleep(20 * time.Millisecond)
		return false
	}
	a := f.start(t, up.URL, "--log-level", "debug", "--fetch-lease-ttl", "30s")
	b := f.start(t, up.URL, "--log-level", "debug", "--fetch-lease-ttl", "30s")
	zip := func(i int) string { return fmt.Sprintf("/example.com/m%03d/@v/v1.0.0.zip", i) }
	timed := func(url string, start <-chan struct{}, d *time.Duration) {
		<-start
		t0 := time.Now()
		code, _, err := get(url)
		*d = time.Since(t0)
		if err != nil || code != 200 {
			t.Errorf("GET %s: %d %v", url, code, err)
		}
	}

	// The latency a waiting replica adds: A is asked first and holds the
	// lease; B is asked once A's fetch reached upstream, and waits. What B
	// adds is the time from A's completion (its log) to B's answer.
	var added []time.Duration
	for i := range waits {
		path := zip(i)
		arrived := &arrival{path: path, ch: make(chan struct{})}
		watch.Store(arrived)
		done := make(chan struct{})
		go func() {
			defer close(done)
			get(a.URL + path)
		}()
		<-arrived.ch
		code, _, err := get(b.URL + path)
		end := time.Now()
		<-done
		if err != nil || code != 200 {
			t.Fatalf("waiting replica: %d %v", code, err)
		}
		completed, ok := logTime(a.Logs(), "fetch lease completed", fmt.Sprintf("zip example.com/m%03d@v1.0.0", i))
		if !ok {
			t.Fatalf("no lease completion of %s in A's log (run with the build under test)", path)
		}
		added = append(added, end.Sub(completed))
	}
	slices.Sort(added)
	t.Logf("a waiting replica answers after the holder's completion: median %v, p90 %v, max %v (%d cold zips; woken by NOTIFY %d times, by polling %d times)",
		added[len(added)/2], added[len(added)*9/10], added[len(added)-1], waits,
		strings.Count(b.Logs(), `"woken_by":"notify"`), strings.Count(b.Logs(), `"woken_by":"poll"`))
	// 100 cold keys over two replicas.
	start := make(chan struct{})
	var wg sync.WaitGroup
	durations := make([]time.Duration, 2*cold)
	for i := range cold {
		wg.Add(2)
		go func() { defer wg.Done(); timed(a.URL+zip(waits+i), start, &durations[2*i]) }()
		go func() { defer wg.Done(); timed(b.URL+zip(waits+i), start, &durations[2*i+1]) }()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d cold zips, each asked of both replicas at once (%d requests): %v", cold, 2*cold, time.Since(t0))
	fetches := 0
	for i := range waits + cold {
		fetches += up.Requests(zip(i))
	}
	t.Logf("upstream zip fetches: %d for %d zips", fetches, waits+cold)
	if fetches != waits+cold {
		t.Errorf("upstream zip fetches = %d, want %d", fetches, waits+cold)
	}
}
