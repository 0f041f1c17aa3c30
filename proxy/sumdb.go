package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

// maxSumDBBody caps what the pass-through reads from the checksum database: a
// full data tile is 256 records, far below this.
const maxSumDBBody = 1 << 20

// serveSumDB passes /sumdb/<name>/... through to the configured checksum
// database, caching tiles (immutable once published). Only the configured
// database is served, so modgate is no open relay; lookups of private modules
// are refused so their paths never reach a public database.
func (s *Server) serveSumDB(w http.ResponseWriter, r *http.Request, rest string) error {
	db := s.opts.SumDB
	name, p, _ := strings.Cut(rest, "/")
	if db.Name == "" || name != db.Name {
		return notFound("modgate passes through only its configured checksum database")
	}
	if p == "supported" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	data, err := s.sumdbAnswer(r.Context(), name, p)
	if err != nil {
		return err
	}
	if strings.HasPrefix(p, "tile/") {
		serveBytes(w, r, "application/octet-stream", "", time.Time{}, data)
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	serveBytes(w, r, "text/plain; charset=utf-8", "", time.Time{}, data)
	return nil
}

// sumdbAnswer returns the body for one checksum-database path: latest, a
// lookup (refused for private modules), or a tile (from the cache when stored).
func (s *Server) sumdbAnswer(ctx context.Context, name, p string) ([]byte, error) {
	switch {
	case p == "latest":
		return s.sumdbGet(ctx, p)
	case strings.HasPrefix(p, "lookup/"):
		esc := strings.TrimPrefix(p, "lookup/")
		escPath, escVer, ok := strings.Cut(esc, "@")
		if !ok {
			return nil, badRequest("invalid checksum database lookup %q", esc)
		}
		path, err1 := module.UnescapePath(escPath)
		ver, err2 := module.UnescapeVersion(escVer)
		if err := errors.Join(err1, err2); err != nil {
			return nil, badRequest("invalid checksum database lookup %q: %v", esc, err)
		}
		if s.opts.Upstream.IsPrivate(path) {
			return nil, &privateLookupError{path: path, version: ver}
		}
		return s.sumdbGet(ctx, p)
	case strings.HasPrefix(p, "tile/"):
		if _, err := tlog.ParseTilePath(p); err != nil {
			return nil, badRequest("invalid tile path %q", p)
		}
		data, err := s.opts.Store.Tile(ctx, name, p)
		if errors.Is(err, fs.ErrNotExist) {
			if data, err = s.sumdbGet(ctx, p); err == nil {
				err = s.opts.Store.PutTile(ctx, name, p, data)
			}
		}
		return data, err
	}
	return nil, notFound("unknown checksum database endpoint")
}

// privateLookupError refuses a checksum-database lookup of a private module.
type privateLookupError struct{ path, version string }

func (e *privateLookupError) Error() string {
	return fmt.Sprintf("%s@%s: private module: modgate does not look it up in the public checksum database\n"+
		"Set GONOSUMDB (or GOPRIVATE) for it on the client.", e.path, e.version)
}

// sumdbGet fetches one path below the checksum database's URL.
func (s *Server) sumdbGet(ctx context.Context, p string) ([]byte, error) {
	start := time.Now()
	data, err := s.sumdbFetch(ctx, p)
	s.opts.Metrics.upstream("sumdb", start, err)
	if err != nil {
		return nil, &upstreamError{err: fmt.Errorf("checksum database %s: %w", s.opts.SumDB.Name, err)}
	}
	return data, nil
}

func (s *Server) sumdbFetch(ctx context.Context, p string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.opts.SumDB.URL+"/"+p, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.sumdbC.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%s: %s: %w", p, resp.Status, fs.ErrNotExist)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", p, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSumDBBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSumDBBody {
		return nil, fmt.Errorf("%s: response larger than %d bytes", p, maxSumDBBody)
	}
	return data, nil
}
