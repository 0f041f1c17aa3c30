package proxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/scanner"
)

// BenchmarkServeCached measures cached .info, .mod, ~1 MiB and ~22 MiB .zip answers
// through the real handler over real HTTP on 127.0.0.1, beside the same files
// served by http.FileServer in the same run, so that modgate/static can be read
// off one run on a noisy machine:
//
//	go test ./proxy -run '^$' -bench ServeCached -benchmem -benchtime 3s
//
// modgate writes an audit record of every answer (group commit) as serve does.
// The zips hold incompressible (seeded random) data, so they really are that
// large. modgate checks every zip it serves against its key: "modgate" hashes
// a blob as it streams until it was verified whole and then sends it with
// sendfile while its file is unchanged (blob.DefaultVerifyTTL);
// "modgate-hash-every-serve" hashes every serve (TTL 0), without sendfile.
func BenchmarkServeCached(b *testing.B) {
	const path = "/example.com/bench/@v/v1.0.0"
	const bigPath = "/example.com/bench/big/@v/v1.0.0"
	random := make([]byte, 22<<20)
	rand.New(rand.NewSource(1)).Read(random)
	built := testkit.Build(b, mod("example.com/bench", "v1.0.0", "data.bin", string(random[:1<<20])))
	big := testkit.Build(b, mod("example.com/bench/big", "v1.0.0", "data.bin", string(random)))

	modgate := newBenchProxy(b, 0, built, big)
	hashed := newBenchProxy(b, -1, built, big)
	static := newStaticServer(b, map[string][]byte{path + ".info": built.Info, path + ".mod": built.Mod,
		path + ".zip": built.Zip, bigPath + ".zip": big.Zip})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)

	files := []struct {
		name, path string
		data       []byte
	}{
		{"info", path + ".info", built.Info},
		{"mod", path + ".mod", built.Mod},
		{"zip", path + ".zip", built.Zip},
		{"zip22M", bigPath + ".zip", big.Zip},
	}
	// Fill the caches, then let the blobs age past blob's verify margin, as
	// cached zips are in production (a blob is remembered as verified only
	// if it was not changed in the second before its verification).
	for _, f := range files {
		for _, u := range []string{modgate.URL, hashed.URL} {
			if err := benchGet(client, u+f.path, int64(len(f.data))); err != nil {
				b.Fatal(err)
			}
		}
	}
	time.Sleep(1100 * time.Millisecond)
	for _, file := range files {
		b.Run(file.name, func(b *testing.B) {
			for _, srv := range []struct {
				name string
				url  string
			}{
				{"modgate", modgate.URL},
				{"modgate-hash-every-serve", hashed.URL},
				{"static", static.URL},
			} {
				b.Run(srv.name, func(b *testing.B) {
					url := srv.url + file.path
					// Warm: the first modgate request fills the cache from upstream.
					for range 2 {
						if err := benchGet(client, url, int64(len(file.data))); err != nil {
							b.Fatal(err)
						}
					}
					b.SetBytes(int64(len(file.data)))
					b.ReportAllocs()
					b.SetParallelism(32) // 64 concurrent clients on 2 CPUs, as wrk -c64
					cpu0 := cpuTime()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := benchGet(client, url, int64(len(file.data))); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.StopTimer()
					// CPU time of the process (client and server) per
					// request: far less disturbed by a shared machine's
					// load than the wall time.
					b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				})
			}
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGet fetches url and checks that the answer is 200 with want bytes.
func benchGet(client *http.Client, url string, want int64) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != want {
		return fmt.Errorf("GET %s = %d with %d bytes, want 200 with %d", url, resp.StatusCode, n, want)
	}
	return nil
}

// newBenchProxy is newHarness for benchmarks: modgate over a real SQLite store
// and blob dir in front of a test upstream, with metrics on and logs at warn
// level, as `modgate serve` runs it.
//
// verifyTTL is the blob store's (see blob.Dir.SetVerifyTTL): 0 the default,
// negative hashes every serve.
func newBenchProxy(b *testing.B, verifyTTL time.Duration, mods ...*testkit.Built) *httptest.Server {
	b.Helper()
	return newBenchProxyTTL(b, testkit.NewUpstream(b, mods...), verifyTTL)
}

// newBenchProxyOn is newBenchProxy in front of up.
func newBenchProxyOn(b *testing.B, up *testkit.Upstream) *httptest.Server {
	b.Helper()
	return newBenchProxyTTL(b, up, 0)
}

func newBenchProxyTTL(b *testing.B, up *testkit.Upstream, verifyTTL time.Duration, configure ...func(*proxy.Options)) *httptest.Server {
	b.Helper()
	dir := b.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "modgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	blobs, err := blob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	if verifyTTL < 0 {
		blobs.SetVerifyTTL(0)
	}
	fetcher, err := upstream.New(upstream.Options{Public: up.URL, Timeout: 5 * time.Second,
		IdleTimeout: 5 * time.Second, WorkDir: filepath.Join(dir, "direct")})
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := verify.New(verify.Options{Store: st}) // hashes pinned on first use
	if err != nil {
		b.Fatal(err)
	}
	// The audit log as serve writes it with SQLite: group commit through
	// the audit spool, every answer waiting for its record's write to it.
	spool, _, err := audit.OpenSpool(context.Background(), filepath.Join(dir, "audit-spool"), st, nil)
	if err != nil {
		b.Fatal(err)
	}
	auditor, err := audit.New(audit.Options{Store: st, Spool: spool, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { auditor.Close(context.Background()) })
	// Facts (vulnerabilities from an empty synced copy, licenses) as at any ingest.
	sc, err := scanner.New(scanner.Options{Store: st, Source: "file://" + b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	opts := proxy.Options{Store: st, Blobs: blobs, Upstream: fetcher, Verifier: verifier, Audit: auditor, Scanner: sc,
		Metrics: proxy.NewMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, c := range configure {
		c(&opts)
	}
	px, err := proxy.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(px)
	b.Cleanup(func() { srv.Close(); px.Wait() })
	return srv
}

// newStaticServer serves files (by URL path) from a temporary directory with
// http.FileServer, the baseline modgate is compared with.
func newStaticServer(b *testing.B, files map[string][]byte) *httptest.Server {
	b.Helper()
	dir := b.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkIngestZip measures the first request for a ~1 MiB zip: the
// download from a test upstream on 127.0.0.1, the zip checks and h1 hash,
// the checksum pin, the blob, the facts, the SBOM and the audit record, then
// the answer. Each iteration asks for a new version (made before the timer
// runs):
//
//	go test ./proxy -run '^$' -bench IngestZip -benchmem -benchtime 20x
func BenchmarkIngestZip(b *testing.B) {
	random := make([]byte, 1<<20)
	rand.New(rand.NewSource(2)).Read(random)
	first := testkit.Build(b, mod("example.com/ingest", "v1.0.0", "data.bin", string(random)))
	up := testkit.NewUpstream(b, first)
	srv := newBenchProxyOn(b, up)
	client := &http.Client{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		random[0], random[1] = byte(i), byte(i>>8) // another zip, another hash
		v := testkit.Build(b, mod("example.com/ingest", fmt.Sprintf("v1.0.%d", i), "data.bin", string(random)))
		up.Add(v)
		b.SetBytes(int64(len(v.Zip)))
		b.StartTimer()
		if err := benchGet(client, srv.URL+"/example.com/ingest/@v/"+v.Version+".zip", int64(len(v.Zip))); err != nil {
			b.Fatal(err)
		}
	}
}

// cobraFiles reads the files of a real module zip (github.com/spf13/cobra
// v1.10.1, from scanner/caps/testdata), by their names in the module.
func cobraFiles(b testing.TB) map[string]string {
	b.Helper()
	return testkit.ZipContents(b, "../scanner/caps/testdata/github.com_spf13_cobra@v1.10.1.zip")
}

// BenchmarkIngestRealZip is BenchmarkIngestZip over a real module's files
// (github.com/spf13/cobra v1.10.1, 64 Go files, from scanner/caps/testdata),
// rezipped under a new version for each iteration, so that the capability
// pass, licence detection and the clone index do their real work:
//
//	go test ./proxy -run '^$' -bench IngestRealZip -benchmem -benchtime 20x
func BenchmarkIngestRealZip(b *testing.B) {
	files := cobraFiles(b)
	const path = "github.com/spf13/cobra"
	first := testkit.Build(b, testkit.Module{Path: path, Version: "v1.99.0", Files: files})
	up := testkit.NewUpstream(b, first)
	srv := newBenchProxyOn(b, up)
	client := &http.Client{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		v := testkit.Build(b, testkit.Module{Path: path, Version: fmt.Sprintf("v1.99.%d", i), Files: files})
		up.Add(v)
		b.SetBytes(int64(len(v.Zip)))
		b.StartTimer()
		if err := benchGet(client, srv.URL+"/"+path+"/@v/"+v.Version+".zip", int64(len(v.Zip))); err != nil {
			b.Fatal(err)
		}
	}
}
