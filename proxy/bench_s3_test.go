package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
)

// BenchmarkServeCachedS3 serves a cached ~1 MiB and ~22 MiB zip from a bucket
// of a real S3 server (versitygw on 127.0.0.1) beside the same zips from the
// blob directory and from a static file server, in one run:
//
//	go test ./proxy -run '^$' -bench ServeCachedS3 -benchtime 3s
//
// "modgate-file" is the default store (verified, then sendfile);
// "modgate-s3" streams every serve from the bucket through the verifying
// reader; "modgate-s3-redirect" answers with a 302 to a presigned URL (the
// object was verified at ingest), which the client follows to the S3 server.
func BenchmarkServeCachedS3(b *testing.B) {
	const path = "/example.com/bench/@v/v1.0.0.zip"
	const bigPath = "/example.com/bench/big/@v/v1.0.0.zip"
	random := make([]byte, 22<<20)
	rand.New(rand.NewSource(1)).Read(random)
	built := testkit.Build(b, mod("example.com/bench", "v1.0.0", "data.bin", string(random[:1<<20])))
	big := testkit.Build(b, mod("example.com/bench/big", "v1.0.0", "data.bin", string(random)))

	srv := testkit.S3(b)
	srv.SetEnv(b)
	s3Store := func(redirect bool) blob.Store {
		s, err := blob.OpenURL(context.Background(), srv.URL(""), blob.Options{Spool: b.TempDir(), VerifyTTL: time.Hour, Redirect: redirect})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	fileStore, err := blob.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	servers := []struct {
		name string
		url  string
	}{
		{"modgate-file", newBenchProxyStore(b, fileStore, built, big).URL},
		{"modgate-s3", newBenchProxyStore(b, s3Store(false), built, big).URL},
		{"modgate-s3-redirect", newBenchProxyStore(b, s3Store(true), built, big).URL},
		{"static", newStaticServer(b, map[string][]byte{path: built.Zip, bigPath: big.Zip}).URL},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	files := []struct {
		name, path string
		data       []byte
	}{
		{"zip", path, built.Zip},
		{"zip22M", bigPath, big.Zip},
	}
	for _, f := range files {
		for _, s := range servers {
			if err := benchGet(client, s.url+f.path, int64(len(f.data))); err != nil {
				b.Fatal(err)
			}
		}
	}
	time.Sleep(1100 * time.Millisecond) // past the blob directory's verify margin
	for _, file := range files {
		b.Run(file.name, func(b *testing.B) {
			for _, s := range servers {
				b.Run(s.name, func(b *testing.B) {
					url := s.url + file.path
					for range 2 {
						if err := benchGet(client, url, int64(len(file.data))); err != nil {
							b.Fatal(err)
						}
					}
					b.SetBytes(int64(len(file.data)))
					b.SetParallelism(32) // 64 concurrent clients on 2 CPUs
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := benchGet(client, url, int64(len(file.data))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}

// newBenchProxyStore is newBenchProxy with a given blob store.
func newBenchProxyStore(b *testing.B, blobs blob.Store, mods ...*testkit.Built) *httptest.Server {
	b.Helper()
	up := testkit.NewUpstream(b, mods...)
	dir := b.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "modgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	fetcher, err := upstream.New(upstream.Options{Public: up.URL, Timeout: 5 * time.Second,
		IdleTimeout: 5 * time.Second, WorkDir: filepath.Join(dir, "direct")})
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := verify.New(verify.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	px, err := proxy.New(proxy.Options{Store: st, Blobs: blobs, Upstream: fetcher, Verifier: verifier,
		Metrics: proxy.NewMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(px)
	b.Cleanup(func() { srv.Close(); px.Wait() })
	return srv
}
