package upstream

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/module"
	"golang.org/x/sync/semaphore"
)

// direct fetches from version control by running the go command with
// GOPROXY=direct, as the go command itself does for a "direct" entry.
//
// Each run gets a fresh temporary directory under workDir holding a minimal
// go.mod, so no go.mod or go.work around workDir is used. Runs share one
// module cache (workDir/modcache), which the go command locks itself, so a
// repository is cloned once and later versions are fetched incrementally.
// At most DirectMaxPerHost runs per module host and DirectMaxTotal in all
// run at once; a request waits for its host's slot before it takes one of
// the shared ones, so requests queued for one slow host hold no shared slot.
//
// Each run reaches the network only through its own egressProxy; see
// directnet.go for how, and why that confines the go command and git.
type direct struct {
	goCommand string // "" means "go" on PATH
	workDir   string // absolute
	env       []string
	timeout   time.Duration
	sem       *semaphore.Weighted
	hosts     *hostLimiter
	dialer    *egressDialer

	roots         *x509.CertPool
	headerTimeout time.Duration
	idleTimeout   time.Duration
	minRate       int64
}

// goModule is the part of `go list -m -json` and `go mod download -json`
// output that direct uses.
type goModule struct {
	Path     string
	Version  string
	Versions []string
	Time     *time.Time
	GoMod    string
	Zip      string
	Error    json.RawMessage // a string (go mod download) or {"Err": "..."} (go list -e)
}

// infoJSON is the GOPROXY protocol's .info and @latest body.
type infoJSON struct {
	Version string
	Time    *time.Time `json:",omitempty"`
}

func (d *direct) fetch(ctx context.Context, req Request) (*Response, error) {
	goCmd, err := d.lookPath()
	if err != nil {
		return nil, err
	}
	// The go command fetches https://<host>/...?go-get=1 first. Go's
	// net/http bypasses any proxy for a loopback IP literal, so such a
	// host must be refused here, before the child runs; for other hosts
	// this only answers sooner than the egress proxy would.
	host, _, _ := strings.Cut(strings.ToLower(req.Path), "/")
	if _, err := d.dialer.allowed(ctx, host); err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			return nil, fmt.Errorf("direct: %s: %w", req.Path, refused)
		}
		// A lookup failure: let the go command say what it makes of it
		// (its connections go through the egress proxy, which checks
		// again).
	}
	release, err := d.hosts.acquire(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("direct: waiting for a go command slot for host %s: %w", host, err)
	}
	defer release()
	if err := d.sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("direct: waiting for a go command slot: %w", err)
	}
	defer d.sem.Release(1)

	switch req.Kind {
	case List:
		// -retracted: the protocol's list includes retracted versions; the go
		// command filters them itself. -versions lists tags only, never
		// pseudo-versions.
		m, err := d.run(ctx, goCmd, "list", "-m", "-versions", "-retracted", "-json", req.Path+"@latest")
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		for _, v := range m.Versions {
			if !module.IsPseudoVersion(v) {
				buf.WriteString(v)
				buf.WriteByte('\n')
			}
		}
		return memResponse(buf.Bytes(), req.Kind)
	case Latest, Info:
		q := req.Version
		if req.Kind == Latest {
			q = "latest"
		}
		m, err := d.run(ctx, goCmd, "list", "-m", "-json", req.Path+"@"+q)
		if err != nil {
			return nil, err
		}
		if m.Version == "" {
			return nil, fmt.Errorf("direct: go list -m %s@%s reported no version", req.Path, q)
		}
		data, err := json.Marshal(infoJSON{Version: m.Version, Time: m.Time})
		if err != nil {
			return nil, fmt.Errorf("direct: encoding info: %w", err)
		}
		return memResponse(append(data, '\n'), req.Kind)
	case Mod:
		// go list -m reads (and caches) the go.mod of the version it resolves
		// without downloading the zip; fall back to go mod download if it did
		// not name the file.
		m, err := d.run(ctx, goCmd, "list", "-m", "-json", req.Path+"@"+req.Version)
		if err != nil {
			return nil, err
		}
		if m.GoMod == "" || m.Version != req.Version {
			if m, err = d.run(ctx, goCmd, "mod", "download", "-json", req.Path+"@"+req.Version); err != nil {
				return nil, err
			}
		}
		return d.openCached(m, m.GoMod, req)
	case Zip:
		m, err := d.run(ctx, goCmd, "mod", "download", "-json", req.Path+"@"+req.Version)
		if err != nil {
			return nil, err
		}
		return d.openCached(m, m.Zip, req)
	}
	return nil, fmt.Errorf("direct: unknown kind %q", req.Kind)
}

