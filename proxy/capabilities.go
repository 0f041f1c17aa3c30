package proxy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/caps"
)

// Capability facts (package scanner/caps) are computed once per zip, after
// it is stored: at ingest, and, for a zip stored before (or whose facts
// could not be computed then), by the first decision on it that needs them.
// A decision on a zip waits for them; when they cannot be computed it gets
// capabilities.unknown (fail closed, as the policy says).
//
// The difference is taken against the highest lower version of the module
// with facts; when there is none, the highest lower version of the module's
// @v/list is fetched (its zip only, once, through the same ingest and
// checks as any zip, without comparing it further in turn).

// notComparedNote is the BaseNote of facts computed for a version fetched as
// another version's base: it was not compared itself, which is done when its
// own zip is decided on.
const notComparedNote = "not compared yet: analysed as the base of a later version"

// notNeededNote is the BaseNote of facts with nothing the policy lists: no
// earlier version was fetched to compare with.
const notNeededNote = "not compared: no earlier version analysed here, and the policy needs no comparison"

// baseFetchKey marks a context whose ingest fetches a version as the base of
// another one's comparison.
type baseFetchKey struct{}

// capabilityRetry is how long facts whose base could not be fetched are kept
// before a decision tries again.
const capabilityRetry = 10 * time.Minute

// capabilities computes, compares and stores the capability facts of the
// stored zip a: from feed, the pass its ingest fed with every file as it
// hashed them (nil, or dropped: the zip is read again from its blob). A failure to read
// the zip is recorded in the facts (Failed); only a store failure is
// returned.
func (s *Server) capabilities(ctx context.Context, a *store.Artifact, feed *capsFeed) (*store.CapabilityFacts, error) {
	m := a.Module
	start := time.Now()
	f := &store.CapabilityFacts{Module: m}
	r, err := s.capabilityReport(ctx, a, feed)
	if err != nil {
		f.Failed = err.Error()
	} else {
		f.Uses, f.Binaries = policy.CapabilityUses(r.Uses), policy.CapabilityBinaries(r.Binaries)
		f.Files, f.Skipped = r.Files, r.Skipped
		base, note := s.capabilityBase(ctx, f)
		f.BaseNote = note
		if base != nil {
			policy.CompareCapabilities(base, f)
		}
	}
	f.ComputedAt = s.now().UTC()
	if err := s.opts.Store.PutCapabilities(context.WithoutCancel(ctx), f); err != nil {
		return nil, fmt.Errorf("%s@%s: storing capabilities: %w", m.Path, m.Version, err)
	}
	s.log.Info("capabilities", "module", m.Path, "version", m.Version, "uses", len(f.Uses), "added", len(f.Added),
		"base", f.Base, "note", f.BaseNote, "failed", f.Failed, "duration", time.Since(start))
	return f, nil
}

// ingestCapabilities makes the capability facts of a zip just ingested,
// from the pass its ingest fed (zf.caps), as the computation a decision
// that needs them meanwhile joins (see capabilityFacts).
func (s *Server) ingestCapabilities(ctx context.Context, a *store.Artifact, zf *zipFacts) {
	m := a.Module
	feed := zf.caps
	zf.caps = nil // its files are not needed any more (the SBOM is not quick)
	_, err := s.shared(ctx, capabilitiesKey(m), func(ctx context.Context) (any, error) {
		return s.capabilities(ctx, a, feed)
	})
	if err != nil {
		// The decision on the zip computes them again, or refuses it.
		s.log.Error("capabilities", "module", m.Path, "version", m.Version, "err", err.Error())
	}
}

// capabilitiesKey is the key of the computation of m's capability facts
// (Server.shared).
func capabilitiesKey(m module.Version) string { return "capabilities " + m.Path + "@" + m.Version }

