package proxy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/scanner"
)

// BenchmarkIngestServe is BenchmarkIngestRealZip (a new version of
// github.com/spf13/cobra's files per iteration, its .zip asked for) with
// every check serve makes at ingest: the facts of the .mod and the .zip
// against a synced vulnerability database (the real subset in
// testdata/vulndb), licenses, the look-alike and clone checks with the
// capability comparison, the capability pass and the SBOM. cpu-µs/op is the
// process's CPU time per ingest (client included), far less disturbed by a
// shared machine's load than ns/op:
//
//	go test ./proxy -run '^$' -bench IngestServe -benchmem -benchtime 30x
//
// (At most 40 versions are zipped before the clock starts.)
func BenchmarkIngestServe(b *testing.B) {
	files := cobraFiles(b)
	const path = "github.com/spf13/cobra"
	up := testkit.NewUpstream(b, testkit.Build(b, testkit.Module{Path: path, Version: "v1.99.0", Files: files}))
	vulndb, err := filepath.Abs("../testdata/vulndb")
	if err != nil {
		b.Fatal(err)
	}
	srv := newBenchProxyTTL(b, up, 0, func(o *proxy.Options) {
		st := o.Store.(*sqlite.Store)
		sc, err := scanner.New(scanner.Options{Store: st, Source: "file://" + vulndb, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sc.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		o.Scanner = sc
		o.Resemblance = scanner.NewResemblance(scanner.ResemblanceOptions{Store: st, Local: o.Blobs.(*blob.Dir).Local,
			Capabilities: scanner.CloneCapabilities, OneProcess: true, Logger: slog.New(slog.DiscardHandler)})
		o.SBOM, o.SBOMs = sbom.Options{Namespace: "https://modgate.example/sbom", ToolVersion: "bench"}, st
	})
	// The versions are zipped before the clock and the CPU count start
	// (zipping is not ingesting): past prebuilt, they are zipped in the
	// loop, and counted.
	const prebuilt = 40
	var versions []*testkit.Built
	build := func(i int) *testkit.Built {
		v := testkit.Build(b, testkit.Module{Path: path, Version: fmt.Sprintf("v1.99.%d", i), Files: files})
		up.Add(v)
		return v
	}
	for i := range prebuilt {
		versions = append(versions, build(i+1))
	}
	client := &http.Client{}
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		i++
		if i > len(versions) {
			versions = append(versions, build(i))
		}
		v := versions[i-1]
		b.SetBytes(int64(len(v.Zip)))
		if err := benchGet(client, srv.URL+"/"+path+"/@v/"+v.Version+".zip", int64(len(v.Zip))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
