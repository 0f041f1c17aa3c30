package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/singleflight"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/scanner"
)

// Info is the JSON of an .info file (and of @latest).
type Info struct {
	Version string
	Time    time.Time
}

// serveArtifact serves an immutable .info, .mod or .zip of a canonical version.
func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request, req request) error {
	kind := store.Kind(req.kind)
	var who client
	if cw, ok := w.(*countingWriter); ok {
		who = cw.client(s, r)
	} else {
		who = s.clientOf(r)
	}
	ctx := withClient(r.Context(), who)
	if kind == store.KindZip {
		// What is blocked already (by path, by known vulnerabilities) is not
		// even downloaded.
		if err := s.enforce(ctx, w, req.mod, 0); err != nil {
			return err
		}
	}
	var a *store.Artifact
	var hit bool
	var err error
	if kind == store.KindZip && streamable(r, req) {
		// A zip not cached yet is streamed as it is fetched (stream.go).
		a, err = s.cachedArtifact(ctx, req.mod, kind)
		hit = err == nil
		// A zip stored but whose ingest is still recording its facts
		// (licenses, vulnerabilities, capabilities, clone check) is
		// decided on them: the request joins the ingest, as it would have
		// a moment earlier.
		if errors.Is(err, fs.ErrNotExist) || hit && s.ingesting(req.mod) {
			var served bool
			if a, served, err = s.streamZip(ctx, w, req.mod, who); served {
				if s.ahead.firstServe(aheadKey{req.mod, kind}) { // it names its upstream
					s.opts.Metrics.readAhead(string(kind), "used")
				}
				return err
			}
		}
	} else {
		a, hit, err = s.artifact(ctx, req.mod, kind, req.noFetch, who)
	}
	if err != nil {
		return err
	}
	var zb *blob.Blob
	if kind == store.KindZip {
		b, fresh, err := s.openZip(ctx, a, who)
		if err != nil {
			return err
		}
		defer b.Close()
		if fresh != a {
			a, hit = fresh, false // fetched again: its blob was missing
		}
		zb = b
	}
	// .info and .mod are served even for blocked versions (the go command
	// reads go.mod files of versions it will not build); their findings are
	// recorded. A zip is decided again now that its size and facts are known.
	size := int64(0)
	if kind == store.KindZip {
		size = a.Size
		if err := s.checkZip(ctx, a, nil); err != nil {
			return err
		}
	}
	if err := s.enforce(ctx, w, req.mod, size); err != nil {
		if kind == store.KindZip {
			return err
		}
	}
	if kind != store.KindInfo && s.ahead.firstServe(aheadKey{req.mod, kind}) {
		hit = false // fetched ahead for this request: its record names the upstream
		s.opts.Metrics.readAhead(string(kind), "used")
	}
	if cw, ok := w.(*countingWriter); ok {
		cw.source = "cache"
		if !hit {
			cw.source = a.Upstream
		}
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache") // revalidate: the gate decides on every request
	switch kind {
	case store.KindInfo:
		if !req.noFetch {
			s.readAheadZip(req.mod, who) // the go command may ask for it next
		}
		serveBytes(w, r, "application/json", a.SHA256, a.CreatedAt, a.Data)
	case store.KindMod:
		serveBytes(w, r, "text/plain; charset=utf-8", a.SHA256, a.CreatedAt, a.Data)
	case store.KindZip:
		err := s.serveZip(ctx, w, r, a, zb)
		if cw, ok := w.(*countingWriter); ok {
			// After the answer: a zip just ingested may wait for its SBOM.
			if err == nil {
				http.NewResponseController(w).Flush()
			}
			cw.sbom = s.sbomID(r.Context(), req.mod)
		}
		return err
	}
	return nil
}

// artifact returns the stored artifact, fetching, checking and storing it first
// when it is missing. Concurrent calls for one artifact share one fetch, within
// the process (singleflight) and across replicas (the store's fetch lease, see
// fetchOnce); a "not found" from upstream is remembered for MissingTTL, in
// memory and in the store, so it is asked once too.
func (s *Server) artifact(ctx context.Context, m module.Version, kind store.Kind, noFetch bool, who client) (_ *store.Artifact, hit bool, _ error) {
	key := artifactKey(m, kind)
	a, err := s.cachedArtifact(ctx, m, kind)
	if err == nil {
		return a, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if r, ok := s.memo.get(refusedKey(key)).(*refusedZip); ok && s.now().Sub(r.at) < r.ttl {
		return nil, false, r.err
	}
	if err := s.missed(key); err != nil {
		return nil, false, err
	}
	if noFetch {
		return nil, false, &module.ModuleError{Path: m.Path, Version: m.Version, Err: errFetchDisabled}
	}
	s.opts.Metrics.cache(string(kind), false)
	v, err := s.shared(withClient(ctx, who), key, func(ctx context.Context) (any, error) {
		a, err := s.fetchOnce(ctx, m, kind, key)
		return a, s.diskFull(m, kind, err)
	})
	if err != nil {
		var zipErr *verify.ZipError
		if errors.As(err, &zipErr) {
			s.memo.put(refusedKey(key), &refusedZip{err: err, at: s.now(), ttl: refusalTTL}, int64(len(err.Error())))
		}
		return nil, false, err
	}
	a = v.(*store.Artifact)
	s.memo.putArtifact(key, a)
	return a, false, nil
}

// cachedArtifact returns the artifact from the memo or the store;
// fs.ErrNotExist when it is not cached.
func (s *Server) cachedArtifact(ctx context.Context, m module.Version, kind store.Kind) (*store.Artifact, error) {
	key := artifactKey(m, kind)
	if a := s.memo.artifact(key); a != nil {
		s.opts.Metrics.cache(string(kind), true)
		return a, nil
	}
	a, err := s.storedArtifact(ctx, m, kind)
	if err != nil {
		return nil, err
	}
	s.opts.Metrics.cache(string(kind), true)
	s.memo.putArtifact(key, a)
	return a, nil
}

// refusalTTL is how long a zip refused for its content (entries the go command
// never writes, a zip that breaks the module zip rules) is refused from memory
// instead of being downloaded again: each request for it would otherwise pull
// the whole zip from upstream once more, for any client that asks.
const refusalTTL = 10 * time.Minute

// refusedZip is a remembered content refusal.
type refusedZip struct {
	err error
	at  time.Time
	ttl time.Duration
}

func refusedKey(key string) string { return "refused " + key }

// shared runs fn once for all concurrent callers with the same key. fn runs with
// a context detached from the caller's (bounded by FetchTimeout), so a client
// that goes away does not abort a fetch others wait for; a caller whose own
// context ends stops waiting.
func (s *Server) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ch := s.flight(ctx, key, fn)
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flight starts fn for key, or joins the run of it in flight, as shared
// does, and returns the channel its result will come on.
func (s *Server) flight(ctx context.Context, key string, fn func(context.Context) (any, error)) <-chan singleflight.Result {
	return s.group.DoChan(key, func() (any, error) {
		s.bg.Add(1)
		defer s.bg.Done()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.FetchTimeout)
		defer cancel()
		return fn(fctx)
	})
}

// ingest fetches one artifact from upstream and checks it. The caller stores
// the artifact it returns (completing its fetch lease) and then calls done
// with the stored record, which logs the fetch and records the version's facts
// and SBOM, only when the record stored is this fetch's.
func (s *Server) ingest(ctx context.Context, m module.Version, kind store.Kind) (_ *store.Artifact, done func(context.Context, *store.Artifact), err error) {
	start := time.Now()
	defer func() { err = s.diskFull(m, kind, err) }()
	if kind != store.KindInfo {
		// The checksum database is asked while the upstream answers, not
		// after: Check waits for this lookup and uses its verified answer.
		if lookup := s.opts.Verifier.Prefetch(m); lookup != nil {
			s.bg.Add(1)
			go func() {
				defer s.bg.Done()
				lookup()
			}()
		}
	}
	resp, err := s.opts.Upstream.Fetch(ctx, upstream.Request{Path: m.Path, Version: m.Version, Kind: upstream.Kind(kind)})
	if err != nil {
		s.opts.Metrics.upstream(string(kind), start, err)
		if kind == store.KindMod && errors.Is(err, fs.ErrNotExist) {
			a, err := s.syntheticMod(ctx, m)
			return a, func(context.Context, *store.Artifact) {}, err
		}
		return nil, nil, &upstreamError{err: err} // the upstream's errors name module@version
	}
	defer resp.Body.Close()
	var a *store.Artifact
	var zf zipFacts
	var dated time.Time // by the checksum database, when it vouched
	if kind == store.KindZip {
		a, zf, err = s.ingestZip(ctx, m, resp)
		dated = zf.dated
	} else {
		a, dated, err = s.ingestSmall(ctx, m, kind, resp)
	}
	s.opts.Metrics.upstream(string(kind), start, err)
	if err != nil {
		return nil, nil, err
	}
	a.Upstream = resp.Source
	s.opts.Metrics.upstreamBytes(string(kind), a.Size)
	return a, func(ctx context.Context, stored *store.Artifact) {
		s.log.Info("fetched", "module", m.Path, "version", m.Version, "kind", string(kind),
			"bytes", a.Size, "upstream", resp.Source, "duration", time.Since(start))
		if kind != store.KindZip {
			s.recordOrigin(ctx, m, kind, resp.Source, a.Data)
		}
		if zf.caps != nil && stored.SHA256 != a.SHA256 {
			zf.caps.drop() // another replica's zip was stored: its ingest analyses it
		}
		if kind == store.KindZip && stored.SHA256 == a.SHA256 {
			// The SBOM is made after the facts, capabilities and clone
			// check the decision reads; the requests streaming the zip
			// decide and answer before it (sbomID waits for it).
			defer s.sbomPending(m)()
		}
		var licenses *[]scanner.LicenseText
		if kind == store.KindZip && stored.SHA256 == a.SHA256 {
			licenses = &zf.licenses // read while hashing this zip
		}
		s.scan(ctx, stored, resp.LastModified, dated, licenses)
		if kind == store.KindZip && stored.SHA256 == a.SHA256 {
			// The capability facts are made before the answer when the
			// policy in force reads them; else after it, like the SBOM. A
			// decision that needs them meanwhile (the policy was reloaded)
			// joins their computation (capabilityFacts).
			afterAnswer := !s.policy().UsesCapabilities()
			if !afterAnswer {
				s.ingestCapabilities(ctx, stored, &zf)
			}
			recordClone := s.checkIngestedZip(ctx, stored, zf.files)
			if z := streamOf(ctx, m); z != nil {
				z.finish(stored, nil)
			}
			recordClone()
			if afterAnswer {
				s.ingestCapabilities(ctx, stored, &zf)
			}
			s.makeSBOM(ctx, stored, zf)
		}
	}, nil
}

// diskFull turns an error that says a disk (blob store or database) is full
// into the *noSpaceError the client gets, counting and logging it once.
func (s *Server) diskFull(m module.Version, kind store.Kind, err error) error {
	var full *noSpaceError
	if err != nil && noSpace(err) && !errors.As(err, &full) {
		s.opts.Metrics.storageFull()
		s.log.Error("disk full: cannot store an artifact", "module", m.Path, "version", m.Version,
			"kind", string(kind), "err", err.Error())
		return &noSpaceError{mod: m, kind: string(kind), err: err}
	}
	return err
}

// scan records the facts of a version when its .mod or .zip is ingested: the
// .mod gives requirements (and, for the module's latest version, retractions
// and deprecation); the zip adds licenses. lastModified (the upstream's) and
// dated (the checksum database's, see verify.Result.Published) are
// publication times, zero when unknown. licenses, if not nil, are the
// zip's license files, read while it was hashed at ingest; else they are
// read from the stored zip. A failure is logged, not fatal: the bytes are
// verified and stored, and the facts can be computed again later.
func (s *Server) scan(ctx context.Context, a *store.Artifact, lastModified, dated time.Time, licenses *[]scanner.LicenseText) {
	if s.opts.Scanner == nil || a.Kind == store.KindInfo {
		return
	}
	m := a.Module
	var opts []scanner.FactOption
	if !lastModified.IsZero() && a.Kind == store.KindMod {
		opts = append(opts, scanner.WithPublished(lastModified, store.PublishedUpstream))
	}
	if !dated.IsZero() {
		opts = append(opts, scanner.WithPublished(dated, store.PublishedSumDB))
	}
	mod, zipPath := a.Data, ""
	if a.Kind == store.KindZip {
		ma, _, err := s.artifact(ctx, m, store.KindMod, false, clientFrom(ctx))
		if err != nil {
			s.log.Warn("facts: no go.mod for the zip", "module", m.Path, "version", m.Version, "err", err.Error())
			return
		}
		mod = ma.Data
		if licenses != nil {
			opts = append(opts, scanner.WithLicenseFiles(*licenses))
		} else {
			var release func()
			if zipPath, release, err = s.opts.Blobs.Local(ctx, a.SHA256, a.Size); err != nil {
				s.log.Error("facts: zip blob", "module", m.Path, "version", m.Version, "err", err.Error())
				return
			}
			defer release()
		}
	} else if s.latestVersion(ctx, m.Path) == m.Version {
		opts = append(opts, scanner.WithLatest(m.Version, mod))
	}
	if err := s.opts.Scanner.Record(ctx, m, mod, zipPath, opts...); err != nil {
		s.log.Error("facts: computing", "module", m.Path, "version", m.Version, "err", err.Error())
	}
}

// latestVersion is the latest version in the cached @v/list of path (the
// highest release, else the highest pre-release), or "" when none is cached.
func (s *Server) latestVersion(ctx context.Context, path string) string {
	meta, err := s.opts.Store.Meta(ctx, path, store.MetaList)
	if err != nil {
		return ""
	}
	return latestOf(strings.Fields(string(meta.Data)))
}

// latestOf is the latest of versions as the go command picks it: the highest
// release, else the highest pre-release ("" for none).
func latestOf(versions []string) string {
	var rel, pre string
	for _, v := range versions {
		if semver.Prerelease(v) == "" {
			if semver.Compare(v, rel) > 0 {
				rel = v
			}
		} else if semver.Compare(v, pre) > 0 {
			pre = v
		}
	}
	if rel != "" {
		return rel
	}
	return pre
}

// ingestSmall reads and checks an .info or .mod (both are size-capped by the
// upstream package).
func (s *Server) ingestSmall(ctx context.Context, m module.Version, kind store.Kind, resp *upstream.Response) (_ *store.Artifact, dated time.Time, err error) {
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, dated, &upstreamError{err: fmt.Errorf("%s@%s: reading .%s from %s: %w", m.Path, m.Version, kind, resp.Source, err)}
	}
	switch kind {
	case store.KindInfo:
		if err := checkInfo(m.Path, m.Version, data); err != nil {
			return nil, dated, &upstreamError{err: fmt.Errorf("%s@%s: %s served a bad .info: %w", m.Path, m.Version, resp.Source, err)}
		}
	case store.KindMod:
		f, err := modfile.ParseLax("go.mod", data, nil)
		if err != nil {
			return nil, dated, &upstreamError{err: fmt.Errorf("%s@%s: %s served a go.mod that does not parse: %w", m.Path, m.Version, resp.Source, err)}
		}
		// The client asks for these next: their records are looked up
		// while this go.mod is verified.
		s.prefetchRequirements(f)
		if dated, err = s.verifyMod(ctx, m, data, resp.Source); err != nil {
			return nil, dated, err
		}
		// Only a verified go.mod names what is fetched ahead.
		s.readAheadRequirements(f, clientFrom(ctx))
	}
	return newSmallArtifact(m, kind, data), dated, nil
}

