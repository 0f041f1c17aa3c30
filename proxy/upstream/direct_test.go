package upstream

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDirectNotFound(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{name: "unknown tag", msg: "go: 127.0.0.1/repo.git@v9.9.9: invalid version: unknown revision v9.9.9", want: true},
		{name: "no matching versions", msg: `go: module 127.0.0.1/repo.git/sub: no matching versions for query "latest"`, want: true},
		{name: "git repository not found", msg: "remote: Repository not found.\nfatal: repository 'https://github.com/x/y/' not found", want: true},
		{name: "proxy 404", msg: "reading https://example.com/m/@v/list: 404 Not Found", want: true},
		{name: "proxy 410", msg: "reading https://example.com/m/@v/list: 410 Gone", want: true},
		{name: "post-v1 module path", msg: "go: example.com/m@v2.0.0: invalid version: go.mod has post-v1 module path \"example.com/m/v2\" at revision v2.0.0", want: true},
		{name: "missing git", msg: `go: git: exec: "git": executable file not found in $PATH`, want: false},
		{name: "no protocol", msg: "go: 127.0.0.1/nope.git@latest: no secure protocol found for repository", want: false},
		{name: "auth prompt", msg: "fatal: could not read Username for 'https://github.com': terminal prompts disabled", want: false},
		{name: "timeout", msg: "dial tcp 10.0.0.1:443: i/o timeout", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := directNotFound(tt.msg); got != tt.want {
				t.Errorf("directNotFound(%q) = %v, want %v", tt.msg, got, tt.want)
			}
		})
	}
}

