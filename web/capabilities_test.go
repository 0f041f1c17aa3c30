package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modgate/modgate/internal/store"
)

// TestVersionPageCapabilities: the version page shows the capabilities of the
// zip, what the version adds to the one it was compared with, and programs
// in the zip; module text stays inert; the API returns the facts.
func TestVersionPageCapabilities(t *testing.T) {
	d := newDash(t, nil)
	use := store.CapabilityUse{Package: evil.Path, Capability: "CAPABILITY_EXEC", File: "decimal.go", Line: 20,
		Via: "os/exec.Command " + hostile, Init: true, InitPath: "init → poll"}
	f := &store.CapabilityFacts{Module: evil, Files: 3, ComputedAt: ingestTime, Base: "v0.9.0",
		Uses:     []store.CapabilityUse{use, {Package: evil.Path + "/x", Capability: "CAPABILITY_FILES", File: "x/x.go", Line: 4, Via: "os.ReadFile"}},
		Added:    []store.CapabilityUse{use},
		Binaries: []store.BinaryFile{{File: "tool" + hostile, Kind: "ELF"}}}
	if err := d.st.PutCapabilities(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, d.client(t), d.srv.URL+"/ui/version/example.com/!evil/@v/v1.0.0")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`id="caps-base">Compared with v0.9.0: <span class="bad">1 capabilities added</span>.`,
		`<td class="bad">EXEC</td><td>example.com/Evil</td><td>decimal.go:20</td>`,
		`<td>init → poll</td>`,
		`<tr class="added"><td>EXEC</td>`,
		`<tr><td>FILES</td><td>example.com/Evil/x</td><td>x/x.go:4</td><td>os.ReadFile</td>`,
		`id="caps-binaries"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, hostile) {
		t.Errorf("hostile text reached the page unescaped")
	}
	_, body = get(t, d.client(t), d.srv.URL+"/api/versions/example.com/!evil/@v/v1.0.0")
	var got struct {
		Capabilities *store.CapabilityFacts `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Capabilities == nil || got.Capabilities.Base != "v0.9.0" || len(got.Capabilities.Added) != 1 || got.Capabilities.Added[0].Via != use.Via {
		t.Errorf("API capabilities = %+v", got.Capabilities)
	}
}
