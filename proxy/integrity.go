package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/verify"
)

// Stored bytes are checked on every read, never trusted:
//
//   - a zip is streamed through a [blob.Reader], which hashes it and holds back
//     its final chunk until the SHA-256 matches the blob key recorded with the
//     artifact; a size that differs is found before the first byte;
//   - an .info or .mod read from the database is checked against the SHA-256
//     recorded in its row, and a .mod also against the h1: hash in the checksum
//     store, before it is remembered in the memo or served.
//
// What fails is taken out of service (the blob moved to the quarantine
// directory, the record dropped so that the next request fetches and verifies
// the artifact again from upstream), audited as a security event, counted in
// /metrics, and keeps /readyz at 503 until an operator has looked at the
// quarantine.

// integrityError is a stored artifact that failed its check. The client gets
// 503 (or, when the bytes were already streaming, a cut response).
type integrityError struct {
	mod  module.Version
	kind store.Kind
	err  error
}

func (e *integrityError) Error() string {
	return fmt.Sprintf("%s@%s: modgate's stored copy of the .%s failed its integrity check and was taken out of service;"+
		" it will be fetched and verified again from upstream on the next request (retry), and the operator was alerted",
		e.mod.Path, e.mod.Version, e.kind)
}

func (e *integrityError) Unwrap() error { return e.err }

// abortError asks ServeHTTP to cut the response: its headers (and a prefix of
// the body) are already sent, so no error body can be written; the client must
// see a failed download, not a complete one.
type abortError struct{ err error }

func (e *abortError) Error() string { return "response cut: " + e.err.Error() }
func (e *abortError) Unwrap() error { return e.err }

// storedArtifact reads the record of m's kind from the store and checks inline
// bytes against their recorded hashes. A record that fails is taken out of
// service and reported as an *integrityError.
func (s *Server) storedArtifact(ctx context.Context, m module.Version, kind store.Kind) (*store.Artifact, error) {
	a, err := s.opts.Store.Artifact(ctx, m, kind)
	if err != nil || kind == store.KindZip {
		return a, err
	}
	if err := s.checkSmall(ctx, a); err != nil {
		if mm := (*verify.MismatchError)(nil); errors.As(err, &mm) {
			// The bytes are not at fault: the pin that vouches for them
			// cannot be read. Refused, and kept for the operator to look at.
			if s.opts.Audit != nil {
				who := clientFrom(ctx)
				s.opts.Audit.Log(&store.AuditEvent{Time: s.now().UTC(), Type: store.AuditSecurity, Decision: store.DecisionBlocked,
					ClientToken: who.Token, ClientIP: who.IP, UserAgent: who.UserAgent,
					Module: a.Module.Path, Version: a.Module.Version, Kind: string(a.Kind), Source: "cache",
					Reasons: []string{"recorded checksum cannot be trusted: " + mm.Tampered}})
			}
			return nil, err
		}
		return nil, s.integrityFailure(ctx, a, nil, err)
	}
	return a, nil
}

// checkSmall checks an .info or .mod read from the database: its bytes against
// the row's SHA-256 and size, and a .mod against the h1: hash recorded when it
// was verified (so an edit of the row's bytes and hash together is found too).
func (s *Server) checkSmall(ctx context.Context, a *store.Artifact) error {
	sum := sha256.Sum256(a.Data)
	if got := hex.EncodeToString(sum[:]); got != a.SHA256 || int64(len(a.Data)) != a.Size {
		return fmt.Errorf("stored .%s has sha256 %s and %d bytes, its record says %s and %d bytes", a.Kind, got, len(a.Data), a.SHA256, a.Size)
	}
	if a.Kind != store.KindMod {
		return nil
	}
	rec, err := s.opts.Store.Checksum(ctx, a.Module, store.KindMod)
	if corrupt := (*store.CorruptChecksumError)(nil); errors.As(err, &corrupt) {
		return verify.UnreadablePin(verify.Artifact{Module: a.Module, Kind: a.Kind, Upstream: "cache"}, corrupt)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // stored before hashes were recorded; the SHA-256 vouches
	}
	if err != nil {
		return err
	}
	h, err := verify.HashMod(a.Data)
	if err != nil {
		return err
	}
	if h != rec.Hash {
		return fmt.Errorf("stored .mod hashes to %s, verified as %s", h, rec.Hash)
	}
	return nil
}

