package scanner

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/lookalike"
)

// ResemblanceStore is what [Resemblance] keeps in the database: the look-alike and
// clone checks, the index of file contents, and the go.mod of an original.
type ResemblanceStore interface {
	store.Resemblance
	Artifact(ctx context.Context, m module.Version, k store.Kind) (*store.Artifact, error)
}

// AddedCapabilities reports the capabilities that files (names in the zip
// of m at zipPath, without the module@version/ prefix) use and that the
// original version (its zip at origZip) does not: one line each, "EXEC in
// loader.go:12 (os/exec.Command, from init)".
type AddedCapabilities func(ctx context.Context, m module.Version, zipPath string, files []string, orig module.Version, origZip string) ([]string, error)

// ResemblanceOptions configure [Resemblance]. Store is required.
type ResemblanceOptions struct {
	Store ResemblanceStore
	// Known are the widely used public modules paths are compared with
	// besides those fetched here; nil means [lookalike.Popular].
	Known []lookalike.Known
	// Capabilities analyses what a clone's added and changed files add;
	// nil records them as not analysed (CapabilitiesKnown false).
	Capabilities AddedCapabilities
	// Local gives a local file with the bytes of a stored zip by its
	// SHA-256 and size (blob.Store.Local), for Capabilities to compare with
	// the original; release is called when done. Nil means Capabilities gets
	// "" for the original.
	Local  func(ctx context.Context, key string, size int64) (path string, release func(), err error)
	Logger *slog.Logger
	Now    func() time.Time
	// OneProcess says this process alone checks zips against Store (the
	// SQLite store of one serve): a zip's check then reads the index
	// before its own files are in it, the zips whose checks this process
	// is making or has not recorded yet are compared from memory, and the
	// zip's files and check are written together by the record of
	// [Resemblance.CheckZipDeferred]. Unset (a database shared by
	// replicas), a zip's files are committed to the index before its check
	// reads it: two replicas checking zips that copy each other at the
	// same moment see each other only through the database, the later one
	// the earlier's files. Only the check is left to the record then.
	OneProcess bool
}

// CloneShare is the share of a version's files (in thousandths) that must
// be identical to another module's stored version for a clone finding.
const CloneShare = 900

// Resemblance checks where a module comes from: whether its path resembles a
// path this organisation fetched or a widely used public module (once, the
// first time the path is requested), and whether its zip copies a stored
// version of another module. Safe for concurrent use.
type Resemblance struct {
	opts ResemblanceOptions
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	index   *lookalike.Index // nil until the first check
	checked map[string]*store.PathCheck

	// pending are the zips whose clone check is being made or is not
	// recorded yet (CheckZipDeferred): Of answers with their checks, and
	// the checks of other zips compare with their files as with stored
	// ones. An entry leaves once its record is written, and stays when the
	// write fails (the check holds until the process ends; after a
	// restart, a zip without a stored check is checked again before it is
	// served).
	pmu     sync.Mutex
	pending map[module.Version]*pendingZip
}

// pendingZip is a zip in [Resemblance.pending].
type pendingZip struct {
	files []store.ZipFile
	clone *store.Clone // nil while the check is being made
}

// NewResemblance returns an Resemblance. It does no I/O: the index of known paths is
// read from the store at the first check.
func NewResemblance(opts ResemblanceOptions) *Resemblance {
	o := &Resemblance{opts: opts, log: opts.Logger, now: opts.Now, checked: map[string]*store.PathCheck{},
		pending: map[module.Version]*pendingZip{}}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.opts.Known == nil {
		o.opts.Known = lookalike.Popular()
	}
	return o
}

// loadIndex reads the known paths once.
func (o *Resemblance) loadIndex(ctx context.Context) (*lookalike.Index, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.index != nil {
		return o.index, nil
	}
	uses, err := o.opts.Store.ModulePaths(ctx)
	if err != nil {
		return nil, err
	}
	known := append([]lookalike.Known{}, o.opts.Known...)
	for _, u := range uses {
		known = append(known, lookalike.Known{Path: u.Path, Uses: u.Versions})
	}
	o.index = lookalike.NewIndex(known)
	return o.index, nil
}

