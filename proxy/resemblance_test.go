package proxy_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/scanner"
)

// heldRecords is a store whose record of one module's clone check (and
// file index) waits until release is closed.
type heldRecords struct {
	scanner.ResemblanceStore
	path    string
	release chan struct{}
}

func (h *heldRecords) PutZipCheck(ctx context.Context, files []store.ZipFile, c *store.Clone) error {
	if c.Module.Path == h.path {
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.ResemblanceStore.PutZipCheck(ctx, files, c)
}

// TestCloneCheckAnswersBeforeItsRecord: the zip of a clone of a real module
// (github.com/spf13/cobra v1.10.1, with a loader file added that runs a
// command from init) is refused on its clone check while the check's
// record is still waiting to be written: the answer waits for the check,
// not for its write (with the write before the answer, this test hangs
// until it times out). The record is written afterwards.
func TestCloneCheckAnswersBeforeItsRecord(t *testing.T) {
	orig := cobraFiles(t)
	const origPath, clonePath = "github.com/spf13/cobra", "github.com/cobra-tools/cobra"
	copied := map[string]string{"loader.go": "package cobra\n\nimport \"os/exec\"\n\nfunc init() { exec.Command(\"/bin/sh\", \"-c\", \"id\").Start() }\n"}
	for name, data := range orig {
		if name == "go.mod" {
			data = strings.Replace(data, "module "+origPath, "module "+clonePath, 1)
		}
		copied[name] = data
	}
	held := &heldRecords{path: clonePath, release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(held.release) }) }
	defer release() // before the harness's cleanup waits for the ingest
	h := newHarness(t, []*testkit.Built{
		testkit.Build(t, testkit.Module{Path: origPath, Version: "v1.10.1", Files: orig}),
		testkit.Build(t, testkit.Module{Path: clonePath, Version: "v1.10.1", Files: copied}),
	}, func(po *proxy.Options, _ *upstream.Options) {
		held.ResemblanceStore = po.Store.(scanner.ResemblanceStore)
		po.Resemblance = scanner.NewResemblance(scanner.ResemblanceOptions{Store: held, Local: po.Blobs.Local,
			Capabilities: scanner.CloneCapabilities, OneProcess: true, Logger: slog.New(slog.DiscardHandler)})
	})
	ctx := context.Background()

	if r := h.get("/" + origPath + "/@v/v1.10.1.zip"); r.code != http.StatusOK {
		t.Fatalf("the original's zip: %d %s", r.code, r.body)
	}
	// Larger than the stream's hold-back: streamed, then decided.
	r, err := h.getRaw("/" + clonePath + "/@v/v1.10.1.zip")
	if err == nil && r.code == http.StatusOK {
		t.Fatalf("the clone's zip was served whole (%d bytes)", len(r.body))
	}
	if r.code != http.StatusForbidden { // cut: the refusal comes with the next request
		r = h.get("/" + clonePath + "/@v/v1.10.1.zip")
	}
	if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "clone.with_new_capabilities") ||
		!strings.Contains(string(r.body), "loader.go") {
		t.Errorf("the clone's zip = %d %q; want a refusal on its clone check naming the added file", r.code, r.body)
	}
	m := module.Version{Path: clonePath, Version: "v1.10.1"}
	if _, err := h.st.Clone(ctx, m); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the clone check was stored while its record was held: %v", err)
	}

	release()
	h.px.Wait()
	c, err := h.st.Clone(ctx, m)
	if err != nil || c.Original != (module.Version{Path: origPath, Version: "v1.10.1"}) || len(c.Capabilities) == 0 {
		t.Errorf("stored clone check = %+v, %v; want a clone of the original with capabilities", c, err)
	}
	if files, err := h.st.ZipFiles(ctx, m); err != nil || len(files) != len(copied) {
		t.Errorf("stored files of the clone: %d, %v; want %d", len(files), err, len(copied))
	}
}
