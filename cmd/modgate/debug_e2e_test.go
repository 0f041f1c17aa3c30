package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDebugListen checks that --debug-listen serves net/http/pprof on its own
// listener, and that the main listener never does, with or without it.
func TestDebugListen(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	mg := startModgate(t, "--data", t.TempDir(), "--upstream", "off", "--sumdb", "off", "--debug-listen", "127.0.0.1:0")
	if !mg.waitLog("debug listening", 10*time.Second) {
		t.Fatalf("no debug listener logged:\n%s", mg.Logs())
	}
	var addr string
	for _, line := range strings.Split(mg.Logs(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "debug listening") {
			addr = rec.Addr
		}
	}
	if code, body := get("http://" + addr + "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("debug listener /debug/pprof/: %d\n%.300s", code, body)
	}
	if code, body := get("http://" + addr + "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("debug listener heap profile: %d\n%.300s", code, body)
	}
	plain := startModgate(t, "--data", t.TempDir(), "--upstream", "off", "--sumdb", "off")
	for _, srv := range []*server{mg, plain} {
		if code, body := get(srv.URL + "/debug/pprof/"); code == 200 || strings.Contains(body, "goroutine") {
			t.Errorf("main listener %s/debug/pprof/ answered %d:\n%.300s", srv.URL, code, body)
		}
	}
	if strings.Contains(plain.Logs(), "debug listening") {
		t.Errorf("a debug listener without --debug-listen")
	}
}
