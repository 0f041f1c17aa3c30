// Package testkit holds helpers for modgate's tests: a throwaway PostgreSQL
// cluster, module zips built with golang.org/x/mod/zip, a local upstream proxy
// serving them, a real checksum database (golang.org/x/mod/sumdb) signing their
// hashes with a test key, and a clean environment for running the go command.
// It is imported only from _test.go files.
package testkit

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"
)

// Module is a test module version. Files maps file names (relative to the
// module root) to contents; a "go.mod" entry is added ("module <Path>") unless
// Files has one or NoGoMod is set.
type Module struct {
	Path    string
	Version string
	Files   map[string]string
	Time    time.Time // zero: 2024-01-02T03:04:05Z
	NoGoMod bool      // the version has no go.mod file (legacy or +incompatible)
	// NoModFile makes the upstream answer 404 for the .mod (modgate must then
	// synthesize one).
	NoModFile bool
	// Queries are version queries (branch names, commit prefixes) whose .info
	// the upstream resolves to this version.
	Queries []string
}

// Built is a module version made into the files a proxy serves.
type Built struct {
	Module
	Info   []byte
	Mod    []byte
	Zip    []byte
	Hash   string // h1: hash of the zip
	ModSum string // h1: hash of the go.mod
}

// Build zips m with golang.org/x/mod/zip and computes its hashes.
func Build(t testing.TB, m Module) *Built {
	t.Helper()
	files := map[string]string{}
	for k, v := range m.Files {
		files[k] = v
	}
	if _, ok := files["go.mod"]; !ok && !m.NoGoMod {
		files["go.mod"] = "module " + m.Path + "\n\ngo 1.21\n"
	}
	tm := m.Time
	if tm.IsZero() {
		tm = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	mv := module.Version{Path: m.Path, Version: m.Version}
	var zf []modzip.File
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		zf = append(zf, memFile{name: name, data: files[name]})
	}
	var buf bytes.Buffer
	if err := modzip.Create(&buf, mv, zf); err != nil {
		t.Fatalf("building %s@%s: %v", m.Path, m.Version, err)
	}
	b := &Built{Module: m, Zip: buf.Bytes()}
	b.Info, _ = json.Marshal(map[string]any{"Version": m.Version, "Time": tm})
	if gm, ok := files["go.mod"]; ok {
		b.Mod = []byte(gm)
	} else {
		b.Mod = []byte("module " + m.Path + "\n")
	}
	var err error
	b.Hash, err = HashZipBytes(mv, b.Zip)
	if err != nil {
		t.Fatal(err)
	}
	b.ModSum, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b.Mod)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// HashZipBytes computes the h1: hash of a module zip held in memory, as
// dirhash.HashZip does for a file.
func HashZipBytes(m module.Version, data []byte) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	var names []string
	byName := map[string]*zip.File{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		byName[f.Name] = f
	}
	return dirhash.Hash1(names, func(name string) (io.ReadCloser, error) {
		return byName[name].Open()
	})
}

type memFile struct {
	name, data string
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return i.name[strings.LastIndex(i.name, "/")+1:] }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// Upstream is a GOPROXY-protocol server on 127.0.0.1 serving built modules.
type Upstream struct {
	URL    string
	Server *httptest.Server

	mu       sync.Mutex
	versions map[string][]*Built // by module path, in Add order
	requests map[string]int      // by URL path
	// Hook, when set, runs first for every request; if it returns true it has
	// answered the request (failure injection: hang, 500, truncation).
	Hook func(w http.ResponseWriter, r *http.Request) bool
}

// NewUpstream starts an upstream serving mods; it is closed at test cleanup.
func NewUpstream(t testing.TB, mods ...*Built) *Upstream {
	u := &Upstream{versions: map[string][]*Built{}, requests: map[string]int{}}
	for _, b := range mods {
		u.Add(b)
	}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.Server.URL
	t.Cleanup(u.Close)
	return u
}

// Add serves one more module version.
func (u *Upstream) Add(b *Built) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.versions[b.Path] = append(u.versions[b.Path], b)
}

// Close stops the server (connections in progress are cut).
func (u *Upstream) Close() {
	u.Server.CloseClientConnections()
	u.Server.Close()
}

// Requests reports how many requests reached the given URL path (e.g.
// "/example.com/m/@v/v1.0.0.zip").
func (u *Upstream) Requests(urlPath string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.requests[urlPath]
}

