package proxy

import (
	"context"
	"fmt"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/verify"
)

// Resemblance checks whether a module resembles another (scanner.Resemblance): whether its
// path resembles a known one, and whether its zip copies a stored version of
// another module.
type Resemblance interface {
	// CheckPath returns the look-alike check of path, making (and, with
	// record, storing) it the first time the path is asked for.
	CheckPath(ctx context.Context, path string, record bool) (*store.PathCheck, error)
	// CheckZipDeferred makes the clone check of m's zip, which Of returns
	// from then on, and returns record, which writes it and the zip's
	// files to the index; record is called once, after the answer when it
	// can wait.
	CheckZipDeferred(ctx context.Context, m module.Version, mod []byte, zipPath string, files []store.ZipFile) (*store.Clone, func(context.Context) error, error)
	// Of returns the checks a decision on m needs (the clone check nil
	// when m's zip was never checked).
	Of(ctx context.Context, m module.Version) (*store.PathCheck, *store.Clone, error)
}

// firstRequest makes the look-alike check of a module path the first time
// it is requested (a map read afterwards). A failure is logged: decisions
// make the check themselves when none is stored.
func (s *Server) firstRequest(ctx context.Context, path string) {
	if s.opts.Resemblance == nil || path == "" {
		return
	}
	if _, err := s.opts.Resemblance.CheckPath(ctx, path, true); err != nil {
		s.log.Error("look-alike check", "module", path, "err", err.Error())
	}
}

// resemblanceOf sets the look-alike and clone checks of in.Module.
func (s *Server) resemblanceOf(ctx context.Context, m module.Version) (*store.PathCheck, *store.Clone, error) {
	if s.opts.Resemblance == nil {
		return nil, nil, nil
	}
	return s.opts.Resemblance.Of(ctx, m)
}

// checkZip makes the clone check of a zip about to be served, once: at
// ingest with the per-file hashes computed while verifying it (files), or,
// for a zip stored before (files nil: by an earlier release, or when the
// check failed at ingest), from its blob now. It fails closed: without the
// check the zip is not served.
func (s *Server) checkZip(ctx context.Context, a *store.Artifact, files []store.ZipFile) error {
	record, err := s.checkZipFirst(ctx, a, files)
	if err != nil {
		return err
	}
	return record(ctx)
}

// checkIngestedZip makes the clone check of a zip just ingested (files from
// its hashing), for the decision that answers the requests streaming it,
// and returns what records the check, to call after that answer: the
// decision reads the check from memory (Resemblance.Of) until it is
// written. A failure is logged; the zip is checked again before it is
// served (serveArtifact, streamZip).
func (s *Server) checkIngestedZip(ctx context.Context, a *store.Artifact, files []store.ZipFile) (record func()) {
	m := a.Module
	rec, err := s.checkZipFirst(ctx, a, files)
	if err != nil {
		s.log.Error("clone check", "module", m.Path, "version", m.Version, "err", err.Error())
		return func() {}
	}
	return func() {
		if err := rec(ctx); err != nil {
			// The check holds in this process's memory; after a restart
			// the zip is checked again at its next serve.
			s.log.Error("clone check: recording", "module", m.Path, "version", m.Version, "err", err.Error())
		}
	}
}

// checkZipFirst is checkZip with the write of a check it makes left to
// record (a no-op when none was made).
func (s *Server) checkZipFirst(ctx context.Context, a *store.Artifact, files []store.ZipFile) (record func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if s.opts.Resemblance == nil {
		return none, nil
	}
	m := a.Module
	done := "clone checked " + a.SHA256 + " " + m.Path + "@" + m.Version
	if files == nil {
		if s.memo.get(done) != nil {
			return none, nil // the hot path: no store read
		}
		if _, c, err := s.opts.Resemblance.Of(ctx, m); err != nil {
			return nil, err
		} else if c != nil {
			s.memo.put(done, true, int64(len(done)))
			return none, nil
		}
	}
	zipPath, release, err := s.opts.Blobs.Local(ctx, a.SHA256, a.Size)
	if err != nil {
		return nil, err
	}
	defer release()
	if files == nil {
		if _, files, err = verify.HashZipFiles(zipPath); err != nil {
			return nil, fmt.Errorf("%s@%s: clone check: reading the stored zip: %w", m.Path, m.Version, err)
		}
	}
	ma, _, err := s.artifact(ctx, m, store.KindMod, false, clientFrom(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s@%s: clone check: %w", m.Path, m.Version, err)
	}
	_, rec, err := s.opts.Resemblance.CheckZipDeferred(ctx, m, ma.Data, zipPath, files)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: clone check: %w", m.Path, m.Version, err)
	}
	s.memo.put(done, true, int64(len(done)))
	// Decisions made before the check (the .info and .mod before the zip)
	// must not be reused without it.
	s.memo.forget(fmt.Sprintf("decision %s@%s %d", m.Path, m.Version, 0))
	s.memo.forget(fmt.Sprintf("decision %s@%s %d", m.Path, m.Version, a.Size))
	return func(ctx context.Context) error {
		if err := rec(ctx); err != nil {
			return fmt.Errorf("%s@%s: clone check: %w", m.Path, m.Version, err)
		}
		return nil
	}, nil
}