// lookPath finds the go command and git. Its error never wraps
// fs.ErrNotExist: a missing tool is a server problem, not a missing module.
func (d *direct) lookPath() (string, error) {
	goCmd := d.goCommand
	if goCmd == "" {
		goCmd = "go"
	}
	p, err := exec.LookPath(goCmd)
	if err != nil {
		return "", fmt.Errorf("direct mode needs the go command and git on the host: %v (install Go or set the go command's path, or remove \"direct\" from the upstream lists)", err)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return "", fmt.Errorf("direct mode needs the go command and git on the host: %v (install git, or remove \"direct\" from the upstream lists)", err)
	}
	return p, nil
}

// openCached opens a file named by the go command's output, in the module
// cache under workDir, and streams it.
func (d *direct) openCached(m goModule, file string, req Request) (*Response, error) {
	where := "direct " + req.Path + "@" + req.Version + " (" + string(req.Kind) + ")"
	if m.Version != req.Version {
		return nil, fmt.Errorf("%s: the go command resolved version %q", where, m.Version)
	}
	if file == "" || !filepath.IsAbs(file) {
		return nil, fmt.Errorf("%s: the go command named no %s file", where, req.Kind)
	}
	if rel, err := filepath.Rel(d.workDir, file); err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("%s: the go command named a file outside the work directory", where)
	}
	f, err := os.Open(file)
	if err != nil {
		// The go command just reported the file, so a missing one is not
		// "module not found": do not wrap fs.ErrNotExist.
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	return fileResponse(f, req.Kind, where, "direct")
}

func memResponse(data []byte, k Kind) (*Response, error) {
	where := "direct (" + string(k) + ")"
	if int64(len(data)) > k.maxSize() {
		return nil, sizeError(where, k, int64(len(data)))
	}
	b := &body{rc: nopCloser{bytes.NewReader(data)}, limit: k.maxSize(), kind: k, where: where}
	return &Response{Body: b, Size: int64(len(data)), Source: "direct"}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// Limits on captured go command output: a list of many versions is the
// largest legitimate stdout.
const (
	maxDirectStdout = 32 << 20
	maxDirectStderr = 64 << 10
)

// run runs the go command with args and decodes its JSON output.
func (d *direct) run(ctx context.Context, goCmd string, args ...string) (goModule, error) {
	// Messages show the command without its target, which the caller's
	// error context already names.
	target := args[len(args)-1]
	cmdline := "go " + strings.Join(args[:len(args)-1], " ")
	var m goModule
	modcache := filepath.Join(d.workDir, "modcache")
	gopath := filepath.Join(d.workDir, "gopath")
	gocache := filepath.Join(d.workDir, "gocache")
	runs := filepath.Join(d.workDir, "run")
	for _, dir := range []string{modcache, gopath, gocache, runs} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return m, fmt.Errorf("direct: %w", err)
		}
	}
	tmp, err := os.MkdirTemp(runs, "go-")
	if err != nil {
		return m, fmt.Errorf("direct: %w", err)
	}
	defer os.RemoveAll(tmp)
	// A go.mod of its own keeps the go command from using any go.mod or
	// go.work above workDir; the go command does not modify it for -m
	// queries.
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module modgate.invalid/direct\n"), 0o644); err != nil {
		return m, fmt.Errorf("direct: %w", err)
	}

	egress, err := startEgressProxy(d.dialer, d.roots, d.headerTimeout, d.idleTimeout, d.minRate)
	if err != nil {
		return m, err
	}
	defer egress.Close()
	caDir := filepath.Join(tmp, "ca")
	caFile, err := egress.writeCA(caDir)
	if err != nil {
		return m, fmt.Errorf("direct: %w", err)
	}

	timeoutErr := fmt.Errorf("%w: direct: %s %s did not finish within %v", ErrTimeout, cmdline, target, d.timeout)
	ctx, cancel := context.WithTimeoutCause(ctx, d.timeout, timeoutErr)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = tmp
	cmd.Env = d.environ(modcache, gopath, gocache, egress.URL(), caFile, caDir)
	stdout := &capBuffer{max: maxDirectStdout}
	stderr := &capBuffer{max: maxDirectStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Git children may keep the output pipes open after the go command is
	// killed; do not wait for them forever.
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()

	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, ErrTimeout) {
			return m, cause
		}
		return m, fmt.Errorf("direct: %s: %w", cmdline, cause)
	}
	if stdout.over {
		return m, fmt.Errorf("direct: %s: output exceeds %d bytes", cmdline, maxDirectStdout)
	}
	// go mod download -json reports errors in its JSON and exits 1; decode
	// first.
	jsonErr := json.Unmarshal(stdout.buf.Bytes(), &m)
	msg := m.errorText()
	if msg == "" && runErr != nil {
		msg = strings.TrimSpace(stderr.buf.String())
		if msg == "" {
			msg = runErr.Error()
		}
	}
	if msg != "" {
		// What the egress proxy refused or saw time out says, in modgate's
		// words, why the go command failed.
		cause, note := egress.failure()
		if cause != nil {
			return m, fmt.Errorf("direct (%s %s): %w", cmdline, target, cause)
		}
		return m, directError(cmdline, target, msg, d.workDir, note)
	}
	if jsonErr != nil {
		return m, fmt.Errorf("direct: %s: decoding output: %w", cmdline, jsonErr)
	}
	return m, nil
}

