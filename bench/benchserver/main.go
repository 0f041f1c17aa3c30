// Command benchserver is the fixture of bench/run.sh: it builds one module
// version with golang.org/x/mod/zip (a go.mod and a file of seeded random, so
// incompressible, bytes), writes it in GOPROXY layout
// (https://go.dev/ref/mod#goproxy-protocol) to a directory, and serves that
// directory with http.FileServer on two loopback ports: one as modgate's
// upstream, one as the static baseline modgate is compared with. It prints
//
//	upstream http://127.0.0.1:PORT
//	static http://127.0.0.1:PORT
//	zip /PATH/@v/VERSION.zip BYTES
//	info /PATH/@v/VERSION.info BYTES
//
// and serves until it is interrupted.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchserver", flag.ContinueOnError)
	dir := fs.String("dir", "", "`directory` to write the module files to (required)")
	path := fs.String("module", "example.com/bench", "module `path`")
	version := fs.String("version", "v1.0.0", "module `version`")
	size := fs.Int("size", 1<<20, "`bytes` of random data in the module zip")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	m := module.Version{Path: *path, Version: *version}
	files, err := write(*dir, m, *size)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := http.FileServer(http.Dir(*dir))
	errc := make(chan error, 2)
	for _, name := range []string{"upstream", "static"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stdout, "%s http://%s\n", name, ln.Addr())
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "%s %s %d\n", f.kind, f.url, f.size)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}

type file struct {
	kind string // "info" or "zip"
	url  string // URL path below the server's root
	size int
}

// write writes m's list, .info, .mod and .zip below dir in GOPROXY layout.
func write(dir string, m module.Version, size int) ([]file, error) {
	escPath, err := module.EscapePath(m.Path)
	if err != nil {
		return nil, err
	}
	escVer, err := module.EscapeVersion(m.Version)
	if err != nil {
		return nil, err
	}
	random := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(random)
	gomod := []byte("module " + m.Path + "\n\ngo 1.21\n")
	var zip bytes.Buffer
	err = modzip.Create(&zip, m, []modzip.File{
		memFile{"data.bin", random},
		memFile{"go.mod", gomod},
	})
	if err != nil {
		return nil, err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{m.Version, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		return nil, err
	}
	base := escPath + "/@v/"
	contents := map[string][]byte{
		base + "list":           []byte(m.Version + "\n"),
		base + escVer + ".info": info,
		base + escVer + ".mod":  gomod,
		base + escVer + ".zip":  zip.Bytes(),
	}
	for name, data := range contents {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
	}
	return []file{
		{"info", "/" + base + escVer + ".info", len(info)},
		{"zip", "/" + base + escVer + ".zip", zip.Len()},
	}, nil
}

// memFile is a module file held in memory, for modzip.Create.
type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (os.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() os.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