// TotalRequests reports how many requests reached the server.
func (u *Upstream) TotalRequests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.requests {
		n += c
	}
	return n
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.requests[r.URL.Path]++
	hook := u.Hook
	u.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	escPath, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/@")
	path, err := module.UnescapePath(escPath)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	u.mu.Lock()
	vs := append([]*Built(nil), u.versions[path]...)
	u.mu.Unlock()
	if len(vs) == 0 {
		http.Error(w, "not found: unknown module "+path, http.StatusNotFound)
		return
	}
	if rest == "latest" {
		var best *Built
		for _, b := range vs {
			if best == nil || semver.Compare(b.Version, best.Version) > 0 {
				best = b
			}
		}
		w.Write(best.Info)
		return
	}
	if rest == "v/list" {
		for _, b := range vs {
			if !module.IsPseudoVersion(b.Version) {
				fmt.Fprintln(w, b.Version)
			}
		}
		return
	}
	file := strings.TrimPrefix(rest, "v/")
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 {
		http.NotFound(w, r)
		return
	}
	ver, err := module.UnescapeVersion(file[:dot])
	if err != nil {
		http.NotFound(w, r)
		return
	}
	for _, b := range vs {
		if b.Version != ver {
			if strings.HasSuffix(file, ".info") && slices.Contains(b.Queries, ver) {
				w.Write(b.Info)
				return
			}
			continue
		}
		switch file[dot+1:] {
		case "info":
			w.Write(b.Info)
		case "mod":
			if b.NoModFile {
				http.NotFound(w, r)
				return
			}
			w.Write(b.Mod)
		case "zip":
			w.Header().Set("Content-Length", fmt.Sprint(len(b.Zip)))
			w.Write(b.Zip)
		default:
			http.NotFound(w, r)
		}
		return
	}
	http.Error(w, "not found: unknown revision "+ver, http.StatusGone)
}

// SumDB is a real checksum database (golang.org/x/mod/sumdb) on 127.0.0.1 with
// a test key, holding the hashes of the modules given to it.
type SumDB struct {
	Name string // the database's name, also its key name
	Key  string // the verifier key, as GOSUMDB takes it
	URL  string

	mu   sync.Mutex
	sums map[string][]byte // "path@version" -> go.sum lines
	// Lookups counts lookups by "path@version".
	lookups map[string]int
}

// NewSumDB starts a checksum database named name that knows mods, with a new key.
func NewSumDB(t testing.TB, name string, mods ...*Built) *SumDB {
	t.Helper()
	skey, vkey := NewSumDBKey(t, name)
	return NewSumDBSigned(t, skey, vkey, mods...)
}

// NewSumDBKey generates a signer and verifier key pair for a checksum database.
func NewSumDBKey(t testing.TB, name string) (signer, verifier string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// NewSumDBSigned starts a checksum database that signs with the given key; two
// of them with one key and different records make a forked log.
func NewSumDBSigned(t testing.TB, skey, vkey string, mods ...*Built) *SumDB {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	db := &SumDB{Name: v.Name(), Key: vkey, sums: map[string][]byte{}, lookups: map[string]int{}}
	for _, b := range mods {
		db.Add(b)
	}
	ts := sumdb.NewTestServer(skey, func(path, vers string) ([]byte, error) {
		db.mu.Lock()
		defer db.mu.Unlock()
		db.lookups[path+"@"+vers]++
		if s, ok := db.sums[path+"@"+vers]; ok {
			return s, nil
		}
		return nil, fs.ErrNotExist // the sumdb server checks with os.IsNotExist, which does not unwrap
	})
	srv := httptest.NewServer(sumdb.NewServer(ts))
	t.Cleanup(srv.Close)
	db.URL = srv.URL
	return db
}

// Add makes the database know b's hashes.
func (db *SumDB) Add(b *Built) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.sums[b.Path+"@"+b.Version] = []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n",
		b.Path, b.Version, b.Hash, b.Path, b.Version, b.ModSum))
}

// Lookups reports how often path@version was looked up.
func (db *SumDB) Lookups(path, version string) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.lookups[path+"@"+version]
}

// GOSUMDB is the value of GOSUMDB that makes the go command use this database
// through a proxy (no URL: the proxy's /sumdb/ endpoint is used).
func (db *SumDB) GOSUMDB() string { return db.Key }
