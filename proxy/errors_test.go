package proxy

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/upstream"
)

// A full disk is 507 in modgate's words, whatever layer reported it, and the
// body never names a path or blames the upstream.
func TestNoSpaceStatus(t *testing.T) {
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	pathErr := &os.PathError{Op: "write", Path: "/srv/modgate/blobs/tmp/blob-1234", Err: syscall.ENOSPC}
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"blob write", &noSpaceError{mod: m, kind: "zip", err: fmt.Errorf("storing .zip: %w", &blob.Error{Op: "write", Err: syscall.ENOSPC})}},
		{"database", &noSpaceError{mod: m, kind: "info", err: fmt.Errorf("sqlite: put artifact: %w: database or disk is full", store.ErrNoSpace)}},
		{"quota", &noSpaceError{mod: m, kind: "zip", err: &blob.Error{Op: "sync", Err: syscall.EDQUOT}}},
		{"unwrapped path error", fmt.Errorf("somewhere: %w", pathErr)},
		{"inside an upstream error", &upstreamError{err: fmt.Errorf("downloading from %s: %w", "https://proxy.example", pathErr)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code := statusOf(tt.err)
			text := errorText(code, tt.err)
			if code != http.StatusInsufficientStorage || !strings.Contains(text, "disk is full") {
				t.Errorf("statusOf = %d, text %q; want 507 saying the disk is full", code, text)
			}
			for _, leak := range []string{"/srv", "blob-1234", "proxy.example", "sqlite"} {
				if strings.Contains(text, leak) {
					t.Errorf("text %q names %q", text, leak)
				}
			}
		})
	}
	if code := statusOf(&upstreamError{err: upstream.ErrTimeout}); code == http.StatusInsufficientStorage {
		t.Errorf("an upstream timeout maps to 507")
	}
}
