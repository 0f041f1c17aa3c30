package scanner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/modgate/modgate/scanner/vulndb"
)

// Handler serves the stored copy of the database in the layout it was read in:
// index/db.json, index/modules.json, index/vulns.json and ID/<id>.json, each
// also as .json.gz. The .gz files are served as bytes (application/gzip, no
// Content-Encoding), as govulncheck expects. Mount it with http.StripPrefix, so
// that "/vulndb/index/db.json.gz" reaches it as "/index/db.json.gz".
func (s *Scanner) Handler() http.Handler {
	return http.HandlerFunc(s.serveDB)
}

func (s *Scanner) serveDB(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	name, gz := strings.CutSuffix(p, ".gz")
	if !servable(name) {
		http.Error(w, "not found: the vulnerability database has index/{db,modules,vulns}.json[.gz] and ID/<id>.json[.gz]", http.StatusNotFound)
		return
	}
	f, err := s.st.VulnFile(r.Context(), name)
	if errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "not found in modgate's copy of the vulnerability database (run `modgate vulndb sync`?)", http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Error("vulndb: serving", "path", name, "err", err.Error())
		http.Error(w, "internal error reading the vulnerability database copy", http.StatusInternalServerError)
		return
	}
	data, ctype := f.JSON, "application/json"
	if gz {
		data, ctype = f.Gzip, "application/gzip"
	}
	sum := sha256.Sum256(data)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

func servable(name string) bool {
	switch name {
	case "index/db.json", "index/modules.json", "index/vulns.json":
		return true
	}
	id, ok := strings.CutPrefix(name, "ID/")
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, ".json")
	return ok && vulndb.ValidID(id)
}
