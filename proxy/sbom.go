package proxy

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/scanner"
)

// zipFacts is what the ingest of a zip knows beyond its record, for its SBOM.
type zipFacts struct {
	sha512 string
	h1     string
	dated  time.Time       // by the checksum database (verify.Result.Published)
	files  []store.ZipFile // every file's SHA-256, for the clone check
	caps   *capsFeed       // the capability pass fed while the zip was hashed
	// licenses are the zip's license files, read while it was hashed.
	licenses []scanner.LicenseText
}

// makeSBOM records the SPDX SBOM of a version whose zip was just ingested,
// from the zip's hashes and the version's facts. A failure is logged: the
// zip is verified and stored, and serving it does not depend on its SBOM.
func (s *Server) makeSBOM(ctx context.Context, a *store.Artifact, zf zipFacts) {
	if s.opts.SBOMs == nil || s.opts.SBOM.Namespace == "" {
		return
	}
	m := a.Module
	in := sbom.Module{Path: m.Path, Version: m.Version, SHA256: a.SHA256, SHA512: zf.sha512, H1: zf.h1,
		DownloadLocation: downloadURL(a.Upstream, m)}
	if c, err := s.opts.Store.Checksum(ctx, m, store.KindMod); err == nil {
		in.ModH1 = c.Hash
	}
	if s.opts.Scanner != nil {
		if f, err := s.opts.Scanner.Lookup(ctx, m); err == nil {
			// The publication time: recorded from upstream, else the .info
			// Time; never when modgate first saw the version.
			var upstream time.Time
			if store.PublishedTrusted(f.PublishedSource) {
				upstream = f.Published
			}
			var info []byte
			if a, err := s.opts.Store.Artifact(ctx, m, store.KindInfo); err == nil {
				info = a.Data
			}
			in.Time, in.TimeSource = sbom.PublishTime(upstream, f.PublishedSource, info)
			in.Requires = f.Requires
			if f.LicensesKnown {
				in.License = strings.Join(f.Licenses, " AND ")
			}
			for _, v := range f.Affecting() {
				in.Vulns = append(in.Vulns, sbom.Vuln{ID: v.ID, Aliases: v.Aliases, Summary: v.Summary,
					URL: "https://pkg.go.dev/vuln/" + v.ID, Fixed: v.Fixed})
			}
		}
	}
	opts := s.opts.SBOM
	opts.Created = s.now().UTC()
	id, input, err := sbom.NewRecord(in, opts)
	if err == nil {
		err = s.opts.SBOMs.PutSBOM(ctx, &store.SBOMRecord{ID: id, Module: m, Created: opts.Created, Input: input})
	}
	if err != nil {
		s.log.Error("sbom: recording", "module", m.Path, "version", m.Version, "err", err.Error())
		return
	}
	s.memo.put("sbom "+m.Path+"@"+m.Version, id, int64(len(id)))
}

// sbomWait bounds how long an answered request waits for the SBOM being
// made, to name it in its audit record.
const sbomWait = time.Minute

// sbomPending marks m's SBOM as being made until the returned function is
// called, so that sbomID waits for it.
func (s *Server) sbomPending(m module.Version) (done func()) {
	ch := make(chan struct{})
	s.sboms.Store(m, ch)
	return func() {
		s.sboms.CompareAndDelete(m, ch)
		close(ch)
	}
}

// sbomID names the latest SBOM of m, or "" when it has none. When m's SBOM
// is being made (its zip was just ingested and answered), it waits for it.
func (s *Server) sbomID(ctx context.Context, m module.Version) string {
	if s.opts.SBOMs == nil {
		return ""
	}
	if ch, ok := s.sboms.Load(m); ok {
		// The answer was sent and the client may have gone (the go
		// command exits once it has its files), but the audit record of
		// this fetch must still name the SBOM: the wait is not bounded by
		// the request, only by sbomWait.
		t := time.NewTimer(sbomWait)
		defer t.Stop()
		select {
		case <-ch.(chan struct{}):
		case <-t.C:
			s.log.Warn("sbom: not made in time for the audit record", "module", m.Path, "version", m.Version, "waited", sbomWait)
			return ""
		}
	}
	ctx = context.WithoutCancel(ctx)
	key := "sbom " + m.Path + "@" + m.Version
	if id, ok := s.memo.get(key).(string); ok {
		return id
	}
	rec, err := s.opts.SBOMs.SBOM(ctx, m)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("sbom: looking up", "module", m.Path, "version", m.Version, "err", err.Error())
		}
		return ""
	}
	s.memo.put(key, rec.ID, int64(len(rec.ID)))
	return rec.ID
}

// downloadURL is where the zip of m can be downloaded from upstream, when the
// upstream is a proxy on the network ("NOASSERTION" for direct and files).
func downloadURL(source string, m module.Version) string {
	if !strings.HasPrefix(source, "https://") && !strings.HasPrefix(source, "http://") {
		return ""
	}
	p, err1 := module.EscapePath(m.Path)
	v, err2 := module.EscapeVersion(m.Version)
	if err1 != nil || err2 != nil {
		return ""
	}
	return strings.TrimSuffix(source, "/") + "/" + p + "/@v/" + v + ".zip"
}
