// Package lookalike finds module paths that resemble a module path already
// known, the shape of a typosquatting attack on Go modules: a path one edit
// away from a module an organisation uses (github.com/shopsprint/decimal for
// github.com/shopspring/decimal), with transposed letters
// (github.com/siruspen/logrus for github.com/sirupsen/logrus), with a go-/-go
// affix (github.com/boltdb-go/bolt for github.com/boltdb/bolt), a case-only
// twin on a host whose paths are case-insensitive, or the github.com twin of a
// module published under a vanity domain.
//
// The comparison is Go-aware. A path is cut into its owner (the host, and on
// code-hosting sites whose first element is an account, github.com, gitlab.com
// and bitbucket.org, that account too) and the rest. Whoever controls an owner
// controls every path below it, so two paths of one owner never resemble each
// other: github.com/boltdb/bolt and github.com/boltdb/bolts are the same
// people's. A major version suffix (/v2, gopkg.in's .v2) is not part of the
// comparison, so github.com/siruspen/logrus/v2 still resembles
// github.com/sirupsen/logrus. Known vanity domains (golang.org/x, go.uber.org,
// gopkg.in, ...) are compared as the github.com repositories they serve from.
//
// An [Index] is built once from the paths an organisation fetched and the
// shipped list of widely used public modules ([Popular]), and is safe for
// concurrent use: a match is a few map reads and a bounded edit-distance check
// of the keys within one byte of the path's length, never a scan of a store.
package lookalike

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/module"
)

// Kinds of resemblance, as [Match.Kind] names them.
const (
	KindEdit      = "edit"       // one letter inserted, removed or replaced
	KindTranspose = "transposed" // two neighbouring letters swapped
	KindDoubled   = "doubled"    // a letter doubled or undoubled
	KindAffix     = "affix"      // a go-/-go (golang-, -golang, go) affix added or removed
	KindCase      = "case"       // the same path in other letter case, on a case-insensitive host
)

// Match is a known path that a path resembles.
type Match struct {
	// Path is the known path.
	Path string
	// Kind is how they differ (the Kind* constants), How says it in words,
	// naming Path: "1 edit from github.com/shopspring/decimal (shopsprint
	// for shopspring)".
	Kind, How string
	// Uses is how many versions of Path the organisation fetched (0 when it
	// is known only from the list), Listed whether it is on the list of
	// widely used modules.
	Uses   int
	Listed bool
}

// Known is a path an Index compares with.
type Known struct {
	Path string
	// Uses is how many versions of it the organisation fetched; Listed says
	// it is on the list of widely used public modules.
	Uses   int
	Listed bool
	// Source is where a listed path comes from ("graph:12", "vulndb:3",
	// "hand": see popular.txt).
	Source string
}

// Index holds the known paths, keyed for matching. The zero value is not
// usable; use NewIndex.
type Index struct {
	mu      sync.RWMutex
	entries []entry
	byPath  map[string]int32   // exact path
	byKey   map[string][]int32 // normalized key: case and vanity twins
	byFold  map[string][]int32 // key without affixes
	byLen   map[int][]int32    // key length, for one-edit candidates
}

type entry struct {
	Known
	p parsed
}

// NewIndex returns an index of the known paths (a path given twice keeps the
// highest Uses, and is Listed if either is).
func NewIndex(known []Known) *Index {
	x := &Index{byPath: map[string]int32{}, byKey: map[string][]int32{}, byFold: map[string][]int32{}, byLen: map[int][]int32{}}
	for _, k := range known {
		x.Add(k)
	}
	return x
}

// Len is how many paths the index knows.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.entries)
}

// Add adds k (or updates the uses and listing of a path already known).
func (x *Index) Add(k Known) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if i, ok := x.byPath[k.Path]; ok {
		e := &x.entries[i]
		e.Uses = max(e.Uses, k.Uses)
		e.Listed = e.Listed || k.Listed
		return
	}
	p, ok := parse(k.Path)
	if !ok {
		return
	}
	i := int32(len(x.entries))
	x.entries = append(x.entries, entry{Known: k, p: p})
	x.byPath[k.Path] = i
	x.byKey[p.key] = append(x.byKey[p.key], i)
	x.byFold[p.fold] = append(x.byFold[p.fold], i)
	x.byLen[len(p.key)] = append(x.byLen[len(p.key)], i)
}

