package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/upstream"
)

// serveList serves <module>/@v/list.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, req request) error {
	m, source, err := s.meta(r.Context(), req, store.MetaList)
	if err != nil {
		return err
	}
	setSource(w, source)
	data, err := s.filterList(r.Context(), req.mod.Path, m.Data)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	serveBytes(w, r, "text/plain; charset=utf-8", "", m.FetchedAt, data)
	return nil
}

// serveLatest serves <module>/@latest.
func (s *Server) serveLatest(w http.ResponseWriter, r *http.Request, req request) error {
	m, source, err := s.meta(r.Context(), req, store.MetaLatest)
	if err != nil {
		return err
	}
	setSource(w, source)
	data, err := s.allowedLatest(r, req, m.Data)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	serveBytes(w, r, "application/json", "", m.FetchedAt, data)
	return nil
}

// allowedLatest answers @latest with the newest allowed version when the policy
// hides blocked versions and upstream's latest is blocked.
func (s *Server) allowedLatest(r *http.Request, req request, latest []byte) ([]byte, error) {
	p := s.policy()
	ctx := r.Context()
	hide, err := s.hideAny(ctx, req.mod.Path)
	if err != nil || !hide.any {
		return latest, err
	}
	var info Info
	if err := json.Unmarshal(latest, &info); err != nil {
		return nil, err
	}
	d, _, err := s.decide(ctx, module.Version{Path: req.mod.Path, Version: info.Version}, 0)
	if err != nil || !d.Blocked || (d.BlockedForData() || !hide.blocked) && !d.Malware() {
		return latest, err
	}
	list, _, err := s.meta(ctx, request{kind: "list", mod: req.mod, noFetch: req.noFetch}, store.MetaList)
	if err != nil {
		return nil, err
	}
	allowed, err := s.filterList(ctx, req.mod.Path, list.Data)
	if err != nil {
		return nil, err
	}
	best := latestOf(strings.Fields(string(allowed)))
	if best == "" {
		return nil, s.blocked(ctx, r, module.Version{Path: req.mod.Path, Version: info.Version}, d, p, false)
	}
	a, _, err := s.artifact(ctx, module.Version{Path: req.mod.Path, Version: best}, store.KindInfo, req.noFetch, s.clientOf(r))
	if err != nil {
		return nil, err
	}
	return a.Data, nil
}

// setSource tells the audit record where an answer came from.
func setSource(w http.ResponseWriter, source string) {
	if cw, ok := w.(*countingWriter); ok {
		cw.source = source
	}
}

// fetched is a freshly fetched mutable answer and where it came from.
type fetched struct {
	meta   *store.Meta
	source string
}

// meta returns a mutable answer: from the cache while it is younger than
// ListTTL, else from upstream, else (upstream failing) from the cache, stale.
// source says which: "cache", the upstream, or "cache (stale)".
func (s *Server) meta(ctx context.Context, req request, kind store.MetaKind) (_ *store.Meta, source string, _ error) {
	path := req.mod.Path
	cached, err := s.opts.Store.Meta(ctx, path, kind)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if cached != nil && (req.noFetch || s.now().Sub(cached.FetchedAt) < s.opts.ListTTL) {
		s.opts.Metrics.cache(string(kind), true)
		return cached, "cache", nil
	}
	if req.noFetch {
		return nil, "", &module.ModuleError{Path: path, Err: errFetchDisabled}
	}
	s.opts.Metrics.cache(string(kind), false)
	v, err := s.shared(ctx, string(kind)+" "+path, func(ctx context.Context) (any, error) {
		data, source, err := s.fetchSmall(ctx, upstream.Request{Path: path, Kind: upstream.Kind(kind)})
		if err != nil {
			return nil, err
		}
		if kind == store.MetaList {
			data = cleanList(path, data)
		} else if err := checkInfo(path, "", data); err != nil {
			return nil, &upstreamError{err: fmt.Errorf("%s@latest: upstream served a bad answer: %w", path, err)}
		}
		m := &store.Meta{Path: path, Kind: kind, Data: data, FetchedAt: s.now().UTC()}
		if err := s.opts.Store.PutMeta(ctx, m); err != nil {
			return nil, err
		}
		return fetched{m, source}, nil
	})
	if err == nil {
		f := v.(fetched)
		return f.meta, f.source, nil
	}
	if cached != nil && !errors.Is(err, fs.ErrNotExist) && statusOf(err) != http.StatusInternalServerError {
		s.log.Warn("upstream failed; serving stale answer", "module", path, "kind", string(kind),
			"age", s.now().Sub(cached.FetchedAt).Round(time.Second), "err", err.Error())
		s.opts.Metrics.stale(string(kind))
		return cached, "cache (stale)", nil
	}
	return nil, "", err
}

// serveQuery serves the .info of a version query (a branch, a tag that is not a
// canonical version, a commit prefix): resolved by upstream every time, never
// cached, since the answer moves.
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, req request) error {
	if req.noFetch {
		return &module.ModuleError{Path: req.mod.Path, Version: req.mod.Version, Err: errFetchDisabled}
	}
	m := req.mod
	v, err := s.shared(r.Context(), "query "+m.Path+"@"+m.Version, func(ctx context.Context) (any, error) {
		data, source, err := s.fetchSmall(ctx, upstream.Request{Path: m.Path, Version: m.Version, Kind: upstream.Info})
		if err != nil {
			return nil, err
		}
		if err := checkInfo(m.Path, "", data); err != nil {
			return nil, &upstreamError{err: fmt.Errorf("%s@%s: upstream served a bad .info: %w", m.Path, m.Version, err)}
		}
		return fetchedQuery{data, source}, nil
	})
	if err != nil {
		return err
	}
	q := v.(fetchedQuery)
	setSource(w, q.source)
	w.Header().Set("Cache-Control", "no-store")
	serveBytes(w, r, "application/json", "", time.Time{}, q.data)
	return nil
}

type fetchedQuery struct {
	data   []byte
	source string
}

// fetchSmall fetches a small answer whole (the upstream package caps its size).
func (s *Server) fetchSmall(ctx context.Context, req upstream.Request) ([]byte, string, error) {
	start := time.Now()
	resp, err := s.opts.Upstream.Fetch(ctx, req)
	if err == nil {
		var data []byte
		data, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			s.opts.Metrics.upstream(string(req.Kind), start, nil)
			s.opts.Metrics.upstreamBytes(string(req.Kind), int64(len(data)))
			return data, resp.Source, nil
		}
	}
	s.opts.Metrics.upstream(string(req.Kind), start, err)
	return nil, "", &upstreamError{err: err} // the upstream's errors name module@version
}

// cleanList keeps the lines of an upstream @v/list that are valid, canonical,
// non-pseudo versions of path, once each, in upstream's order.
func cleanList(path string, data []byte) []byte {
	var b bytes.Buffer
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		v := strings.TrimSpace(line)
		if i := strings.IndexByte(v, ' '); i >= 0 {
			v = v[:i] // some proxies append a time
		}
		if v == "" || seen[v] || module.IsPseudoVersion(v) || module.CanonicalVersion(v) != v || module.Check(path, v) != nil {
			continue
		}
		seen[v] = true
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