func TestDirectMissingTools(t *testing.T) {
	realGo, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("SKIP: no go command on PATH (%v); cannot test a missing git", err)
	}
	onlyGo := t.TempDir() // a PATH with go but no git
	if err := os.Symlink(realGo, filepath.Join(onlyGo, "go")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		goCmd    string
		path     string // PATH for the test, "" to keep it
		wantText string
	}{
		{name: "absolute go command missing", goCmd: filepath.Join(t.TempDir(), "go"), wantText: "no such file"},
		{name: "go not on PATH", goCmd: "", path: t.TempDir(), wantText: `"go": executable file not found`},
		{name: "git not on PATH", goCmd: "", path: onlyGo, wantText: `"git": executable file not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path != "" {
				t.Setenv("PATH", tt.path)
			}
			r := newTestRouter(t, Options{Public: "direct", GoCommand: tt.goCmd, WorkDir: t.TempDir()})
			_, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Kind: List})
			if err == nil {
				t.Fatal("Fetch succeeded, want an error")
			}
			for _, want := range []string{"direct mode needs the go command and git on the host", tt.wantText} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Fetch error = %q, want it to contain %q", err, want)
				}
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Fetch error %v is fs.ErrNotExist; a missing tool must not look like a missing module", err)
			}
		})
	}
}

// TestDirectGit runs the real go command against a local git repository,
// fully offline. The module path 127.0.0.1/repo.git makes the go command
// use git directly (a path ending in .git needs no ?go-get=1 lookup), and a
// git config given through Options.Env rewrites https://127.0.0.1/ to a
// file:// URL, so neither git nor the go command opens any socket. What this
// does not cover: the go-import meta-tag lookup over HTTPS, and git over
// http(s)/ssh, since those need a host name without a port and a real
// server on port 443 or 80.
func TestDirectGit(t *testing.T) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skipf("SKIP (direct mode untested): git not on PATH: %v", err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("SKIP (direct mode untested): go not on PATH: %v", err)
	}
	root := t.TempDir()
	repo := filepath.Join(root, "srv", "repo")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gitPath, args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(),
			"GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z",
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	const modPath = "127.0.0.1/repo.git"
	const goMod = "module " + modPath + "\n\ngo 1.21\n"
	git("init", "-q", "-b", "main")
	write("go.mod", goMod)
	write("repo.go", "package repo\n")
	git("add", ".")
	git("commit", "-q", "-m", "v1.0.0")
	git("tag", "v1.0.0")
	write("repo.go", "package repo\n\n// V is new.\nconst V = 1\n")
	git("commit", "-q", "-am", "v1.1.0")
	git("tag", "v1.1.0")
	write("extra.go", "package repo\n")
	git("add", ".")
	git("commit", "-q", "-m", "untagged")
	head := git("rev-parse", "HEAD")

	gitConfig := filepath.Join(root, "gitconfig")
	config := "[url \"file://" + filepath.ToSlash(filepath.Join(root, "srv")) + "/\"]\n\tinsteadOf = https://127.0.0.1/\n"
	if err := os.WriteFile(gitConfig, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newTestRouter(t, Options{
		Public:  "off",
		Private: "direct",
		// The loopback host is private here, so this also checks routing
		// to the private list's direct entry.
		PrivatePatterns: "127.0.0.1",
		// Direct mode refuses loopback hosts unless allowed.
		DirectAllow: "127.0.0.1",
		WorkDir:     filepath.Join(root, "work"),
		// git may use file:// here (the insteadOf rewrite above), on top
		// of the https the egress rules allow.
		Env: []string{"GIT_CONFIG_GLOBAL=" + gitConfig, "GIT_CONFIG_NOSYSTEM=1", "GIT_ALLOW_PROTOCOL=https:file"},
	})

	pseudo := "v1.1.1-0.20240102030405-" + head[:12]
	tests := []struct {
		name string
		req  Request
		want outcome
	}{
		{name: "list", req: Request{Path: modPath, Kind: List}, want: outcome{Body: "v1.0.0\nv1.1.0\n", Source: "direct"}},
		{name: "latest", req: Request{Path: modPath, Kind: Latest}, want: outcome{Body: `{"Version":"v1.1.0","Time":"2024-01-02T03:04:05Z"}` + "\n", Source: "direct"}},
		{name: "info", req: Request{Path: modPath, Version: "v1.0.0", Kind: Info}, want: outcome{Body: `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}` + "\n", Source: "direct"}},
		{name: "info of a branch", req: Request{Path: modPath, Version: "main", Kind: Info}, want: outcome{Body: `{"Version":"` + pseudo + `","Time":"2024-01-02T03:04:05Z"}` + "\n", Source: "direct"}},
		{name: "info of a commit prefix", req: Request{Path: modPath, Version: head[:8], Kind: Info}, want: outcome{Body: `{"Version":"` + pseudo + `","Time":"2024-01-02T03:04:05Z"}` + "\n", Source: "direct"}},
		{name: "mod", req: Request{Path: modPath, Version: "v1.0.0", Kind: Mod}, want: outcome{Body: goMod, Source: "direct"}},
		{name: "unknown version info", req: Request{Path: modPath, Version: "v9.9.9", Kind: Info}, want: outcome{Err: "error", NotExist: true}},
		{name: "unknown version zip", req: Request{Path: modPath, Version: "v9.9.9", Kind: Zip}, want: outcome{Err: "error", NotExist: true}},
		{name: "unknown version mod", req: Request{Path: modPath, Version: "v9.9.9", Kind: Mod}, want: outcome{Err: "error", NotExist: true}},
		{name: "no such module in the repo", req: Request{Path: modPath + "/sub", Kind: List}, want: outcome{Err: "error", NotExist: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, resp, err := fetchAll(t.Context(), r, tt.req)
			got := summarise(body, resp, err, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fetch %s mismatch (-want +got):\n%s\nerror: %v", tt.req, diff, err)
			}
			if err != nil {
				t.Logf("error text: %v", err)
			}
		})
	}

	t.Run("mod does not download the zip", func(t *testing.T) {
		zipFile := filepath.Join(root, "work", "modcache", "cache", "download", modPath, "@v", "v1.0.0.zip")
		if _, err := os.Stat(zipFile); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a .mod request, stat %s = %v; want it absent", zipFile, err)
		}
	})

	t.Run("zip", func(t *testing.T) {
		body, resp, err := fetchAll(t.Context(), r, Request{Path: modPath, Version: "v1.1.0", Kind: Zip})
		if err != nil {
			t.Fatalf("Fetch zip: %v", err)
		}
		if resp.Size != int64(len(body)) {
			t.Errorf("Size = %d, want %d", resp.Size, len(body))
		}
		zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
		if err != nil {
			t.Fatalf("reading zip: %v", err)
		}
		var names []string
		contents := map[string]string{}
		for _, f := range zr.File {
			names = append(names, f.Name)
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			contents[f.Name] = string(data)
		}
		sort.Strings(names)
		want := []string{modPath + "@v1.1.0/go.mod", modPath + "@v1.1.0/repo.go"}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("zip files mismatch (-want +got):\n%s", diff)
		}
		if got := contents[modPath+"@v1.1.0/repo.go"]; !strings.Contains(got, "const V = 1") {
			t.Errorf("repo.go in the zip = %q, want the v1.1.0 content", got)
		}
	})

	t.Run("public list never runs direct for a private path", func(t *testing.T) {
		// Public is "off": a non-private path must fail without the go
		// command, proving the lists are separate.
		_, err := r.Fetch(t.Context(), Request{Path: "example.com/public", Kind: List})
		if !errors.Is(err, ErrOff) {
			t.Errorf("Fetch of a public path = %v, want ErrOff from the public list", err)
		}
	})
}

// TestDirectFakeGo runs a stand-in for the go command to check how direct
// handles a hung child and odd output.
func TestDirectFakeGo(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SKIP: the fake go command is a shell script")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("SKIP: git not on PATH (direct checks for it): %v", err)
	}
	tests := []struct {
		name         string
		script       string
		kind         Kind
		want         outcome
		wantContains string
	}{
		{name: "hangs", script: "exec sleep 60", kind: Info, want: outcome{Err: "error", Timeout: true}, wantContains: "did not finish within"},
		{name: "unknown revision", script: "echo 'go: example.com/m@v1.0.0: invalid version: unknown revision v1.0.0' >&2; exit 1", kind: Info, want: outcome{Err: "error", NotExist: true}},
		{name: "other failure", script: "echo 'go: example.com/m@v1.0.0: git ls-remote: exit status 128' >&2; exit 1", kind: Info, want: outcome{Err: "error"}, wantContains: "exit status 128"},
		{name: "download error in JSON", script: `echo '{"Path":"example.com/m","Version":"v1.0.0","Error":"example.com/m@v1.0.0: invalid version: unknown revision v1.0.0"}'; exit 1`, kind: Zip, want: outcome{Err: "error", NotExist: true}},
		{name: "zip outside the work dir", script: `echo '{"Path":"example.com/m","Version":"v1.0.0","Zip":"/etc/passwd"}'`, kind: Zip, want: outcome{Err: "error"}, wantContains: "outside the work directory"},
		{name: "other version resolved", script: `echo '{"Path":"example.com/m","Version":"v1.0.1","Zip":"/etc/passwd"}'`, kind: Zip, want: outcome{Err: "error"}, wantContains: `resolved version "v1.0.1"`},
		{name: "not JSON", script: "echo hello", kind: Info, want: outcome{Err: "error"}, wantContains: "decoding output"},
		{name: "info", script: `echo '{"Path":"example.com/m","Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}'`, kind: Info, want: outcome{Body: `{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}` + "\n", Source: "direct"}},
		{name: "env is clean", script: `echo "{\"Path\":\"example.com/m\",\"Version\":\"$GOPROXY,$GOSUMDB,$GOFLAGS,$GOTOOLCHAIN,$GOENV,$GOINSECURE,$EXTRA\"}"`, kind: Info, want: outcome{Body: `{"Version":"direct,off,-modcacherw,local,off,,extra"}` + "\n", Source: "direct"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOINSECURE", "leaked.example.com") // must not reach the child
			goCmd := filepath.Join(t.TempDir(), "go")
			if err := os.WriteFile(goCmd, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			r := newTestRouter(t, Options{
				Public:        "direct",
				GoCommand:     goCmd,
				WorkDir:       t.TempDir(),
				DirectTimeout: 300 * time.Millisecond,
				Env:           []string{"EXTRA=extra"},
			})
			start := time.Now()
			body, resp, err := fetchAll(t.Context(), r, Request{Path: "example.com/m", Version: "v1.0.0", Kind: tt.kind})
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("fetch took %v", elapsed)
			}
			got := summarise(body, resp, err, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fetch mismatch (-want +got):\n%s\nerror: %v", diff, err)
			}
			if tt.wantContains != "" && (err == nil || !strings.Contains(err.Error(), tt.wantContains)) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantContains)
			}
		})
	}
}

func TestSummariseGoError(t *testing.T) {
	const work = "/srv/modgate/direct"
	tests := []struct {
		name, msg, want string
	}{
		{name: "one line", msg: "go: example.com/m@v1.0.0: invalid version: unknown revision v1.0.0", want: "invalid version: unknown revision v1.0.0"},
		{name: "server response dropped", msg: "go: example.com/m@latest: reading https://10.0.0.1/m/@v/list: 500 Internal Server Error\n\tserver response: SECRET admin token", want: "reading https://10.0.0.1/m/@v/list: 500 Internal Server Error"},
		{name: "git remote lines dropped, fatal kept", msg: "go: example.com/m@latest: git ls-remote -q origin in " + work + "/modcache/cache/vcs/abc: exit status 128:\n\tremote: SECRET\n\tfatal: unable to access 'https://git.example.com/m/': The requested URL returned error: 403", want: "git ls-remote -q origin in <direct work dir>/modcache/cache/vcs/abc: exit status 128:; fatal: unable to access 'https://git.example.com/m/': The requested URL returned error: 403"},
		{name: "control characters", msg: "go: bad\x1b[31m\x00 thing", want: "bad[31m thing"},
		{name: "capped", msg: strings.Repeat("x", 500), want: strings.Repeat("x", 200) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summariseGoError(tt.msg, "example.com/m@latest", work)
			if tt.name == "one line" {
				got = summariseGoError(tt.msg, "example.com/m@v1.0.0", work)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("summariseGoError mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostLimiter(t *testing.T) {
	l := newHostLimiter(2)
	var releases []func()
	for range 2 {
		rel, err := l.acquire(t.Context(), "slow.example")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, rel)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.acquire(cancelled, "slow.example"); err == nil {
		t.Errorf("a third slot for one host was granted")
	}
	rel, err := l.acquire(t.Context(), "other.example")
	if err != nil {
		t.Fatalf("another host waits for a slow one: %v", err)
	}
	rel()
	for _, rel := range releases {
		rel()
	}
	if len(l.hosts) != 0 {
		t.Errorf("hosts left after every release: %v", l.hosts)
	}
}