// openZip opens the blob of the zip a for serving. A blob that is missing (an
// operator removed it, another replica quarantined it) is fetched again; a blob
// whose size is wrong is taken out of service before a byte is sent.
func (s *Server) openZip(ctx context.Context, a *store.Artifact, who client) (*blob.Blob, *store.Artifact, error) {
	for range 2 {
		b, err := s.opts.Blobs.OpenBlob(ctx, a.SHA256, a.Size)
		var ie *blob.IntegrityError
		switch {
		case err == nil:
			return b, a, nil
		case errors.As(err, &ie):
			defer b.Close()
			return nil, nil, s.integrityFailure(ctx, a, b, err)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("%s@%s: zip blob %s: %w", a.Module.Path, a.Module.Version, a.SHA256, err)
		}
		s.log.Warn("zip blob missing from the blob store: fetching it again", "module", a.Module.Path,
			"version", a.Module.Version, "blob", a.SHA256)
		s.forget(context.WithoutCancel(ctx), a)
		if a, _, err = s.artifact(ctx, a.Module, store.KindZip, false, who); err != nil {
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("%s@%s: zip blob %s: %w", a.Module.Path, a.Module.Version, a.SHA256,
		errors.New("blob missing from the blob store right after it was stored"))
}

// serveZip streams the blob b of the zip a. When the blob fails its check while
// streaming, the response is cut (an *abortError).
func (s *Server) serveZip(ctx context.Context, w http.ResponseWriter, r *http.Request, a *store.Artifact, b *blob.Blob) error {
	h := w.Header()
	if r.Method == http.MethodGet && r.Header.Get("Range") != "" {
		// A part cannot be checked by hashing the part: check the whole
		// blob before serving any of it.
		if err := b.Verify(); err != nil {
			var ie *blob.IntegrityError
			if errors.As(err, &ie) {
				return s.integrityFailure(ctx, a, b, err)
			}
			return fmt.Errorf("%s@%s: zip blob %s: %w", a.Module.Path, a.Module.Version, a.SHA256, err)
		}
	}
	if r.Method == http.MethodGet {
		// --blob-redirect: a blob verified whole lately is fetched by the
		// client from the object store itself (see blob.Blob.Redirect).
		if u := b.Redirect(); u != "" {
			http.Redirect(w, r, u, http.StatusFound)
			return nil
		}
	}
	h.Set("Content-Type", "application/zip")
	h.Set("ETag", `"`+a.SHA256+`"`)
	http.ServeContent(w, r, "", a.CreatedAt, b.Content())
	if err := b.Err(); err != nil {
		return &abortError{err: s.integrityFailure(ctx, a, b, err)}
	}
	return nil
}

// integrityFailure takes a stored artifact that failed its check out of
// service: the blob b (nil for .info and .mod) or the bad bytes go to the
// quarantine, the record is dropped so the next request fetches the artifact
// again, and a security event is audited.
func (s *Server) integrityFailure(ctx context.Context, a *store.Artifact, b *blob.Blob, cause error) error {
	ctx = context.WithoutCancel(ctx)
	var where string
	var qerr error
	if b != nil {
		where, qerr = b.Quarantine()
	} else {
		where, qerr = s.opts.Blobs.QuarantineBytes(ctx, string(a.Kind), a.Data)
	}
	s.forget(ctx, a)
	s.opts.Metrics.integrity(string(a.Kind))
	attrs := []any{"module", a.Module.Path, "version", a.Module.Version, "kind", string(a.Kind),
		"sha256", a.SHA256, "err", cause.Error()}
	if where != "" {
		attrs = append(attrs, "quarantined", where)
	}
	if qerr != nil {
		attrs = append(attrs, "quarantine_err", qerr.Error())
	}
	s.log.Error("stored artifact failed its integrity check: taken out of service", attrs...)
	if s.opts.Audit != nil {
		who := clientFrom(ctx)
		reason := "stored ." + string(a.Kind) + " failed its integrity check: " + cause.Error()
		if where != "" {
			reason += "; quarantined as " + where
		}
		s.opts.Audit.Log(&store.AuditEvent{Time: s.now().UTC(), Type: store.AuditSecurity, Decision: store.DecisionError,
			ClientToken: who.Token, ClientIP: who.IP, UserAgent: who.UserAgent,
			Module: a.Module.Path, Version: a.Module.Version, Kind: string(a.Kind), Source: "cache",
			Reasons: []string{reason, "the record was dropped: the next request fetches and verifies it again from upstream"}})
	}
	return &integrityError{mod: a.Module, kind: a.Kind, err: cause}
}

// forget drops the record of a (if it still names a's bytes) from the store
// and the memo, so that the next request fetches it again.
func (s *Server) forget(ctx context.Context, a *store.Artifact) {
	s.memo.forget(artifactKey(a.Module, a.Kind))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.opts.Store.DropArtifact(ctx, a.Module, a.Kind, a.SHA256); err != nil {
		s.log.Error("dropping the record of a bad artifact", "module", a.Module.Path, "version", a.Module.Version,
			"kind", string(a.Kind), "err", err.Error())
	}
}

// artifactKey names an artifact in the memo and the single-flight group.
func artifactKey(m module.Version, kind store.Kind) string {
	return string(kind) + " " + m.Path + "@" + m.Version
}