// verifyMod checks a go.mod's hash; see [Server.verify].
func (s *Server) verifyMod(ctx context.Context, m module.Version, data []byte, source string) (time.Time, error) {
	h, err := verify.HashMod(data)
	if err != nil {
		return time.Time{}, err
	}
	return s.verify(ctx, verify.Artifact{Module: m, Kind: store.KindMod, Hash: h, Upstream: source})
}

// verify checks an artifact's hash and audits what is worth auditing: refusals,
// and artifacts let through unverified by configuration. It returns the
// version's publication time as the checksum database dates it
// (verify.Result.Published; zero when unknown).
func (s *Server) verify(ctx context.Context, a verify.Artifact) (time.Time, error) {
	who := clientFrom(ctx)
	a.Client = who.IP
	if who.Token != "" {
		a.Client = who.Token + " (" + who.IP + ")"
	}
	res, err := s.opts.Verifier.Check(ctx, a)
	if err == nil && res.Warning == "" {
		return res.Published, nil
	}
	e := &store.AuditEvent{Time: s.now().UTC(), Type: store.AuditChecksum, ClientToken: who.Token, ClientIP: who.IP, UserAgent: who.UserAgent,
		Module: a.Module.Path, Version: a.Module.Version, Kind: string(a.Kind), Source: a.Upstream}
	var mismatch *verify.MismatchError
	switch {
	case err == nil:
		e.Decision = store.DecisionServed
		e.Reasons = []string{res.Warning}
	case errors.As(err, &mismatch) && mismatch.Tampered != "":
		e.Type, e.Decision = store.AuditSecurity, store.DecisionBlocked
		e.Reasons = []string{"recorded checksum cannot be trusted: " + mismatch.Tampered, "received " + a.Hash}
	case errors.As(err, &mismatch):
		mismatch.Explain = s.movedTag(ctx, a.Module, mismatch.Want, mismatch.Source)
		e.Decision = store.DecisionBlocked
		e.Reasons = []string{"checksum mismatch: expected " + mismatch.Want + " (" + mismatch.Source + "), received " + a.Hash}
		if mismatch.Explain != "" {
			e.Reasons = append(e.Reasons, mismatch.Explain)
		}
	case statusOf(err) == http.StatusForbidden:
		e.Decision = store.DecisionBlocked
		e.Reasons = []string{err.Error()}
	default:
		e.Decision = store.DecisionError
		e.Reasons = []string{err.Error()}
	}
	if s.opts.Audit != nil {
		s.opts.Audit.Log(e)
	}
	return res.Published, err
}