// environ returns the child's environment: the process environment without
// go command settings and without settings that would route around the
// egress proxy at proxyURL, then this package's settings, then d.env (later
// entries win). caFile (in caDir, alone) is the only trusted authority.
func (d *direct) environ(modcache, gopath, gocache, proxyURL, caFile, caDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if isGoVar(name) || isEgressVar(name) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HTTPS_PROXY="+proxyURL, "https_proxy="+proxyURL,
		"HTTP_PROXY="+proxyURL, "http_proxy="+proxyURL,
		"NO_PROXY=", "no_proxy=",
		"SSL_CERT_FILE="+caFile, "SSL_CERT_DIR="+caDir,
		"GIT_SSL_CAINFO="+caFile, "GIT_SSL_CAPATH="+caDir,
		"GIT_ALLOW_PROTOCOL=https",
		"GIT_TERMINAL_PROMPT=0",
		// Command-line level git configuration, above every config file.
		"GIT_CONFIG_COUNT=4",
		"GIT_CONFIG_KEY_0=http.proxy", "GIT_CONFIG_VALUE_0="+proxyURL,
		"GIT_CONFIG_KEY_1=http.sslVerify", "GIT_CONFIG_VALUE_1=true",
		"GIT_CONFIG_KEY_2=http.sslCAInfo", "GIT_CONFIG_VALUE_2="+caFile,
		"GIT_CONFIG_KEY_3=http.sslCAPath", "GIT_CONFIG_VALUE_3="+caDir,
		"GOVCS=*:git", // other tools have their own network stacks
	)
	env = append(env,
		"GOENV=off", // no go env file of the modgate user
		"GO111MODULE=on",
		"GOWORK=off",
		"GOPROXY=direct",
		"GOSUMDB=off", // modgate verifies hashes itself
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local", // never download a toolchain
		"GOMODCACHE="+modcache,
		"GOPATH="+gopath,
		"GOCACHE="+gocache,
	)
	return append(env, d.env...)
}

// isGoVar reports whether name is a go command setting (GOPROXY, GOFLAGS,
// GO111MODULE, ...). GOROOT is kept; names with an underscore after "GO",
// such as GOOGLE_APPLICATION_CREDENTIALS, are not the go command's.
func isGoVar(name string) bool {
	if !strings.HasPrefix(name, "GO") || name == "GOROOT" || strings.Contains(name, "_") {
		return false
	}
	return true
}

