package proxy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modgate/modgate/proxy/verify"
)

// serveSumDB passes /sumdb/<name>/... through to the configured checksum
// database, reached where the go command would reach it (see verify.Remote),
// caching tiles (immutable once published). Only the configured database is
// served, so modgate is no open relay: other names get 404, which sends the go
// command to its next proxy or to the database itself. A path the protocol
// does not have gets 400 and is never sent upstream; lookups of private
// modules are refused so their paths never reach a public database.
func (s *Server) serveSumDB(w http.ResponseWriter, r *http.Request, rest string) error {
	db := s.opts.SumDB
	p, ok := strings.CutPrefix(rest, db.Name+"/")
	if db.Name == "" || s.sumdb == nil || !ok {
		return notFound("modgate passes through only its configured checksum database")
	}
	if p == "supported" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	data, err := s.sumdbAnswer(r.Context(), db.Name, p)
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

// modVerRE is the lookup syntax the checksum database server accepts
// (golang.org/x/mod/sumdb's Server), checked before anything else.
var modVerRE = regexp.MustCompile(`^[^@]+@v[0-9]+\.[0-9]+\.[0-9]+(-[^@]*)?(\+incompatible)?$`)

// sumdbAnswer returns the body for one checksum-database path: latest, a
// lookup (refused for private modules), or a tile (from the cache when
// stored). Any other path is a 400.
func (s *Server) sumdbAnswer(ctx context.Context, name, p string) ([]byte, error) {
	switch {
	case p == "latest":
		return s.sumdbGet(ctx, p)
	case strings.HasPrefix(p, "lookup/"):
		mv, err := checkLookup(strings.TrimPrefix(p, "lookup/"))
		if err != nil {
			return nil, err
		}
		if s.opts.Upstream.IsPrivate(mv.Path) {
			return nil, &privateLookupError{path: mv.Path, version: mv.Version}
		}
		if data, ok := s.verifiedSumDB(ctx, name, p); ok {
			return data, nil
		}
		return s.sumdbGet(ctx, p)
	case strings.HasPrefix(p, "tile/"):
		tile, err := tlog.ParseTilePath(p)
		if err != nil {
			return nil, badRequest("invalid checksum database tile path %q\nWant tile/H/L/NNN[.p/W] or tile/H/data/NNN[.p/W].", clipPath(p))
		}
		data, err := s.opts.Store.Tile(ctx, name, p)
		if !errors.Is(err, fs.ErrNotExist) {
			return data, err
		}
		if data, ok := s.verifiedSumDB(ctx, name, p); ok {
			return data, nil
		}
		if full := tile; tile.L >= 0 && tile.W < 1<<tile.H {
			// A partial hash tile is the prefix of the full one, when that
			// is known (as the sumdb client reads its own cache).
			full.W = 1 << full.H
			if data, ok := s.verifiedSumDB(ctx, name, full.Path()); ok && len(data) == full.W*tlog.HashSize {
				return data[:tile.W*tlog.HashSize], nil
			}
		}
		if data, err = s.sumdbGet(ctx, p); err == nil {
			err = s.opts.Store.PutTile(ctx, name, p, data)
		}
		return data, err
	}
	return nil, badRequest("unknown checksum database endpoint %q\n"+
		"modgate serves /sumdb/%s/ supported, latest, lookup/<module>@<version> and tile/...", clipPath(p), name)
}

// verifiedSumDB returns the database's file p from what modgate's verifier
// fetched and verified (lookups and tiles, kept in the store), so that the
// go command's own requests for them, which follow modgate's right after
// it answered a .mod or .zip, cost no round trip to the database. The client
// verifies them again, as it would any answer.
func (s *Server) verifiedSumDB(ctx context.Context, name, p string) ([]byte, bool) {
	db, key := verify.CacheKey(name, p)
	data, err := s.opts.Store.Tile(ctx, db, key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("checksum database: reading the verified cache", "path", p, "err", err.Error())
		}
		return nil, false
	}
	return data, true
}

// checkLookup validates the <module>@<version> of a lookup path, escaped as
// in the module proxy protocol: a valid module path and a canonical version
// that path can have. Anything else is a 400 and never goes upstream.
func checkLookup(esc string) (module.Version, error) {
	bad := func(why string) error {
		return badRequest("invalid checksum database lookup %q: %s\n"+
			"Want lookup/<module>@<version>: an escaped module path and a canonical version (lookup/github.com/!azure/go@v1.2.3).", clipPath(esc), why)
	}
	if !modVerRE.MatchString(esc) {
		return module.Version{}, bad("not <module>@v<major>.<minor>.<patch>")
	}
	escPath, escVer, _ := strings.Cut(esc, "@")
	path, err := module.UnescapePath(escPath)
	if err != nil {
		return module.Version{}, bad(err.Error())
	}
	ver, err := module.UnescapeVersion(escVer)
	if err != nil {
		return module.Version{}, bad(err.Error())
	}
	if err := module.Check(path, ver); err != nil {
		return module.Version{}, bad(err.Error())
	}
	if module.CanonicalVersion(ver) != ver {
		return module.Version{}, bad("version " + ver + " is not canonical")
	}
	return module.Version{Path: path, Version: ver}, nil
}

// clipPath shortens a client's path for an error message, so that the advice
// after it stays within what the go command shows (8 lines, 648 bytes).
func clipPath(p string) string {
	const max = 160
	if len(p) <= max {
		return p
	}
	return p[:max] + "..."
}

// privateLookupError refuses a checksum-database lookup of a private module.
type privateLookupError struct{ path, version string }

func (e *privateLookupError) Error() string {
	return fmt.Sprintf("%s@%s: private module: modgate does not look it up in the public checksum database\n"+
		"Set GONOSUMDB (or GOPRIVATE) for it on the client.", e.path, e.version)
}

// sumdbGet fetches one path of the checksum database.
func (s *Server) sumdbGet(ctx context.Context, p string) ([]byte, error) {
	start := time.Now()
	data, err := s.sumdb.Get(ctx, "/"+p)
	s.opts.Metrics.upstream("sumdb", start, err)
	if err != nil {
		return nil, &upstreamError{err: err}
	}
	return data, nil
}
