package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestParseCached checks that the remembered parse answers exactly as parse,
// for paths that parse and paths that do not (which are never remembered),
// also after the cache was emptied for being full.
func TestParseCached(t *testing.T) {
	s := &Server{}
	paths := []string{
		"golang.org/x/text/@v/list", "golang.org/x/text/@latest", "golang.org/x/text/@v/v0.3.5.info",
		"github.com/!azure/sdk/@v/v1.0.0.zip", "example.com/m/@v/main.info", "example.com/m/@v/v2.0.0.mod",
		"example.com/../x/@v/v1.0.0.zip", "example.com/m/@v/main.zip", "not/a/request",
	}
	for i := range parseCacheMax + 10 { // fills it past its bound once
		paths = append(paths, fmt.Sprintf("example.com/m%d/@v/v1.0.%d.mod", i%3000, i))
	}
	for round := range 2 {
		for _, p := range paths {
			want, wantErr := parse(p)
			got, err := s.parseCached(p)
			if (err == nil) != (wantErr == nil) || (err != nil && (err.Error() != wantErr.Error() || statusOf(err) != statusOf(wantErr))) {
				t.Fatalf("round %d: parseCached(%q) error = %v, want %v", round, p, err, wantErr)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(request{})); diff != "" {
				t.Fatalf("round %d: parseCached(%q) mismatch (-parse +cached):\n%s", round, p, diff)
			}
		}
	}
	if n := s.parses.n.Load(); n > parseCacheMax {
		t.Errorf("parse cache holds %d paths, more than %d", n, parseCacheMax)
	}
}

// TestServeBytesAsServeContent checks that serveBytes answers every request
// exactly as http.ServeContent does (status, headers, body), both on its own
// path for plain GETs and HEADs and where it hands over to ServeContent
// (conditions, ranges).
func TestServeBytesAsServeContent(t *testing.T) {
	data := []byte(`{"Version":"v1.2.3","Time":"2026-01-02T03:04:05Z"}`)
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const etag = "0123abcd"
	for _, tc := range []struct {
		name   string
		method string
		header map[string]string
		mod    time.Time
	}{
		{"get", "GET", nil, mod},
		{"head", "HEAD", nil, mod},
		{"get without a time", "GET", nil, time.Time{}},
		{"get at the epoch", "GET", nil, time.Unix(0, 0)},
		{"if-none-match", "GET", map[string]string{"If-None-Match": `"` + etag + `"`}, mod},
		{"if-none-match other", "GET", map[string]string{"If-None-Match": `"other"`}, mod},
		{"if-modified-since", "GET", map[string]string{"If-Modified-Since": mod.Add(time.Hour).Format(http.TimeFormat)}, mod},
		{"if-match fails", "GET", map[string]string{"If-Match": `"other"`}, mod},
		{"range", "GET", map[string]string{"Range": "bytes=2-9"}, mod},
		{"bad range", "GET", map[string]string{"Range": "bytes=900-"}, mod},
		{"if-range", "GET", map[string]string{"Range": "bytes=0-3", "If-Range": `"` + etag + `"`}, mod},
		{"head with range", "HEAD", map[string]string{"Range": "bytes=0-3"}, mod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := func() *http.Request {
				r := httptest.NewRequest(tc.method, "/example.com/m/@v/v1.2.3.info", nil)
				for k, v := range tc.header {
					r.Header.Set(k, v)
				}
				return r
			}
			want := httptest.NewRecorder()
			want.Header().Set("Content-Type", "application/json")
			want.Header().Set("ETag", `"`+etag+`"`)
			http.ServeContent(want, req(), "", tc.mod, strings.NewReader(string(data)))
			got := httptest.NewRecorder()
			serveBytes(got, req(), "application/json", etag, tc.mod, data)
			if got.Code != want.Code {
				t.Errorf("status %d, ServeContent's %d", got.Code, want.Code)
			}
			if diff := cmp.Diff(want.Header(), got.Header()); diff != "" {
				t.Errorf("headers (-ServeContent +serveBytes):\n%s", diff)
			}
			if got.Body.String() != want.Body.String() {
				t.Errorf("body %q, ServeContent's %q", got.Body, want.Body)
			}
		})
	}
}