func (m goModule) errorText() string {
	if len(m.Error) == 0 || string(m.Error) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(m.Error, &s) == nil {
		return s
	}
	var e struct{ Err string }
	if json.Unmarshal(m.Error, &e) == nil {
		return e.Err
	}
	return string(m.Error)
}

// isEgressVar reports whether name is a setting that could route the
// child's connections around the egress proxy or change whom it trusts.
func isEgressVar(name string) bool {
	switch strings.ToUpper(name) {
	case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD",
		"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
		"GIT_SSL_NO_VERIFY", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_PROXY_COMMAND",
		"GIT_PROXY_SSL_CAINFO", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ALLOW_PROTOCOL",
		"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT":
		return true
	}
	return strings.HasPrefix(name, "GIT_CONFIG_KEY_") || strings.HasPrefix(name, "GIT_CONFIG_VALUE_")
}

// directError turns the go command's error text into an error, marked "not
// found" when directNotFound says so. The text may quote remote content
// (git's "remote:" lines, an HTTP error body a server sent), so only a
// summary is kept: see summariseGoError.
func directError(cmdline, target, msg, workDir string, note error) error {
	notFound := directNotFound(msg)
	bypass := strings.Contains(msg, "x509: certificate signed by unknown authority")
	msg = summariseGoError(msg, target, workDir)
	if bypass {
		// The child trusts only its egress proxy's authority, so this is
		// a connection that went around the proxy: Go's net/http does so
		// for loopback addresses (see directnet.go).
		msg = "modgate refused a connection the go command opened around its egress proxy (Go never proxies loopback addresses, so a go-import meta tag or redirect naming one cannot be fetched in direct mode); the go command said: " + msg
	}
	if note != nil {
		msg += " (modgate's egress proxy: " + note.Error() + ")"
	}
	err := fmt.Errorf("direct (%s): %s", cmdline, msg)
	if notFound {
		return &notExistError{err}
	}
	return err
}

// maxGoErrorLine caps each line kept from the go command's error text.
const maxGoErrorLine = 200

// summariseGoError keeps the go command's first line, and git's own
// "fatal:" line if there is one, each cut to maxGoErrorLine bytes, without
// control characters, and with the work directory's path replaced. It
// drops the "go: " and "<path>@<query>: " prefixes that repeat the caller's
// context. Continuation lines (a server's response body, "remote:" lines)
// are dropped: they are the remote's words, not the go command's.
func summariseGoError(msg, target, workDir string) string {
	lines := strings.Split(strings.ReplaceAll(msg, workDir, "<direct work dir>"), "\n")
	first := strings.TrimPrefix(strings.TrimSpace(lines[0]), "go: ")
	first = strings.TrimPrefix(first, target+": ")
	if p, _, ok := strings.Cut(target, "@"); ok {
		first = strings.TrimPrefix(first, "module "+p+": ")
	}
	kept := []string{first}
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "fatal: ") {
			kept = append(kept, l)
			break
		}
	}
	for i, l := range kept {
		l = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
				return -1
			}
			return r
		}, l)
		if len(l) > maxGoErrorLine {
			l = l[:maxGoErrorLine]
			for !utf8.ValidString(l) {
				l = l[:len(l)-1]
			}
			l += "..."
		}
		kept[i] = l
	}
	return strings.Join(kept, "; ")
}

// directNotFound reports whether the go command's error text says that the
// module or version does not exist. The go command has no machine-readable
// error codes (even its -json errors are text), so matching its messages is
// unavoidable here; this is the only place this package matches error
// strings. The phrases come from cmd/go/internal/modfetch and modload:
// "unknown revision", "no matching versions for query", "invalid version",
// "not found" (also git's "Repository not found"), and HTTP 404/410 texts.
func directNotFound(msg string) bool {
	msg = strings.ToLower(msg)
	if strings.Contains(msg, "executable file not found") {
		return false // a missing tool, not a missing module
	}
	for _, s := range []string{"unknown revision", "no matching versions", "invalid version", "not found", "410 gone"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// capBuffer keeps the first max bytes written and notes whether there were
// more; it never fails a write, so the child is not killed by a full pipe.
type capBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.buf.Write(p[:max(room, 0)])
		c.over = true
		return len(p), nil
	}
	return c.buf.Write(p)
}