// capabilityReport ends the pass of feed, or runs a pass over the stored
// zip when there is none. Ending a fed pass reads the files kept for it
// (capsFeed) and links their summaries, and runs at once: on the
// cold fill of the hugo graph, letting these run together left the peak RSS and
// the CPU time as they were with one at a time (160 and 161 MiB, 58.0 and
// 57.3 s, side by side). A pass over a stored zip reads the whole zip and
// runs one at a time, as before.
func (s *Server) capabilityReport(ctx context.Context, a *store.Artifact, feed *capsFeed) (*caps.Report, error) {
	if r := feed.report(); r != nil {
		return r, nil
	}
	select {
	case s.capSem <- struct{}{}:
		defer func() { <-s.capSem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	path, release, err := s.opts.Blobs.Local(ctx, a.SHA256, a.Size)
	if err != nil {
		return nil, err
	}
	defer release()
	return caps.ZipFile(path, a.Module)
}

// capabilityBase returns the facts to compare f's version with, or nil and
// why there are none. An earlier version is fetched only when the policy's
// decision depends on the comparison (policy.NeedsCapabilityBase): a module
// that uses nothing the policy lists costs no upstream request.
func (s *Server) capabilityBase(ctx context.Context, f *store.CapabilityFacts) (*store.CapabilityFacts, string) {
	m := f.Module
	vs, err := s.opts.Store.CapabilityVersions(ctx, m.Path)
	if err != nil {
		return nil, "the versions analysed before could not be read: " + err.Error()
	}
	if v := highestBelow(vs, m.Version); v != "" {
		f, err := s.opts.Store.CapabilityFacts(ctx, module.Version{Path: m.Path, Version: v})
		if err != nil {
			return nil, v + ": its capabilities could not be read: " + err.Error()
		}
		return f, ""
	}
	if ctx.Value(baseFetchKey{}) != nil {
		return nil, notComparedNote
	}
	if !s.policy().NeedsCapabilityBase(f) {
		return nil, notNeededNote
	}
	list, _, err := s.meta(ctx, request{kind: "list", mod: module.Version{Path: m.Path}}, store.MetaList)
	if err != nil {
		return nil, "the module's versions could not be listed: " + err.Error()
	}
	prev := highestBelow(strings.Fields(string(list.Data)), m.Version)
	if prev == "" {
		return nil, policy.FirstVersionNote + " of " + m.Path + " is listed"
	}
	pm := module.Version{Path: m.Path, Version: prev}
	bctx := context.WithValue(ctx, baseFetchKey{}, true)
	za, _, err := s.artifact(bctx, pm, store.KindZip, false, clientFrom(ctx))
	if err != nil {
		return nil, prev + ": its zip could not be fetched to compare with: " + err.Error()
	}
	bf, err := s.opts.Store.CapabilityFacts(ctx, pm)
	if errors.Is(err, fs.ErrNotExist) {
		bf, err = s.capabilities(bctx, za, nil) // stored before modgate computed capabilities
	}
	if err != nil {
		return nil, prev + ": its capabilities could not be computed: " + err.Error()
	}
	if bf.Failed != "" {
		return nil, prev + ": its capabilities could not be computed: " + bf.Failed
	}
	return bf, ""
}

// highestBelow is the highest of versions below v ("" if none).
func highestBelow(versions []string, v string) string {
	best := ""
	for _, x := range versions {
		if semver.IsValid(x) && semver.Compare(x, v) < 0 && (best == "" || semver.Compare(x, best) > 0) {
			best = x
		}
	}
	return best
}

// capabilityFacts returns m's facts for a decision. For a zip about to be
// served (zip set) it computes them when they are missing, were computed
// for a version fetched as a base, or lack their base after
// capabilityRetry; a failure then leaves them nil (capabilities.unknown).
func (s *Server) capabilityFacts(ctx context.Context, m module.Version, zip bool) (*store.CapabilityFacts, error) {
	f, err := s.opts.Store.CapabilityFacts(ctx, m)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if !zip || f != nil && f.Failed == "" && !s.recompare(f) {
		return f, nil
	}
	a, err := s.storedArtifact(ctx, m, store.KindZip)
	if err != nil {
		s.log.Warn("capabilities: no stored zip to analyse", "module", m.Path, "version", m.Version, "err", err.Error())
		return f, nil
	}
	v, err := s.shared(ctx, capabilitiesKey(m), func(ctx context.Context) (any, error) {
		return s.capabilities(ctx, a, nil)
	})
	if err != nil {
		s.log.Error("capabilities: computing", "module", m.Path, "version", m.Version, "err", err.Error())
		return nil, nil
	}
	return v.(*store.CapabilityFacts), nil
}

// recompare reports whether f lacks a comparison that may be made now.
func (s *Server) recompare(f *store.CapabilityFacts) bool {
	if f.Base != "" || f.BaseNote == "" || strings.HasPrefix(f.BaseNote, policy.FirstVersionNote) ||
		!s.policy().NeedsCapabilityBase(f) {
		return false
	}
	return f.BaseNote == notComparedNote || f.BaseNote == notNeededNote || s.now().Sub(f.ComputedAt) >= capabilityRetry
}

// capsFedBudget bounds what the capability passes of ingests hold together
// (see capsFeed): the summaries of the files they have read ([caps.Pass.Held])
// and the files kept for them to read later. Each ingest holds its pass from
// its read to the end of its checks and facts, and passes of concurrent
// ingests must not add up without bound. A pass whose summaries do not fit
// is dropped: its zip is analysed from its stored blob instead, as a zip
// stored before is. A feed whose files do not fit has its pass read them at
// once, as they are hashed.
const capsFedBudget = 32 << 20

// capsKeepMax is how much of a zip's files its feed keeps for its pass to
// read after the hash: the median zip of the hugo graph has 0.2 MB of Go
// source the pass reads, one in ten more than 2 MB. A zip with more has its
// files read by the pass as they are hashed, as before.
const capsKeepMax = 1 << 20

// Batches of kept files are at least capsChunk bytes, a power of two up to
// capsKept; a larger file has one of its own. capsPool keeps batches of up
// to capsKept for the next, up to capsIdle bytes together.
const (
	capsChunk = 256 << 10
	capsKept  = 1 << 20
	capsIdle  = 2 << 20
)

// capsFeed gives the files of a zip being hashed (verify.CheckHashZipFiles)
// to a capability pass. The pass reads them (lexes and summarises every Go
// file, [caps.Pass.File]) when its facts are made (report), not inside the
// hash: the hash reads each file the pass wants into the feed's buffer
// (Buffer, verify.FileBuffer), which keeps what the pass needs of it
// ([caps.Needed]: a Go file whole unless it is ignored or over the pass's
// limit, the start of a program, the name of assembly; nothing of any
// other file). The answer to
// a zip waits for its capability facts only when the policy in force reads
// them (see ingest), so the pass is off the answer of every other zip.
// Past capsKeepMax or the budget, the pass reads what was kept and then
// every file as it is hashed.
//
// A feed is used by one ingest at a time; what it counts is given back when
// the pass ends (report), or is dropped, or, for an ingest that ends without
// storing its zip, when the feed is collected.
type capsFeed struct {
	pass     *caps.Pass // nil once dropped
	held     *capsHeld
	budget   int64
	pool     *capsPool
	kept     []*capsBatch // the files kept, in zip order; the last is being filled
	buffered bool         // the file being read is read into the last batch (Buffer)
	inline   bool         // the pass reads the files as they are hashed
}

// capsHeld is what one capsFeed counts in the server's capsFed (its pass's
// summaries) and capsKept (its kept files).
type capsHeld struct {
	n, k      atomic.Int64
	fed, kept *atomic.Int64
}

// release gives back what h counts; later calls do nothing.
func (h *capsHeld) release() {
	h.fed.Add(-h.n.Swap(0))
	h.kept.Add(-h.k.Swap(0))
}

// capsBatch is files kept together: each is data[off:end].
type capsBatch struct {
	data  []byte
	files []capsFile
}

type capsFile struct {
	name     string
	size     int64
	off, end int
}

// newCapsFeed starts a pass for m fed at ingest.
func (s *Server) newCapsFeed(m module.Version) *capsFeed {
	f := &capsFeed{pass: caps.NewPass(m.Path), held: &capsHeld{fed: &s.capsFed, kept: &s.capsKept},
		budget: s.capsBudget, pool: s.capsPool}
	runtime.AddCleanup(f, (*capsHeld).release, f.held)
	return f
}

func (c *capsFeed) Want(name string, size int64) int64 {
	if c.pass == nil {
		return 0
	}
	return caps.Want(name, size)
}

// Buffer has the hash read the start of the next file (n bytes) into the
// batch being filled, so that File keeps what the pass needs of it without
// a copy (verify.FileBuffer); nil when the pass reads the file at once.
func (c *capsFeed) Buffer(n int64) []byte {
	if c.pass == nil || c.inline || !c.room(n) {
		return nil
	}
	b := c.kept[len(c.kept)-1]
	c.buffered = true
	return b.data[len(b.data) : len(b.data)+int(n)]
}

func (c *capsFeed) File(name string, size int64, data []byte) {
	buffered := c.buffered
	c.buffered = false
	if c.pass == nil {
		return
	}
	if !c.inline {
		keep, ok := caps.Needed(name, size, data) // keep is a prefix of data
		if !ok {
			return // the pass does nothing with it
		}
		if buffered || c.room(int64(len(keep))) {
			b := c.kept[len(c.kept)-1]
			off := len(b.data)
			if buffered { // data is at the end of b
				b.data = b.data[:off+len(keep)]
			} else {
				b.data = append(b.data, keep...)
			}
			b.files = append(b.files, capsFile{name: name, size: size, off: off, end: len(b.data)})
			return
		}
	}
	c.read(name, size, data)
}

// room makes room for n more bytes in the last batch kept, and reports
// whether it could: when the feed would keep more than capsKeepMax, or the
// passes' budget is spent, the pass reads the files kept so far and then
// every file as it is hashed (inline).
func (c *capsFeed) room(n int64) bool {
	if k := len(c.kept); k > 0 && n <= int64(cap(c.kept[k-1].data)-len(c.kept[k-1].data)) {
		return true
	}
	size := int64(c.pool.size(int(n)))
	if c.held.k.Load()+size > capsKeepMax || c.held.fed.Load()+c.held.kept.Load()+size > c.budget {
		c.readKept()
		c.inline = true
		return false
	}
	b := c.pool.get(int(n))
	c.kept = append(c.kept, b)
	c.held.k.Add(int64(cap(b.data)))
	c.held.kept.Add(int64(cap(b.data)))
	return true
}

// read gives the pass one file, and drops it when the passes hold more
// than their budget.
func (c *capsFeed) read(name string, size int64, data []byte) {
	c.pass.File(name, size, data)
	held := c.pass.Held()
	if c.held.fed.Add(held-c.held.n.Swap(held)) > c.budget {
		c.drop()
	}
}

// readKept gives the pass the files kept, and lets them go.
func (c *capsFeed) readKept() {
	kept := c.kept
	c.kept = nil
	n := c.held.k.Swap(0)
	c.held.kept.Add(-n)
	for _, b := range kept {
		for _, f := range b.files {
			if c.pass != nil {
				c.read(f.name, f.size, b.data[f.off:f.end])
			}
		}
		c.pool.put(b)
	}
}

// drop lets the pass go.
func (c *capsFeed) drop() {
	if c == nil {
		return
	}
	c.pass = nil
	for _, b := range c.kept {
		c.pool.put(b)
	}
	c.kept = nil
	c.held.release()
}

// report ends the pass, once it has read the files kept; nil when it was
// dropped.
func (c *capsFeed) report() *caps.Report {
	if c == nil || c.pass == nil {
		return nil
	}
	c.readKept()
	if c.pass == nil {
		return nil
	}
	r := c.pass.Report()
	c.drop()
	return r
}

// capsPool keeps batches for the next feeds (see capsKept). Its methods are
// safe for concurrent use; a nil pool keeps none.
type capsPool struct {
	mu   sync.Mutex
	free []*capsBatch
	idle int
}

// size is the size of a batch with room for n bytes.
func (p *capsPool) size(n int) int {
	size := capsChunk
	for size < n && size < capsKept {
		size *= 2
	}
	return max(size, n)
}

// get returns an empty batch with room for at least n bytes.
func (p *capsPool) get(n int) *capsBatch {
	size := p.size(n)
	if size > capsKept {
		return &capsBatch{data: make([]byte, 0, n)}
	}
	if p != nil {
		p.mu.Lock()
		for i, b := range p.free {
			if cap(b.data) >= n {
				p.free = slices.Delete(p.free, i, i+1)
				p.idle -= cap(b.data)
				p.mu.Unlock()
				return b
			}
		}
		p.mu.Unlock()
	}
	return &capsBatch{data: make([]byte, 0, size)}
}

// put keeps b for another batch, if it is not larger than capsKept and
// there is room.
func (p *capsPool) put(b *capsBatch) {
	if p == nil || cap(b.data) > capsKept || cap(b.files) > 1024 {
		return
	}
	clear(b.files) // no names kept alive
	b.data, b.files = b.data[:0], b.files[:0]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle+cap(b.data) <= capsIdle {
		p.free = append(p.free, b)
		p.idle += cap(b.data)
	}
}