// SameOwner reports whether paths a and b are controlled by the same owner
// (host, or host and account on code-hosting sites; vanity domains as the
// repositories they serve from): then neither can be a look-alike or a
// clone of the other.
func SameOwner(a, b string) bool {
	pa, oka := parse(a)
	pb, okb := parse(b)
	return oka && okb && pa.owner == pb.owner
}

// Use counts one more version of path fetched (a path not known is added).
func (x *Index) Use(path string) {
	x.mu.Lock()
	if i, ok := x.byPath[path]; ok {
		x.entries[i].Uses++
		x.mu.Unlock()
		return
	}
	x.mu.Unlock()
	x.Add(Known{Path: path, Uses: 1})
}

// Known reports whether path itself is in the index, and how.
func (x *Index) Known(path string) (Known, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, ok := x.byPath[path]
	if !ok {
		return Known{}, false
	}
	return x.entries[i].Known, true
}

// Match returns the known paths that path resembles, the most used first
// (paths fetched here, by uses, then listed ones), none when path is itself a
// listed module (the well-known module is not a look-alike of its own
// look-alikes) or resembles nothing.
func (x *Index) Match(path string) []Match {
	q, ok := parse(path)
	if !ok {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if i, ok := x.byPath[path]; ok && x.entries[i].Listed {
		return nil
	}
	seen := map[int32]bool{}
	var out []Match
	add := func(i int32, kind, how string) {
		e := &x.entries[i]
		if seen[i] || e.Path == path {
			return
		}
		seen[i] = true
		out = append(out, Match{Path: e.Path, Kind: kind, How: how, Uses: e.Uses, Listed: e.Listed})
	}
	for _, i := range x.byKey[q.key] {
		e := &x.entries[i]
		switch {
		case e.Path == path:
		case strings.EqualFold(e.p.base, q.base) && e.p.base != q.base && caseInsensitive(q.host):
			add(i, KindCase, e.Path+" in other letter case ("+q.host+" ignores case)")
		}
		// A vanity path and the repository that serves it (gopkg.in/yaml.v3
		// and github.com/go-yaml/yaml, go.uber.org/zap and
		// github.com/uber-go/zap) are one owner's: no finding. The vanity
		// mapping makes their near twins (github.com/uber-g0/zap) findings.
	}
	for _, i := range x.byFold[q.fold] {
		e := &x.entries[i]
		if e.p.key == q.key || e.p.owner == q.owner && q.owner != "" || !oneElementDiffers(q.key, e.p.key) {
			continue
		}
		add(i, KindAffix, e.Path+" with a go affix ("+affixDiff(q, e.p)+")")
	}
	for d := -1; d <= 1; d++ {
		for _, i := range x.byLen[len(q.key)+d] {
			e := &x.entries[i]
			if seen[i] || e.p.owner == q.owner {
				continue
			}
			kind, from, to, ok := oneEdit(q.key, e.p.key)
			if !ok {
				continue
			}
			add(i, kind, describeEdit(kind, e.Path, from, to))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Uses != out[j].Uses {
			return out[i].Uses > out[j].Uses
		}
		return out[i].Listed && !out[j].Listed
	})
	return out
}

// parsed is a path cut for comparison.
type parsed struct {
	host string
	// base is the path without its major version suffix, vanity domains
	// rewritten to their github.com repository (lower case on
	// case-insensitive hosts: key).
	base string
	// owner is who controls the path (host, or host/account), in key's
	// spelling.
	owner string
	// key is base in lower case on case-insensitive hosts; fold is key
	// without go affixes on its account and repository elements.
	key, fold string
	// vanity is the vanity prefix when base was rewritten from one.
	vanity string
}

// codeHosts are the hosting sites whose first path element is an account;
// caseInsensitive tells which of them ignore letter case.
var codeHosts = map[string]bool{"github.com": true, "gitlab.com": true, "bitbucket.org": true}

func caseInsensitive(host string) bool { return codeHosts[host] }

// vanities maps vanity path prefixes to the github.com repositories that
// serve them (each checked against the repository's go.mod and its
// go-import meta tag; the list is short on purpose).
var vanities = map[string]string{
	"golang.org/x":                       "github.com/golang",
	"google.golang.org/grpc":             "github.com/grpc/grpc-go",
	"google.golang.org/protobuf":         "github.com/protocolbuffers/protobuf-go",
	"google.golang.org/api":              "github.com/googleapis/google-api-go-client",
	"google.golang.org/genproto":         "github.com/googleapis/go-genproto",
	"cloud.google.com/go":                "github.com/googleapis/google-cloud-go",
	"go.uber.org":                        "github.com/uber-go",
	"go.etcd.io/bbolt":                   "github.com/etcd-io/bbolt",
	"go.etcd.io/etcd":                    "github.com/etcd-io/etcd",
	"k8s.io":                             "github.com/kubernetes",
	"sigs.k8s.io":                        "github.com/kubernetes-sigs",
	"go.opentelemetry.io/otel":           "github.com/open-telemetry/opentelemetry-go",
	"go.opentelemetry.io/contrib":        "github.com/open-telemetry/opentelemetry-go-contrib",
	"honnef.co/go/tools":                 "github.com/dominikh/go-tools",
	"go.mongodb.org/mongo-driver":        "github.com/mongodb/mongo-go-driver",
	"go.yaml.in/yaml":                    "github.com/yaml/go-yaml",
	"gocloud.dev":                        "github.com/google/go-cloud",
	"go.mozilla.org/pkcs7":               "github.com/mozilla-services/pkcs7",
	"dario.cat/mergo":                    "github.com/darccio/mergo",
	"filippo.io/edwards25519":            "github.com/FiloSottile/edwards25519",
	"mvdan.cc/sh":                        "github.com/mvdan/sh",
	"modernc.org/sqlite":                 "gitlab.com/cznic/sqlite",
	"go.starlark.net":                    "github.com/google/starlark-go",
	"howett.net/plist":                   "github.com/DHowett/go-plist",
	"software.sslmate.com/src/go-pkcs12": "github.com/SSLMate/go-pkcs12",
}

// parse cuts a module path for comparison; false for a path that is not a
// valid module path.
func parse(path string) (parsed, bool) {
	if module.CheckPath(path) != nil {
		return parsed{}, false
	}
	prefix, _, ok := module.SplitPathVersion(path)
	if !ok {
		return parsed{}, false
	}
	var p parsed
	base := prefix
	if rest, ok := strings.CutPrefix(prefix, "gopkg.in/"); ok {
		// gopkg.in/pkg.v3 is github.com/go-pkg/pkg; gopkg.in/user/pkg.v3 is
		// github.com/user/pkg (SplitPathVersion keeps gopkg.in's suffix).
		if i := strings.LastIndex(rest, ".v"); i > 0 {
			rest = rest[:i]
		}
		p.vanity = "gopkg.in/" + rest
		if !strings.Contains(rest, "/") {
			rest = "go-" + rest + "/" + rest
		}
		base = "github.com/" + rest
	} else {
		for v, gh := range vanities {
			if prefix == v || strings.HasPrefix(prefix, v+"/") {
				p.vanity, base = v, gh+prefix[len(v):]
				break
			}
		}
	}
	p.base = base
	elems := strings.Split(base, "/")
	p.host = elems[0]
	p.key = base
	if caseInsensitive(p.host) {
		p.key = strings.ToLower(base)
	}
	kelems := strings.Split(p.key, "/")
	if codeHosts[p.host] && len(kelems) >= 2 {
		p.owner = kelems[0] + "/" + kelems[1]
		fold := slicesClone(kelems)
		fold[1] = unaffix(fold[1])
		if len(fold) >= 3 {
			fold[2] = unaffix(fold[2])
		}
		p.fold = strings.Join(fold, "/")
	} else {
		p.owner = kelems[0]
		fold := slicesClone(kelems)
		if len(fold) >= 2 {
			fold[len(fold)-1] = unaffix(fold[len(fold)-1])
		}
		p.fold = strings.Join(fold, "/")
	}
	return p, true
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// unaffix removes one go affix from an element: go-x, x-go, golang-x,
// x-golang, gox (for names longer than 4), x.go.
func unaffix(e string) string {
	for _, a := range []string{"golang-", "go-", "go_"} {
		if s, ok := strings.CutPrefix(e, a); ok && s != "" {
			return s
		}
	}
	for _, a := range []string{"-golang", "-go", "_go", ".go"} {
		if s, ok := strings.CutSuffix(e, a); ok && s != "" {
			return s
		}
	}
	if s, ok := strings.CutPrefix(e, "go"); ok && len(s) >= 4 {
		return s
	}
	return e
}

// oneElementDiffers reports whether keys a and b have the same elements but
// one (an affix on the owner or on the repository, not both swapped:
// go.yaml.in/yaml's github.com/yaml/go-yaml is not github.com/go-yaml/yaml).
func oneElementDiffers(a, b string) bool {
	ae, be := strings.Split(a, "/"), strings.Split(b, "/")
	if len(ae) != len(be) {
		return false
	}
	n := 0
	for i := range ae {
		if ae[i] != be[i] {
			n++
		}
	}
	return n == 1
}

// affixDiff names the element that differs by an affix: "boltdb-go for
// boltdb".
func affixDiff(q, k parsed) string {
	qe, ke := strings.Split(q.key, "/"), strings.Split(k.key, "/")
	for i := range min(len(qe), len(ke)) {
		if qe[i] != ke[i] {
			return qe[i] + " for " + ke[i]
		}
	}
	return q.key + " for " + k.key
}

// minEditLen is the length below which an element's single edit is not
// reported (two- and three-letter names are one edit from too many others);
// transpositions, doubled letters, case and affixes are reported whatever the
// length.
const minEditLen = 5

// oneEdit reports whether a and b are one edit apart (optimal string
// alignment: an insertion, a deletion, a substitution or a transposition of
// neighbours), how, and the elements (between slashes) that differ.
func oneEdit(a, b string) (kind, from, to string, ok bool) {
	if a == b || len(a)-len(b) > 1 || len(b)-len(a) > 1 {
		return "", "", "", false
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	ja, jb := len(a), len(b)
	for ja > i && jb > i && a[ja-1] == b[jb-1] {
		ja--
		jb--
	}
	da, db := a[i:ja], b[i:jb]
	switch {
	case len(da) == 1 && len(db) == 1:
		kind = KindEdit
	case len(da) == 2 && len(db) == 2 && da[0] == db[1] && da[1] == db[0]:
		kind = KindTranspose
	case len(da) == 1 && len(db) == 0:
		kind = KindEdit
		if (i > 0 && a[i-1] == a[i]) || (i+1 < len(a) && a[i+1] == a[i]) {
			kind = KindDoubled
		}
	case len(da) == 0 && len(db) == 1:
		kind = KindEdit
		if (i > 0 && b[i-1] == b[i]) || (i+1 < len(b) && b[i+1] == b[i]) {
			kind = KindDoubled
		}
	default:
		return "", "", "", false
	}
	if strings.ContainsRune(da+db, '/') {
		return "", "", "", false // moving a slash changes the structure, not a name
	}
	from, to = element(a, i), element(b, i)
	if kind == KindEdit && min(len(from), len(to)) < minEditLen {
		return "", "", "", false
	}
	return kind, from, to, true
}

// element is the path element of s around byte i.
func element(s string, i int) string {
	i = min(i, len(s)-1)
	start := strings.LastIndexByte(s[:i], '/') + 1
	end := strings.IndexByte(s[i:], '/')
	if end < 0 {
		return s[start:]
	}
	return s[start : i+end]
}

func describeEdit(kind, path, from, to string) string {
	switch kind {
	case KindTranspose:
		return fmt.Sprintf("%s with transposed letters (%s for %s)", path, from, to)
	case KindDoubled:
		return fmt.Sprintf("%s with a doubled letter (%s for %s)", path, from, to)
	}
	return fmt.Sprintf("1 edit from %s (%s for %s)", path, from, to)
}