// CheckPath returns the look-alike check of path: the stored one, or, the
// first time the path is requested, one made now against the known paths
// (and stored when record is set; `modgate check` asks without recording).
func (o *Resemblance) CheckPath(ctx context.Context, modPath string, record bool) (*store.PathCheck, error) {
	o.mu.Lock()
	c := o.checked[modPath]
	o.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := o.opts.Store.PathCheck(ctx, modPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		x, err := o.loadIndex(ctx)
		if err != nil {
			return nil, err
		}
		c = &store.PathCheck{Path: modPath, CheckedAt: o.now().UTC()}
		if ms := x.Match(modPath); len(ms) > 0 {
			m := ms[0]
			c.Resembles, c.Kind, c.How, c.Uses, c.Listed, c.Others = m.Path, m.Kind, m.How, m.Uses, m.Listed, len(ms)-1
		}
		if !record {
			return c, nil
		}
		if c, err = o.opts.Store.PutPathCheck(ctx, c); err != nil {
			return nil, err
		}
		x.Add(lookalike.Known{Path: modPath})
		if c.Resembles != "" {
			o.log.Warn("look-alike module path", "module", modPath, "resembles", c.Resembles, "how", c.How)
		}
	}
	o.mu.Lock()
	o.checked[modPath] = c
	o.mu.Unlock()
	return c, nil
}

