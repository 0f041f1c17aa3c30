package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// TestReplicasFetchOnce runs two modgate processes on one PostgreSQL database
// and one blob directory, sends 50 concurrent requests for one uncached zip to
// each, and checks that upstream saw exactly one fetch and every client got the
// same bytes.
func TestReplicasFetchOnce(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	noise := make([]byte, 256<<10)
	rand.Read(noise)
	b := testkit.Build(t, testkit.Module{Path: "example.com/shared", Version: "v1.0.0",
		Files: map[string]string{"data.bin": string(noise)}})
	up := testkit.NewUpstream(t, b)
	release := make(chan struct{})
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		<-release // hold the first fetch until every client waits
		return false
	}
	data := t.TempDir()
	args := []string{"--data", data, "--database", dsn, "--upstream", up.URL, "--sumdb", "off"}
	replicas := []*server{startModgate(t, args...), startModgate(t, args...)}

	const perReplica = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for _, mg := range replicas {
		for i := 0; i < perReplica; i++ {
			wg.Add(1)
			go func(url string) {
				defer wg.Done()
				resp, err := http.Get(url + "/example.com/shared/@v/v1.0.0.zip")
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Equal(body, b.Zip) {
					mu.Lock()
					failures = append(failures, resp.Status)
					mu.Unlock()
				}
			}(mg.URL)
		}
	}
	time.Sleep(300 * time.Millisecond) // let requests reach both replicas; the assertion does not depend on it
	close(release)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d clients failed, first: %s", len(failures), 2*perReplica, failures[0])
	}
	if n := up.Requests("/example.com/shared/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("upstream saw %d zip fetches from two replicas, want 1", n)
	}
}
