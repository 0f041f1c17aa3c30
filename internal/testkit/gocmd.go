package testkit

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	goCacheOnce sync.Once
	goCache     string
)

// hostGoCache is the build cache of the go command on this machine, shared with
// the tests' go commands so they do not rebuild the standard library.
func hostGoCache(t testing.TB) string {
	goCacheOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOCACHE").Output()
		if err == nil {
			goCache = strings.TrimSpace(string(out))
		}
	})
	if goCache == "" || goCache == "off" {
		return filepath.Join(os.TempDir(), "modgate-test-gocache")
	}
	return goCache
}

// GoEnv is a clean environment for running the go command against a module
// proxy at goproxy: none of the host's GO* settings, a fresh GOPATH and
// GOMODCACHE under dir, GOFLAGS=-modcacherw, the local toolchain only. extra
// entries ("K=V") are appended and win.
func GoEnv(t testing.TB, dir, goproxy string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"GOPATH=" + filepath.Join(dir, "gopath"),
		"GOMODCACHE=" + filepath.Join(dir, "modcache"),
		"GOCACHE=" + hostGoCache(t),
		"GOENV=off",
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local",
		"GO111MODULE=on",
		"GOPROXY=" + goproxy,
		"GOPRIVATE=",
		"GONOPROXY=",
		"GONOSUMDB=",
		"GONOSUMCHECK=",
		"GOINSECURE=",
		"GOVCS=",
		"CGO_ENABLED=0",
	}
	return append(env, extra...)
}

// RunGo runs the go command in dir with env and returns its combined output;
// the test fails if it fails, unless wantErr.
func RunGo(t testing.TB, dir string, env []string, wantErr bool, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && !wantErr {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	if err == nil && wantErr {
		t.Fatalf("go %s succeeded, want failure\n%s", strings.Join(args, " "), out.String())
	}
	return out.String()
}

// Offline makes the default HTTP transport of this test binary refuse every
// address that is not loopback, so no test can reach the internet by accident.
func Offline() {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errNotLoopback}
		}
		return d.DialContext(ctx, network, addr)
	}
}

type offlineError struct{}

func (offlineError) Error() string { return "tests may only dial loopback addresses" }

var errNotLoopback = offlineError{}
