package testkit

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read by S3.
const (
	// EnvRequireS3, set to 1, turns "no S3 server" from a skip into a
	// failure (for CI).
	EnvRequireS3 = "MODGATE_REQUIRE_S3"
	// EnvVersityGW names the versitygw binary; by default it is looked up on
	// PATH, then in $GOBIN, $GOPATH/bin and $HOME/go/bin.
	EnvVersityGW = "MODGATE_VERSITYGW"
)

// VersityGWVersion is the S3 server the tests run (`go install
// github.com/versity/versitygw/cmd/versitygw@` + this; .ci/run installs it).
const VersityGWVersion = "v1.8.0"

const s3HowTo = "To run them, install the S3 server: go install github.com/versity/versitygw/cmd/versitygw@" + VersityGWVersion +
	" (or set " + EnvVersityGW + " to its path). Set " + EnvRequireS3 + "=1 to make this a failure instead of a skip."

// S3Server is a real S3-compatible server (versitygw, posix backend on a
// temporary directory) on 127.0.0.1, with one empty bucket.
type S3Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string

	bin  string
	addr string
	dir  string // the posix backend's root: buckets are directories
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the process's end
}

// S3 starts a versitygw server for t alone (stopped when t ends) with the
// bucket "modgate". Without the binary it skips t loudly, or fails it if
// MODGATE_REQUIRE_S3=1.
func S3(t testing.TB) *S3Server {
	t.Helper()
	bin, err := versityGW()
	if err != nil {
		msg := fmt.Sprintf("S3 server UNAVAILABLE: %v\n%s", err, s3HowTo)
		if os.Getenv(EnvRequireS3) == "1" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n*** testkit: SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip("SKIPPED: " + msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	s := &S3Server{
		Endpoint: "http://" + addr, Region: "us-east-1", Bucket: "modgate",
		AccessKey: "modgatetest" + randomHex(4), SecretKey: randomHex(20),
		bin: bin, addr: addr, dir: filepath.Join(dir, "data"), log: filepath.Join(dir, "versitygw.log"),
	}
	if err := os.MkdirAll(filepath.Join(s.dir, s.Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// versityGW finds the binary.
func versityGW() (string, error) {
	if p := os.Getenv(EnvVersityGW); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("%s=%s: not an executable file", EnvVersityGW, p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(d)[0], "bin"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, "go", "bin"))
	}
	return lookPathIn("versitygw", dirs...)
}

// Start starts the server (again, after Stop: same address, same data) and
// waits until it accepts connections.
func (s *S3Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "--port", s.addr, "--quiet", "--keep-alive", "posix", s.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("testkit: starting versitygw: %w", err)
	}
	logf.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(s.log)
			return fmt.Errorf("testkit: versitygw exited at start (%v):\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("testkit: versitygw did not listen on %s within 30s", s.addr)
		}
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

// Stop stops the server (a no-op if it is not running).
func (s *S3Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited // its listening socket is closed: Start can listen again
	s.cmd = nil
}

// URL is the blob store URL of prefix in the bucket (for --blob-store).
func (s *S3Server) URL(prefix string) string {
	q := url.Values{"endpoint": {s.Endpoint}, "region": {s.Region}, "path_style": {"true"}}
	p := ""
	if prefix != "" {
		p = "/" + prefix
	}
	return "s3://" + s.Bucket + p + "?" + q.Encode()
}

// Env is what a process needs to reach the server: the AWS SDK's credential
// and region variables, and no way to other credentials (no shared files, no
// instance metadata: nothing leaves 127.0.0.1).
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_REGION=" + s.Region,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SetEnv sets Env in this process for the rest of t.
func (s *S3Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Path is the file that holds the object named key in the bucket (the posix
// backend keeps objects as files): tests change it behind modgate's back.
func (s *S3Server) Path(key string) string {
	return filepath.Join(s.dir, s.Bucket, filepath.FromSlash(key))
}

// Log returns what the server printed so far (for failure messages).
func (s *S3Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return strconv.Quote(string(b))
}
