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
	// CheckZip indexes the files of m's zip and makes its clone check.
	CheckZip(ctx context.Context, m module.Version, mod []byte, zipPath string, files []store.ZipFile) (*store.Clone, error)
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
	if s.opts.Resemblance == nil {
		return nil
	}
	m := a.Module
	done := "clone checked " + a.SHA256 + " " + m.Path + "@" + m.Version
	if files == nil {
		if s.memo.get(done) != nil {
			return nil // the hot path: no store read
		}
		if _, c, err := s.opts.Resemblance.Of(ctx, m); err != nil {
			return err
		} else if c != nil {
			s.memo.put(done, true, int64(len(done)))
			return nil
		}
	}
	zipPath, release, err := s.opts.Blobs.Local(ctx, a.SHA256, a.Size)
	if err != nil {
		return err
	}
	defer release()
	if files == nil {
		if _, files, err = verify.HashZipFiles(zipPath); err != nil {
			return fmt.Errorf("%s@%s: clone check: reading the stored zip: %w", m.Path, m.Version, err)
		}
	}
	ma, _, err := s.artifact(ctx, m, store.KindMod, false, clientFrom(ctx))
	if err != nil {
		return fmt.Errorf("%s@%s: clone check: %w", m.Path, m.Version, err)
	}
	if _, err := s.opts.Resemblance.CheckZip(ctx, m, ma.Data, zipPath, files); err != nil {
		return fmt.Errorf("%s@%s: clone check: %w", m.Path, m.Version, err)
	}
	s.memo.put(done, true, int64(len(done)))
	// Decisions made before the check (the .info and .mod before the zip)
	// must not be reused without it.
	s.memo.forget(fmt.Sprintf("decision %s@%s %d", m.Path, m.Version, 0))
	s.memo.forget(fmt.Sprintf("decision %s@%s %d", m.Path, m.Version, a.Size))
	return nil
}
