package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
)

// slowSBOMs stores an SBOM only once release is closed.
type slowSBOMs struct {
	store.SBOMs
	release chan struct{}
}

func (s slowSBOMs) PutSBOM(ctx context.Context, r *store.SBOMRecord) error {
	<-s.release
	return s.SBOMs.PutSBOM(ctx, r)
}

// The audit record of a zip's first fetch names its SBOM, made after the
// answer, even when the client has gone by then (the go command exits as
// soon as it has its files): waiting for the SBOM is not the client's
// request (TestEndToEndPostgres failed with "zip served without an SBOM").
func TestAuditNamesSBOMAfterClientLeft(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    func(t *testing.T) *testkit.Built
	}{
		{"streamed", func(t *testing.T) *testkit.Built { return bigModule(t, "example.com/big") }},
		{"small", func(t *testing.T) *testkit.Built { return testkit.Build(t, mod("example.com/small", "v1.0.0")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b(t)
			log := &auditLog{}
			release := make(chan struct{})
			h := newHarness(t, []*testkit.Built{b}, withPolicy(t, "mode: audit\n", log), func(po *proxy.Options, uo *upstream.Options) {
				po.SBOMs = slowSBOMs{SBOMs: po.Store.(store.SBOMs), release: release}
				po.SBOM.Namespace = "https://modgate.test/sbom"
			})
			reqCtx := make(chan context.Context, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqCtx <- r.Context()
				h.px.ServeHTTP(w, r)
			}))
			defer srv.Close()
			tr := &http.Transport{}
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/" + b.Path + "/@v/" + b.Version + ".zip")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || len(body) != len(b.Zip) {
				t.Fatalf("zip: %d, %d bytes, %v", resp.StatusCode, len(body), err)
			}
			tr.CloseIdleConnections() // the client leaves
			<-(<-reqCtx).Done()       // and the server saw it go
			close(release)
			srv.Close() // waits for the handler, which writes the audit record
			h.px.Wait()
			var ids []string
			for _, e := range log.of(store.AuditFetch) {
				if e.Kind == "zip" {
					ids = append(ids, e.SBOM)
				}
			}
			if len(ids) != 1 || ids[0] == "" {
				t.Errorf("zip fetch records name SBOMs %q; want one id", ids)
			}
		})
	}
}
