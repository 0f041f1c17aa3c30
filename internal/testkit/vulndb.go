package testkit

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/modgate/modgate/scanner/vulndb"
)

// WriteVulnDB writes a database in the documented layout to dir: the entries, and
// the three indexes computed from them, each as .json and .json.gz.
func WriteVulnDB(t testing.TB, dir string, entries ...[]byte) {
	t.Helper()
	type row struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
	}
	mods := map[string][]row{}
	var vulns []vulndb.VulnMeta
	var latest time.Time
	os.RemoveAll(filepath.Join(dir, "ID"))
	for _, data := range entries {
		var e vulndb.Entry
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("test entry: %v", err)
		}
		for _, a := range e.Affected {
			mods[a.Package.Name] = append(mods[a.Package.Name], row{e.ID, e.Modified})
		}
		vulns = append(vulns, vulndb.VulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		if e.Modified.After(latest) {
			latest = e.Modified
		}
		WriteVulnDBEndpoint(t, dir, "ID/"+e.ID, data)
	}
	var paths []string
	for p := range mods {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var modIndex []map[string]any
	for _, p := range paths {
		modIndex = append(modIndex, map[string]any{"path": p, "vulns": mods[p]})
	}
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	WriteVulnDBEndpoint(t, dir, "index/db", mustJSON(t, vulndb.DBMeta{Modified: latest}))
	WriteVulnDBEndpoint(t, dir, "index/modules", mustJSON(t, modIndex))
	WriteVulnDBEndpoint(t, dir, "index/vulns", mustJSON(t, vulns))
}

func mustJSON(t testing.TB, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// WriteVulnDBEndpoint writes one endpoint of a vulnerability database (as
// .json and .json.gz) below dir.
func WriteVulnDBEndpoint(t testing.TB, dir, endpoint string, data []byte) {
	t.Helper()
	name := filepath.Join(dir, filepath.FromSlash(endpoint))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name+".json", data, 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(name+".json.gz", b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
