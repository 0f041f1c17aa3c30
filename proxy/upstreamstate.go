package proxy

import (
	"context"
	"strings"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner"
)

// originRecorder is what the proxy needs of the scanner to record a
// version's .info Origin at ingest (scanner.Scanner has it).
type originRecorder interface {
	RecordOrigin(ctx context.Context, m module.Version, source string, info []byte, kind store.Kind, audit func(*store.AuditEvent)) (*scanner.UpstreamEvent, error)
}

// recordOrigin records the upstream of a .info or .mod just fetched, and
// the .info's Origin: a different Origin.Hash than the one recorded is the
// finding "origin changed" (audited and announced by the scanner). A failure
// is logged: the bytes are verified and stored.
func (s *Server) recordOrigin(ctx context.Context, m module.Version, kind store.Kind, source string, data []byte) {
	rec, ok := s.opts.Scanner.(originRecorder)
	if !ok {
		return
	}
	if kind != store.KindInfo {
		data = nil // a .mod: the row and its source only
	}
	var audit func(*store.AuditEvent)
	if s.opts.Audit != nil {
		audit = s.opts.Audit.Log
	}
	if _, err := rec.RecordOrigin(ctx, m, source, data, kind, audit); err != nil {
		s.log.Error("recording the upstream origin", "module", m.Path, "version", m.Version, "err", err.Error())
	}
}

// upstreamStates is the store role that says whether a version's tag moved.
type upstreamStates interface {
	UpstreamState(ctx context.Context, m module.Version) (*store.UpstreamState, error)
}

// movedTag explains a checksum mismatch of m when its tag moved upstream
// (the finding "origin changed"): "tag v1.2.3 now points to X (modgate first
// saw Y); the checksum database recorded h1:...". "" when it did not.
func (s *Server) movedTag(ctx context.Context, m module.Version, want, source string) string {
	us, ok := s.opts.Store.(upstreamStates)
	if !ok {
		return ""
	}
	u, err := us.UpstreamState(ctx, m)
	if err != nil || !u.OriginChanged() {
		return ""
	}
	what := m.Version
	if tag, ok := strings.CutPrefix(u.Moved.Ref, "refs/tags/"); ok {
		what = "tag " + tag
	}
	first := ""
	if u.Origin.Hash != "" {
		first = " (modgate first saw " + clipText(u.Origin.Hash, 64) + ")"
	}
	return "origin changed upstream: " + clipText(what, 80) + " now points to " + clipText(u.Moved.Hash, 64) + first +
		"; " + source + " recorded " + want
}

// clipText makes s (an upstream's: hostile) one line of printable ASCII of
// at most n bytes.
func clipText(s string, n int) string {
	b := []byte(s)
	out := make([]byte, 0, min(len(b), n))
	for _, c := range b {
		if len(out) == n {
			break
		}
		if c < 0x20 || c >= 0x7f {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}