// Of returns what a decision on m needs: the look-alike check of its path
// (made now, without recording, when the path was never requested) and the
// clone check of its zip (nil when its zip was never ingested).
func (o *Resemblance) Of(ctx context.Context, m module.Version) (*store.PathCheck, *store.Clone, error) {
	pc, err := o.CheckPath(ctx, m.Path, false)
	if err != nil {
		return nil, nil, err
	}
	cl, err := o.clone(ctx, m)
	if errors.Is(err, fs.ErrNotExist) {
		return pc, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return pc, cl, nil
}

// boilerplate reports whether a file is left out of the clone comparison:
// go.mod (compared on its own: a fork must change its module line), go.sum,
// and license, notice and read-me files, which many unrelated modules share
// word for word.
func boilerplate(name string) bool {
	if name == "go.mod" || name == "go.sum" || strings.HasPrefix(name, ".github/") || path.Base(name) == ".gitignore" {
		return true
	}
	base := strings.ToUpper(path.Base(name))
	for _, p := range []string{"LICENSE", "LICENCE", "COPYING", "NOTICE", "PATENTS", "AUTHORS", "CONTRIBUTORS", "README", "CHANGELOG", "CODE_OF_CONDUCT", "SECURITY", "CONTRIBUTING"} {
		if strings.HasPrefix(base, p) {
			return true
		}
	}
	return strings.HasSuffix(base, ".MD")
}

// CheckZip makes the clone check of m's zip and records it, with the files
// of the zip in the index of file contents: whether at least [CloneShare]
// thousandths of its files (by count or by bytes, boilerplate aside) are
// identical to a stored version of a module of another owner. mod is m's
// go.mod, zipPath its zip (for the capability analysis).
func (o *Resemblance) CheckZip(ctx context.Context, m module.Version, mod []byte, zipPath string, files []store.ZipFile) (*store.Clone, error) {
	c, record, err := o.CheckZipDeferred(ctx, m, mod, zipPath, files)
	if err != nil {
		return nil, err
	}
	if err := record(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckZipDeferred is [Resemblance.CheckZip] with the write left to record,
// for a caller that answers with the check before it is written: the check
// is made when CheckZipDeferred returns, and from then on Of returns it and
// the checks of other zips in this process compare with m's files. record
// writes what is not written yet (see [ResemblanceOptions.OneProcess]); the
// caller calls it once. When it fails, the check and files stay in memory
// for this process's decisions and checks.
func (o *Resemblance) CheckZipDeferred(ctx context.Context, m module.Version, mod []byte, zipPath string, files []store.ZipFile) (_ *store.Clone, record func(context.Context) error, err error) {
	if !o.opts.OneProcess {
		if err := o.opts.Store.PutZipFiles(ctx, m, files); err != nil {
			return nil, nil, err
		}
	}
	p := &pendingZip{files: files}
	others := o.begin(m, p)
	defer func() {
		if err != nil {
			o.end(m, p)
		}
	}()
	o.mu.Lock()
	if o.index != nil {
		o.index.Use(m.Path)
	}
	o.mu.Unlock()
	c := &store.Clone{Module: m, CheckedAt: o.now().UTC()}
	var code []store.ZipFile
	var codeBytes int64
	for _, f := range files {
		if !boilerplate(f.Name) {
			code = append(code, f)
			codeBytes += f.Size
		}
	}
	if len(code) > 0 {
		if err := o.compare(ctx, c, mod, zipPath, code, codeBytes, others); err != nil {
			return nil, nil, err
		}
	}
	o.pmu.Lock()
	p.clone = c
	o.pmu.Unlock()
	if c.Original.Path != "" {
		o.log.Warn("clone of another module", "module", m.Path, "version", m.Version, "original", c.Original.String(),
			"similarity", c.Similarity, "added", len(c.Added), "changed", len(c.Changed))
	}
	return c, func(ctx context.Context) error {
		var err error
		if o.opts.OneProcess {
			err = o.opts.Store.PutZipCheck(ctx, files, c)
		} else {
			err = o.opts.Store.PutClone(ctx, c)
		}
		if err != nil {
			return err
		}
		o.end(m, p)
		return nil
	}, nil
}

// begin adds p, the zip of m whose check starts, to the pending zips and
// returns the files of the others. Of two checks, the one that begins
// later finds the earlier zip here or, once its record is written (end
// comes after the write), in the store.
func (o *Resemblance) begin(m module.Version, p *pendingZip) map[module.Version][]store.ZipFile {
	o.pmu.Lock()
	defer o.pmu.Unlock()
	var others map[module.Version][]store.ZipFile
	for v, q := range o.pending {
		if v != m {
			if others == nil {
				others = make(map[module.Version][]store.ZipFile, len(o.pending))
			}
			others[v] = q.files
		}
	}
	o.pending[m] = p
	return others
}

// end removes p from the pending zips, unless a later check of m has
// replaced it.
func (o *Resemblance) end(m module.Version, p *pendingZip) {
	o.pmu.Lock()
	defer o.pmu.Unlock()
	if o.pending[m] == p {
		delete(o.pending, m)
	}
}

// pendingOf returns the pending zip of m, nil if none.
func (o *Resemblance) pendingOf(m module.Version) *pendingZip {
	o.pmu.Lock()
	defer o.pmu.Unlock()
	return o.pending[m]
}

// clone returns m's clone check: the one made and not recorded yet, else
// the stored one.
func (o *Resemblance) clone(ctx context.Context, m module.Version) (*store.Clone, error) {
	o.pmu.Lock()
	var c *store.Clone
	if p := o.pending[m]; p != nil {
		c = p.clone
	}
	o.pmu.Unlock()
	if c != nil {
		return c, nil
	}
	return o.opts.Store.Clone(ctx, m)
}

// zipFiles returns the files of m's zip: those of a pending check, else the
// index's.
func (o *Resemblance) zipFiles(ctx context.Context, m module.Version) ([]store.ZipFile, error) {
	if p := o.pendingOf(m); p != nil {
		return p.files, nil
	}
	return o.opts.Store.ZipFiles(ctx, m)
}

// similar is the store's SimilarZips with the pending zips others counted
// as if stored.
func (o *Resemblance) similar(ctx context.Context, path string, code []store.ZipFile, others map[module.Version][]store.ZipFile) ([]store.ZipMatch, error) {
	matches, err := o.opts.Store.SimilarZips(ctx, path, code, candidates)
	if err != nil || len(others) == 0 {
		return matches, err
	}
	type file struct{ name, sum string }
	want := make(map[file]bool, len(code))
	for _, f := range code {
		want[file{f.Name, f.SHA256}] = true
	}
	count := make(map[module.Version]int, len(matches))
	for _, mt := range matches {
		count[mt.Module] = mt.Files
	}
	for v, files := range others {
		if v.Path == path {
			continue
		}
		n := 0
		for _, f := range files {
			if want[file{f.Name, f.SHA256}] {
				n++
			}
		}
		if n > 0 {
			// A zip both pending and stored (its files written without
			// the record of its check, or checked again) counts once.
			count[v] = max(count[v], n)
		}
	}
	return store.BestMatches(count, candidates), nil
}

// candidates is how many of the most similar stored versions a clone check
// looks at (versions of the same owner are skipped).
const candidates = 20

func (o *Resemblance) compare(ctx context.Context, c *store.Clone, mod []byte, zipPath string, code []store.ZipFile, codeBytes int64, others map[module.Version][]store.ZipFile) error {
	m := c.Module
	matches, err := o.similar(ctx, m.Path, code, others)
	if err != nil {
		return err
	}
	// The best candidate of another owner; a version of the same owner that
	// shares as many files explains the copy (its own history, a new major
	// version), and of equal candidates an original (not itself a clone)
	// is named.
	var best store.ZipMatch
	own := 0
	for _, mt := range matches {
		if lookalike.SameOwner(mt.Module.Path, m.Path) {
			own = max(own, mt.Files)
			continue
		}
		switch {
		case best.Files == 0:
			best = mt
		case mt.Files == best.Files && o.isClone(ctx, best.Module) && !o.isClone(ctx, mt.Module):
			best = mt
		}
	}
	if best.Files == 0 || own >= best.Files {
		return nil
	}
	orig, err := o.zipFiles(ctx, best.Module)
	if err != nil {
		return err
	}
	theirs := map[string]string{}
	for _, f := range orig {
		theirs[f.Name] = f.SHA256
	}
	var same int
	var sameBytes int64
	var added, changed []string
	for _, f := range code {
		switch sum, ok := theirs[f.Name]; {
		case !ok:
			added = append(added, f.Name)
		case sum != f.SHA256:
			changed = append(changed, f.Name)
		default:
			same++
			sameBytes += f.Size
		}
	}
	share := same * 1000 / len(code)
	if codeBytes > 0 {
		share = max(share, int(sameBytes*1000/codeBytes))
	}
	if share < CloneShare {
		return nil
	}
	c.Original, c.Similarity, c.Added, c.Changed = best.Module, share, added, changed
	if om, err := o.opts.Store.Artifact(ctx, best.Module, store.KindMod); err == nil {
		c.ModuleLineOnly = len(added) == 0 && len(changed) == 0 && sameButModuleLine(mod, om.Data)
	}
	newFiles := append(append([]string{}, added...), changed...)
	if len(newFiles) == 0 {
		c.CapabilitiesKnown = true
		return nil
	}
	if o.opts.Capabilities == nil {
		return nil
	}
	origZip := ""
	if a, err := o.opts.Store.Artifact(ctx, best.Module, store.KindZip); err == nil && o.opts.Local != nil {
		p, release, err := o.opts.Local(ctx, a.SHA256, a.Size)
		if err != nil {
			// Compared with nothing: every capability of the files counts.
			o.log.Warn("clone: the original's zip", "module", m.Path, "original", best.Module.String(), "err", err.Error())
		} else {
			defer release()
			origZip = p
		}
	}
	caps, err := o.opts.Capabilities(ctx, m, zipPath, newFiles, best.Module, origZip)
	if err != nil {
		o.log.Warn("clone: capabilities of the added files", "module", m.Path, "version", m.Version, "err", err.Error())
		return nil
	}
	sort.Strings(caps)
	c.Capabilities, c.CapabilitiesKnown = caps, true
	return nil
}

// isClone reports whether m's own clone check names an original.
func (o *Resemblance) isClone(ctx context.Context, m module.Version) bool {
	c, err := o.clone(ctx, m)
	return err == nil && c.Original.Path != ""
}

// sameButModuleLine reports whether two go.mod files differ at most in
// their module line.
func sameButModuleLine(a, b []byte) bool {
	strip := func(d []byte) string {
		var out []string
		for _, l := range bytes.Split(d, []byte("\n")) {
			s := strings.TrimSpace(string(l))
			if s == "" || strings.HasPrefix(s, "module ") || strings.HasPrefix(s, "module\t") || strings.HasPrefix(s, "//") {
				continue
			}
			out = append(out, s)
		}
		return strings.Join(out, "\n")
	}
	return strip(a) == strip(b)
}