func newSmallArtifact(m module.Version, kind store.Kind, data []byte) *store.Artifact {
	sum := sha256.Sum256(data)
	return &store.Artifact{Module: m, Kind: kind, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Data: data}
}

// checkInfo checks an .info answer. want is the version asked for; empty means
// any valid version of path (for @latest and queries).
func checkInfo(path, want string, data []byte) error {
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if want != "" && info.Version != want {
		return fmt.Errorf("it names version %q", info.Version)
	}
	if err := module.Check(path, info.Version); err != nil {
		return err
	}
	if module.CanonicalVersion(info.Version) != info.Version {
		return fmt.Errorf("version %q is not canonical", info.Version)
	}
	return nil
}

// ingestZip streams a zip into a new blob, checks it against the module zip
// rules and commits it. A zip that fails is dropped without a trace.
func (s *Server) ingestZip(ctx context.Context, m module.Version, resp *upstream.Response) (a *store.Artifact, zf zipFacts, err error) {
	w, err := s.opts.Blobs.Create()
	if err != nil {
		return nil, zf, err
	}
	var feed *capsFeed
	defer func() {
		if err != nil {
			w.Abort()
			feed.drop()
		}
	}()
	h512 := sha512.New()
	dst := io.MultiWriter(w, h512)
	if z := streamOf(ctx, m); z != nil {
		// The requests streaming the zip read the file behind the writer.
		z.start(w.TempPath(), resp.Size, resp.Source)
		dst = io.MultiWriter(w, h512, z)
	}
	if _, err := io.Copy(dst, resp.Body); err != nil {
		var local *blob.Error
		if errors.As(err, &local) {
			return nil, zf, fmt.Errorf("%s@%s: storing .zip: %w", m.Path, m.Version, err) // modgate's disk, not the upstream
		}
		return nil, zf, &upstreamError{err: fmt.Errorf("%s@%s: downloading .zip from %s: %w", m.Path, m.Version, resp.Source, err)}
	}
	if resp.Size >= 0 && w.Size() != resp.Size {
		return nil, zf, &upstreamError{err: fmt.Errorf("%s@%s: .zip from %s is %d bytes, announced %d", m.Path, m.Version, resp.Source, w.Size(), resp.Size)}
	}
	if z := streamOf(ctx, m); z != nil {
		z.downloaded(w.Sum())
	}
	// The one read of every file that hashes the zip also feeds the
	// capability pass (capabilities.go), which would read the zip again;
	// the pass reads the files after the hash.
	feed = s.newCapsFeed(m)
	visit := &zipVisitor{caps: feed}
	h, files, err := verify.CheckHashZipFiles(m, w.TempPath(), visit)
	if err != nil {
		return nil, zf, err
	}
	dated, err := s.verify(ctx, verify.Artifact{Module: m, Kind: store.KindZip, Hash: h, Upstream: resp.Source})
	if err != nil {
		return nil, zf, err
	}
	key, size, err := w.Commit()
	if err != nil {
		return nil, zf, err
	}
	zf = zipFacts{sha512: hex.EncodeToString(h512.Sum(nil)), h1: h, dated: dated, files: files, caps: feed,
		licenses: visit.licenses}
	return &store.Artifact{Module: m, Kind: store.KindZip, SHA256: key, Size: size}, zf, nil
}

// syntheticMod answers a .mod that upstream does not have for a version that
// exists (a module without a go.mod file, as the go command treats it): the
// go.mod it implies is "module <path>".
func (s *Server) syntheticMod(ctx context.Context, m module.Version) (*store.Artifact, error) {
	if _, _, err := s.artifact(ctx, m, store.KindInfo, false, clientFrom(ctx)); err != nil {
		return nil, err
	}
	data := []byte("module " + modfile.AutoQuote(m.Path) + "\n")
	if _, err := s.verifyMod(ctx, m, data, "synthesized"); err != nil {
		return nil, err
	}
	a := newSmallArtifact(m, store.KindMod, data)
	a.Upstream = "synthesized"
	return a, nil
}
