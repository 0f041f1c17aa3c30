package caps

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The extractor reads one Go file in a single forward pass over its tokens
// (see lex.go) and keeps only a summary of it (fileSum): its package name,
// imports, top-level functions, methods, init functions and variables, and
// for each of them the events the syntax-tree walker of the pass would have
// seen, in the order it would have seen them (ast.Inspect's pre-order): the
// names it refers to (calls to the package's functions and variables), the
// method names it selects, and the capability sites it has. Names that need
// the rest of the package or module (the package's own functions, an import
// of the same module) are kept as names and resolved when the package is
// linked (link.go); uses of the standard library are resolved at once.
//
// The order matters because the graph is searched breadth first and the
// first site of a capability found is the one reported: the walker visits a
// selector or call before its operand (a.b().c() visits c, then b, then a),
// so the events a suffix of an expression gives are recorded at the start of
// the expression: each chain reserves a slot at its start, and the events of
// its suffixes are put there, the latest first, when the declaration ends.

// Events, as uint32 words: the kind in the top 4 bits.
const (
	evName   = 1 // payload: name id. The package's function or variable of that name, if any.
	evMethod = 2 // payload: name id. Every method of that name of the package.
	evSite   = 3 // payload: index into fileSum.sites.
	evMRef   = 4 // payload: import index | called<<24; then sel id, line. A name of a package of the module.
	evQSel   = 5 // payload: flags; then x id, sel id, x line, sel line. x.sel where x may be an import.
	evDot    = 6 // payload: called; then name id, line. An exported bare name, for dot imports.
	evSlot   = 7 // payload: slot id. Where a chain's events that precede its operand go (extraction only).

	payloadMask = 1<<28 - 1
)

// Flags of evQSel.
const (
	qCalled  = 1 // called (in the walker's sense for the mode)
	qInit    = 2 // in an initialiser (walkInit)
	qReflect = 4 // sel is Call or CallSlice, called, and the file imports reflect
)

func evLen(w uint32) int {
	switch w >> 28 {
	case evMRef:
		return 3
	case evQSel:
		return 5
	case evDot:
		return 3
	}
	return 1
}

type impSpec struct {
	name string // "" when the import has no name
	path string
	line int32
}

type siteRec struct {
	cap  Capability
	line int32
	via  string
}

type declKind uint8

const (
	dFunc declKind = iota
	dMethod
	dInit
	dVar
)

type declSum struct {
	kind   declKind
	noBody bool
	hasVal bool
	name   uint32 // name id: function or method name, or the variable's first name
	recv   uint32 // name id: a method's receiver type name
	line   int32
	names  []uint32 // a variable spec's names (ids)
	ev     []byte   // walk events: a function's body, a variable's value
	iev    []byte   // a variable's initialiser (walkInit)
}

// A file summary's declarations are stored as uvarints, in order: kind |
// noBody<<2 | hasVal<<3, name, recv (methods), line, the length of ev, of
// iev (hasVal), then the count and ids of a variable spec's names. The
// events of the declarations follow one another in fileSum.ev in the same
// order, each a uvarint kind | payload<<3 and its further words.

func (x *extractor) addDecl(d *declSum, evLen, ievLen int) {
	b := x.fs.decls
	h := uint64(d.kind)
	if d.noBody {
		h |= 4
	}
	if d.hasVal {
		h |= 8
	}
	b = binary.AppendUvarint(b, h)
	b = binary.AppendUvarint(b, uint64(d.name))
	if d.kind == dMethod {
		b = binary.AppendUvarint(b, uint64(d.recv))
	}
	b = binary.AppendUvarint(b, uint64(d.line))
	b = binary.AppendUvarint(b, uint64(evLen))
	if d.hasVal {
		b = binary.AppendUvarint(b, uint64(ievLen))
	}
	if d.kind == dVar {
		b = binary.AppendUvarint(b, uint64(len(d.names)))
		for _, id := range d.names {
			b = binary.AppendUvarint(b, uint64(id))
		}
	}
	x.fs.decls = b
	x.fs.nodes++
	if d.hasVal {
		x.fs.nodes++
	}
}

// eachDecl calls fn with each declaration of the summary, in order (d is
// reused).
func (f *fileSum) eachDecl(fn func(d *declSum)) {
	var d declSum
	b, ev := f.decls, f.ev
	next := func() uint64 {
		v, n := binary.Uvarint(b)
		b = b[n:]
		return v
	}
	for len(b) > 0 {
		h := next()
		d.kind, d.noBody, d.hasVal = declKind(h&3), h&4 != 0, h&8 != 0
		d.name = uint32(next())
		d.recv = 0
		if d.kind == dMethod {
			d.recv = uint32(next())
		}
		d.line = int32(next())
		n := next()
		d.ev, ev = ev[:n], ev[n:]
		d.iev = nil
		if d.hasVal {
			n := next()
			d.iev, ev = ev[:n], ev[n:]
		}
		d.names = d.names[:0]
		if d.kind == dVar {
			for k := next(); k > 0; k-- {
				d.names = append(d.names, uint32(next()))
			}
		}
		fn(&d)
	}
}

// fileSum is what the pass keeps of a Go file.
type fileSum struct {
	name      string
	pkg       string
	buildable bool
	overLimit int64 // size, for a file over MaxGoFile (Analyze keeps its place in the order)
	fail      string
	imports   []impSpec
	linknames []int
	// The names events refer to are numbered by the pass (Pass.names).
	decls []byte // see addDecl
	nodes int    // how many graph nodes the declarations give at most
	ev    []byte
	sites []siteRec
}

// Modes of the walk being imitated.
const (
	mNone = iota // nothing is recorded (signatures, types of top-level declarations)
	mWalk        // walker.walk
	mInit        // walker.walkInit
)

type ctxKind uint8

const (
	ctxBlock ctxKind = iota // statements: a bare { is a block
	ctxParen                // arguments, indexes: a bare { is a composite literal's value
	ctxElems                // a composite literal's elements
)

// maxDepth bounds the nesting the extractor follows; deeper code is listed
// as over the pass's limit (it may compile, so it is not called unparsable).
const maxDepth = 5000

type headKind uint8

const (
	hOther   headKind = iota
	hIdent            // a bare name
	hImpSel           // imp.Name of an import known at extraction
	hQSel             // x.Name where x may be an import of the module (resolved at link)
	hSel              // a selector on anything else
	hFuncLit          // a function literal
	hLitType          // an array, slice, struct or map type (a composite literal may follow)
	hIndex            // x[...]
)

// head is the outermost expression of a chain of suffixes (x.a(b)[c].d)
// parsed so far, whose events may depend on whether it is called.
type head struct {
	kind          headKind
	paren         bool
	isNew, isDo   bool
	isCall        bool
	id, sel       uint32
	imp           int
	line, selLine int32
	slot          int32 // the slot of the chain the head belongs to
	evStart       int32 // a function literal's first event (mInit)
	insStart      int32
}

type insRec struct {
	slot     int32
	from, to int32 // range of insEv
}

type savePoint struct {
	lx    lexer
	cur   lexTok
	ahead [4]lexTok
	na    int
}

type extractor struct {
	modPath string
	src     []byte
	lx      lexer
	cur     lexTok
	ahead   [4]lexTok
	na      int
	depth   int
	err     string
	deep    bool

	fs      *fileSum
	imp     map[string]int // import names known at extraction -> index
	ambig   bool           // an import of the module without a name: its name is known at link
	hasDots bool
	reflect bool

	in     interner
	siteIx map[siteRec]int32

	varNames []uint32
	refBuf   []uint32 // ref's result, reused
	// calls is set when a walk (mWalk) resolves a call of a name, a
	// selector or a function literal.
	calls bool

	mode  int
	raw   []uint32
	ins   []insRec
	insEv []uint32
	nslot int32
	last  []int32
	prev  []int32

	// dedup of a declaration's events
	seen   []uint32
	seenM  []uint32
	seenS  []uint32
	epoch  uint32
	merged []uint32
}

func (x *extractor) next() {
	if x.na > 0 {
		x.cur = x.ahead[0]
		copy(x.ahead[:], x.ahead[1:x.na])
		x.na--
		return
	}
	x.cur = x.lx.next()
	if x.cur.t == tEOF && x.lx.err != "" && x.err == "" {
		x.err = x.lx.err
	}
}

// peek returns the k-th token after the current one (k >= 1).
func (x *extractor) peek(k int) lexTok {
	for x.na < k {
		t := x.lx.next()
		if t.t == tEOF && x.lx.err != "" && x.err == "" {
			x.err = x.lx.err
		}
		x.ahead[x.na] = t
		x.na++
	}
	return x.ahead[k-1]
}

func (x *extractor) text(t lexTok) []byte { return x.src[t.start:t.end] }

// expect moves past the current token if it is t, and otherwise fails
// ("expected what") and reports false.
func (x *extractor) expect(t tok, what string) bool {
	if x.cur.t != t {
		x.failf("expected %s", what)
		return false
	}
	x.next()
	return true
}

func (x *extractor) failf(format string, args ...any) {
	if x.err == "" {
		x.err = fmt.Sprintf("line %d: ", x.cur.line) + fmt.Sprintf(format, args...)
	}
	x.lx.off = len(x.lx.src)
	x.lx.semi = false
	x.na = 0
	x.cur = lexTok{t: tEOF, line: x.cur.line}
}

func (x *extractor) enter() bool {
	x.depth++
	if x.depth > maxDepth {
		x.deep = true
		x.failf("nested too deeply")
		return false
	}
	return true
}

func (x *extractor) leave() { x.depth-- }

func (x *extractor) save() savePoint {
	return savePoint{lx: x.lx, cur: x.cur, ahead: x.ahead, na: x.na}
}

func (x *extractor) restore(s savePoint) {
	x.lx, x.cur, x.ahead, x.na = s.lx, s.cur, s.ahead, s.na
}

func (x *extractor) name(b []byte) uint32 { return x.in.id(b) }

// nameOf is the name of id.
func (x *extractor) nameOf(id uint32) string { return x.in.names[id] }

func (x *extractor) site(c Capability, line int32, via string) uint32 {
	r := siteRec{cap: c, line: line, via: via}
	i, ok := x.siteIx[r]
	if !ok {
		i = int32(len(x.fs.sites))
		x.fs.sites = append(x.fs.sites, r)
		x.siteIx[r] = i
	}
	return evSite<<28 | uint32(i)
}

// emit appends events to the declaration being read.
func (x *extractor) emit(ws ...uint32) {
	if x.mode != mNone {
		x.raw = append(x.raw, ws...)
	}
}

// newSlot reserves a slot at the current end of the events.
func (x *extractor) newSlot() int32 {
	if x.mode == mNone {
		return -1
	}
	id := x.nslot
	x.nslot++
	x.raw = append(x.raw, evSlot<<28|uint32(id))
	return id
}

// put records events for a slot: a slot's events come before what follows
// the slot, the latest put first.
func (x *extractor) put(slot int32, ws ...uint32) {
	if x.mode == mNone || slot < 0 || len(ws) == 0 {
		return
	}
	from := int32(len(x.insEv))
	x.insEv = append(x.insEv, ws...)
	x.ins = append(x.ins, insRec{slot: slot, from: from, to: int32(len(x.insEv))})
}

func (x *extractor) beginDecl() {
	x.raw = x.raw[:0]
	x.ins = x.ins[:0]
	x.insEv = x.insEv[:0]
	x.nslot = 0
}

// endDecl expands the slots, drops the events that add nothing (a name,
// method or site seen before in the declaration), and stores the events in
// the summary.
func (x *extractor) endDecl() int {
	x.last = x.last[:0]
	for range x.nslot {
		x.last = append(x.last, -1)
	}
	x.prev = x.prev[:0]
	for i, r := range x.ins {
		x.prev = append(x.prev, x.last[r.slot])
		x.last[r.slot] = int32(i)
	}
	x.epoch++
	if n := x.in.len(); len(x.seen) < n {
		x.seen = append(x.seen, make([]uint32, n-len(x.seen))...)
		x.seenM = append(x.seenM, make([]uint32, n-len(x.seenM))...)
	}
	if n := len(x.fs.sites); len(x.seenS) < n {
		x.seenS = append(x.seenS, make([]uint32, n-len(x.seenS))...)
	}
	from := len(x.fs.ev)
	add := func(ws []uint32) {
		for k := 0; k < len(ws); {
			w := ws[k]
			l := evLen(w)
			p := w & payloadMask
			switch w >> 28 {
			case evName:
				if x.seen[p] == x.epoch {
					k += l
					continue
				}
				x.seen[p] = x.epoch
			case evMethod:
				if x.seenM[p] == x.epoch {
					k += l
					continue
				}
				x.seenM[p] = x.epoch
			case evSite:
				if x.seenS[p] == x.epoch {
					k += l
					continue
				}
				x.seenS[p] = x.epoch
			}
			x.fs.ev = binary.AppendUvarint(x.fs.ev, uint64(p)<<3|uint64(w>>28))
			for _, w := range ws[k+1 : k+l] {
				x.fs.ev = binary.AppendUvarint(x.fs.ev, uint64(w))
			}
			k += l
		}
	}
	for i := 0; i < len(x.raw); {
		w := x.raw[i]
		if w>>28 == evSlot {
			for r := x.last[w&payloadMask]; r >= 0; r = x.prev[r] {
				add(x.insEv[x.ins[r].from:x.ins[r].to])
			}
			i++
			continue
		}
		l := evLen(w)
		add(x.raw[i : i+l])
		i += l
	}
	return len(x.fs.ev) - from
}

func (x *extractor) inModule(path string) bool { return inModule(x.modPath, path) }

// inModule reports whether the import path ip is the module modPath's or
// one of its packages'.
func inModule(modPath, ip string) bool {
	return len(ip) >= len(modPath) && ip[:len(modPath)] == modPath && (len(ip) == len(modPath) || ip[len(modPath)] == '/')
}

// extract reads one Go file into a summary; fs.fail says why it could not.
func (x *extractor) extract(fs *fileSum, data []byte) {
	x.src = data
	x.fs = fs
	x.lx.init(data)
	x.na = 0
	x.depth = 0
	x.err = ""
	x.deep = false
	x.ambig, x.hasDots, x.reflect = false, false, false
	if x.in.table == nil {
		x.in.init()
	}
	x.in.newFile()
	if x.siteIx == nil {
		x.siteIx = map[siteRec]int32{}
		x.imp = map[string]int{}
	}
	clear(x.siteIx)
	clear(x.imp)
	x.mode = mNone
	x.next()
	x.file()
	if x.err != "" {
		fs.fail = x.err
		if x.deep {
			fs.fail = "deep"
		}
	}
	x.src = nil
	x.lx.src = nil
	// Without the slack of growing: what a pass holds is these.
	fs.ev = slices.Clone(fs.ev)
	fs.decls = slices.Clone(fs.decls)
	fs.linknames = linknames(data)
}

func (x *extractor) file() {
	for x.cur.t == tSemi {
		x.next()
	}
	if !x.expect(kwPackage, "package clause") {
		return
	}
	if x.cur.t != tIdent {
		x.failf("expected package name")
		return
	}
	x.fs.pkg = string(x.text(x.cur))
	x.next()
	x.semi()
	for x.cur.t == kwImport {
		x.next()
		if x.cur.t == tLParen {
			x.next()
			for x.cur.t != tRParen && x.cur.t != tEOF {
				if x.cur.t == tSemi {
					x.next()
					continue
				}
				x.importSpec()
			}
			x.next()
		} else {
			x.importSpec()
		}
		x.semi()
	}
	x.importsDone()
	for x.err == "" {
		switch x.cur.t {
		case tEOF:
			return
		case tSemi:
			x.next()
		case kwFunc:
			x.funcDecl()
		case kwVar:
			x.next()
			if x.cur.t == tLParen {
				x.next()
				for x.cur.t != tRParen && x.cur.t != tEOF {
					if x.cur.t == tSemi {
						x.next()
						continue
					}
					x.varSpecTop()
				}
				x.next()
			} else {
				x.varSpecTop()
			}
		case kwConst, kwType:
			x.skipDecl()
		default:
			x.failf("unexpected token at top level")
		}
	}
}

func (x *extractor) semi() {
	switch x.cur.t {
	case tSemi:
		x.next()
	case tEOF:
	default:
		x.failf("expected ;")
	}
}

func (x *extractor) importSpec() {
	line := x.cur.line
	name := ""
	switch x.cur.t {
	case tIdent:
		name = string(x.text(x.cur))
		x.next()
	case tDot:
		name = "."
		x.next()
	}
	if x.cur.t != tLit || x.src[x.cur.start] != '"' && x.src[x.cur.start] != '`' {
		x.failf("expected import path")
		return
	}
	p, err := strconv.Unquote(string(x.text(x.cur)))
	if err != nil {
		x.failf("invalid import path")
		return
	}
	x.fs.imports = append(x.fs.imports, impSpec{name: name, path: p, line: line})
	x.next()
}

// importsDone sets the names by which the file's code refers to its
// imports, as far as they are known before the module's packages are.
func (x *extractor) importsDone() {
	for i, is := range x.fs.imports {
		name := is.name
		if name == "" {
			if x.inModule(is.path) {
				x.ambig = true // the package's own name, known at link
				continue
			}
			name = importName(is.path)
		}
		if is.path == "reflect" && name != "_" {
			x.reflect = true
		}
		switch name {
		case "_":
		case ".":
			x.hasDots = true
		default:
			x.imp[name] = i
		}
	}
	for _, is := range x.fs.imports {
		if is.path == "reflect" && is.name == "" {
			x.reflect = true
		}
	}
}

// skipDecl skips a top-level const or type declaration.
func (x *extractor) skipDecl() {
	x.next()
	x.skipBalanced(true)
}

// skipGroup skips from an opening ( or [ to its match.
func (x *extractor) skipGroup() { x.skipBalanced(false) }

// skipBalanced skips tokens keeping (), [] and {} balanced: with decl, up to
// and including the next semicolon outside brackets (or the end of the
// file); else up to and including the bracket that closes the current one.
func (x *extractor) skipBalanced(decl bool) {
	var stack []tok
	for {
		switch x.cur.t {
		case tEOF:
			if !decl || len(stack) > 0 {
				x.failf("unbalanced")
			}
			return
		case tLParen:
			stack = append(stack, tRParen)
		case tLBrack:
			stack = append(stack, tRBrack)
		case tLBrace:
			stack = append(stack, tRBrace)
		case tRParen, tRBrack, tRBrace:
			if len(stack) == 0 || stack[len(stack)-1] != x.cur.t {
				x.failf("unbalanced")
				return
			}
			stack = stack[:len(stack)-1]
		case tSemi:
			if decl && len(stack) == 0 {
				x.next()
				return
			}
		}
		x.next()
		if !decl && len(stack) == 0 {
			return
		}
	}
}

func (x *extractor) funcDecl() {
	line := x.cur.line
	x.next()
	d := declSum{kind: dFunc, line: line}
	if x.cur.t == tLParen {
		d.kind = dMethod
		d.recv = x.name([]byte(x.recvName()))
		if x.err != "" {
			return
		}
	}
	if x.cur.t != tIdent {
		x.failf("expected function name")
		return
	}
	d.name = x.name(x.text(x.cur))
	isInit := string(x.text(x.cur)) == "init"
	x.next()
	if d.kind == dFunc && isInit {
		d.kind = dInit
	}
	if x.cur.t == tLBrack {
		x.skipGroup()
	}
	if x.cur.t != tLParen {
		x.failf("expected parameters")
		return
	}
	x.skipGroup()
	x.mode = mNone
	switch x.cur.t {
	case tLParen:
		x.skipGroup()
	case tIdent, tLBrack, kwStruct, tStar, kwFunc, kwInterface, kwMap, kwChan, tArrow:
		x.typ()
	}
	if x.cur.t == tLBrace {
		x.beginDecl()
		x.mode = mWalk
		if d.kind == dInit {
			x.mode = mInit
		}
		x.next()
		x.seq(tRBrace, ctxBlock)
		x.mode = mNone
		evLen := x.endDecl()
		if x.err == "" {
			x.addDecl(&d, evLen, 0)
		}
	} else {
		d.noBody = true
		if x.err == "" {
			x.addDecl(&d, 0, 0)
		}
	}
}

// recvName reads a method's receiver as the walker's recvName does: the
// type's name through *, [...] and parentheses, or "?".
func (x *extractor) recvName() string {
	// The first tokens inside the parentheses decide.
	var ts [8]lexTok
	n := 0
	depth := 0
	for {
		t := x.cur
		switch t.t {
		case tEOF:
			x.failf("unbalanced")
			return ""
		case tLParen, tLBrack, tLBrace:
			depth++
		case tRParen, tRBrack, tRBrace:
			depth--
		}
		x.next()
		if depth == 0 {
			break
		}
		if n < len(ts) {
			ts[n] = t
			n++
		}
	}
	// ts[0] is the opening parenthesis.
	copy(ts[:], ts[1:n])
	n--
	// ts holds the tokens after the opening parenthesis.
	i := 0
	if n > 1 && ts[0].t == tIdent {
		switch ts[1].t {
		case tIdent, tStar, tLParen, tComma:
			i = 1
			for i+1 < n && ts[i].t == tComma && ts[i+1].t == tIdent {
				i += 2
			}
		}
	}
	for i < n && (ts[i].t == tStar || ts[i].t == tLParen) {
		i++
	}
	if i < n && ts[i].t == tIdent && (i+1 >= n || ts[i+1].t != tDot) {
		return string(x.text(ts[i]))
	}
	return "?"
}

func (x *extractor) varSpecTop() {
	d := declSum{kind: dVar, line: x.cur.line}
	x.varNames = x.varNames[:0]
	for x.cur.t == tIdent {
		x.varNames = append(x.varNames, x.name(x.text(x.cur)))
		x.next()
		if x.cur.t != tComma {
			break
		}
		x.next()
	}
	if len(x.varNames) == 0 {
		x.failf("expected variable name")
		return
	}
	d.names = x.varNames
	d.name = x.varNames[0]
	evLen, ievLen := 0, 0
	x.mode = mNone
	var th head
	typed := false
	switch x.cur.t {
	case tAssign, tSemi, tRParen, tEOF:
	default:
		th = x.typ()
		typed = true
	}
	x.beginDecl()
	x.mode = mWalk
	if typed {
		x.emit(x.constructed(th)...)
	}
	if x.cur.t == tAssign {
		x.next()
		d.hasVal = true
		sp := x.save()
		p0 := x.lx.parens
		x.calls = false
		x.values()
		evLen = x.endDecl()
		x.beginDecl()
		x.mode = mInit
		// What initialisation runs is read in a second walk, which
		// records only calls of names, selectors and function
		// literals: without them (a table of conversions, say) it
		// records nothing.
		if (x.lx.parens != p0 || x.cur.t == tLParen) && x.calls {
			x.restore(sp)
			x.values()
		}
		ievLen = x.endDecl()
	} else {
		evLen = x.endDecl()
	}
	x.mode = mNone
	if x.cur.t != tRParen {
		x.semi()
	}
	if x.err == "" {
		x.addDecl(&d, evLen, ievLen)
	}
}

// values reads an expression list up to the end of a declaration.
func (x *extractor) values() {
	hdr := false
	for {
		switch x.cur.t {
		case tSemi, tRParen, tEOF:
			return
		case tRBrack, tRBrace:
			x.failf("unbalanced")
			return
		}
		x.item(ctxParen, &hdr)
	}
}

// seq reads items up to the closing token close, which it consumes.
func (x *extractor) seq(close tok, ctx ctxKind) {
	if !x.enter() {
		return
	}
	defer x.leave()
	hdr := false
	for {
		switch x.cur.t {
		case close:
			x.next()
			return
		case tEOF:
			x.failf("unbalanced")
			return
		case tRParen, tRBrack, tRBrace:
			x.failf("unbalanced")
			return
		case tComma:
			// Below the nesting limit (the chain a literal starts would
			// count one more), the literal elements that follow add
			// nothing to the summary: generated tables are mostly these.
			if ctx == ctxElems && x.na == 0 && x.depth < maxDepth {
				x.lx.skipLits()
			}
		}
		x.item(ctx, &hdr)
	}
}

// item reads one token or construct at the current level.
func (x *extractor) item(ctx ctxKind, hdr *bool) {
	switch x.cur.t {
	case tLBrace:
		x.next()
		if ctx == ctxBlock {
			x.seq(tRBrace, ctxBlock)
			*hdr = false
		} else {
			x.seq(tRBrace, ctxElems)
		}
	case kwIf, kwFor, kwSwitch:
		if ctx == ctxBlock {
			*hdr = true
		}
		x.next()
	case kwVar, kwConst:
		x.localVar()
	case tIdent, tLit:
		// A name or literal with no suffix is a chain of one operand,
		// whose slot stays empty: read it at once (below the nesting
		// limit, which the chain would count).
		switch x.peek(1).t {
		case tDot, tLParen, tLBrack, tLBrace:
		default:
			if x.depth < maxDepth {
				if x.cur.t == tIdent {
					x.ident(x.cur)
				}
				x.next()
				return
			}
		}
		h := x.chain(*hdr && ctx == ctxBlock)
		x.resolve(&h, false)
	case tLParen, tLBrack, kwFunc, kwStruct, kwMap, kwChan, kwInterface:
		h := x.chain(*hdr && ctx == ctxBlock)
		x.resolve(&h, false)
	case tArrow:
		if x.peek(1).t == kwChan {
			h := x.chain(false)
			x.resolve(&h, false)
			return
		}
		x.next()
	default:
		x.next()
	}
}

func (x *extractor) localVar() {
	x.next()
	if x.cur.t == tLParen {
		x.next()
		for x.cur.t != tRParen && x.cur.t != tEOF {
			if x.cur.t == tSemi {
				x.next()
				continue
			}
			x.localSpec()
			if x.err != "" {
				return
			}
		}
		x.next()
		return
	}
	x.localSpec()
}

func (x *extractor) localSpec() {
	slot := x.newSlot()
	if x.cur.t != tIdent {
		x.failf("expected name")
		return
	}
	for x.cur.t == tIdent {
		x.ident(x.cur)
		x.next()
		if x.cur.t != tComma {
			break
		}
		x.next()
	}
	switch x.cur.t {
	case tAssign, tSemi, tRParen, tRBrace, tEOF:
	default:
		th := x.typ()
		if x.mode == mWalk {
			x.put(slot, x.constructed(th)...)
		}
	}
	if x.cur.t == tAssign {
		x.next()
		hdr := false
		for {
			switch x.cur.t {
			case tSemi, tRParen, tRBrace, tEOF:
				return
			case tRBrack:
				x.failf("unbalanced")
				return
			}
			x.item(ctxParen, &hdr)
		}
	}
}

// ident records a bare name visited by the walker (not called).
func (x *extractor) ident(t lexTok) uint32 {
	b := x.text(t)
	id := x.name(b)
	if x.mode == mWalk {
		if x.hasDots && isExportedBytes(b) {
			x.emit(evDot<<28, id, uint32(t.line))
		}
		x.emit(evName<<28 | id)
	}
	return id
}

func isExportedBytes(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0] < utf8.RuneSelf {
		return 'A' <= b[0] && b[0] <= 'Z'
	}
	r, _ := utf8.DecodeRune(b)
	return unicode.IsUpper(r)
}

func isExported(s string) bool {
	if s == "" {
		return false
	}
	if s[0] < utf8.RuneSelf {
		return 'A' <= s[0] && s[0] <= 'Z'
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r)
}

// operand reads the start of a chain whose slot is slot.
func (x *extractor) operand(slot int32) head {
	t := x.cur
	switch t.t {
	case tIdent:
		if x.peek(1).t == tDot && x.peek(2).t == tIdent {
			b := x.text(t)
			sel := x.peek(2)
			if i, ok := x.imp[string(b)]; ok {
				x.next()
				x.next()
				x.next()
				sb := x.text(sel)
				return head{kind: hImpSel, imp: i, sel: x.name(sb), line: t.line, selLine: sel.line, slot: slot,
					isDo: isDo(sb), isCall: isCallName(sb)}
			}
			if x.ambig {
				id := x.name(b)
				x.next()
				x.next()
				x.next()
				sb := x.text(sel)
				return head{kind: hQSel, id: id, sel: x.name(sb), line: t.line, selLine: sel.line, slot: slot,
					isDo: isDo(sb), isCall: isCallName(sb)}
			}
		}
		id := x.ident(t)
		h := head{kind: hIdent, id: id, line: t.line, slot: slot, isNew: string(x.text(t)) == "new"}
		x.next()
		return h
	case tLit:
		x.next()
		return head{slot: slot}
	case tLParen:
		x.next()
		return x.paren(slot)
	case kwFunc:
		x.next()
		x.signature()
		if x.cur.t != tLBrace {
			return head{slot: slot}
		}
		h := head{kind: hFuncLit, slot: slot, evStart: int32(len(x.raw)), insStart: int32(len(x.ins))}
		mode := x.mode
		if mode == mInit {
			x.mode = mWalk
		}
		x.next()
		x.seq(tRBrace, ctxBlock)
		x.mode = mode
		return h
	case tLBrack, kwStruct, kwMap:
		x.typ()
		return head{kind: hLitType, slot: slot}
	case kwChan, kwInterface, tArrow:
		x.typ()
		return head{slot: slot}
	}
	x.next()
	return head{slot: slot}
}

func isDo(b []byte) bool       { return string(b) == "Do" || string(b) == "AfterFunc" }
func isCallName(b []byte) bool { return string(b) == "Call" || string(b) == "CallSlice" }

// paren reads a parenthesized expression after its "(": when it is one
// chain, its head is returned unresolved (the walker unwraps parentheses to
// tell what is called).
func (x *extractor) paren(slot int32) head {
	if !x.enter() {
		return head{slot: slot}
	}
	defer x.leave()
	switch x.cur.t {
	case tIdent, tLit, tLParen, tLBrack, kwFunc, kwStruct, kwMap, kwChan, kwInterface:
		h := x.chain(false)
		if x.cur.t == tRParen {
			x.next()
			h.paren = true
			return h
		}
		x.resolve(&h, false)
	}
	x.seq(tRParen, ctxParen)
	return head{slot: slot}
}

// chain reads an operand and its suffixes: .name, .(type), (args), [index],
// {elements}; hdr is set in an if, for or switch header, where x {...} is
// not a composite literal.
func (x *extractor) chain(hdr bool) head {
	if !x.enter() {
		return head{}
	}
	defer x.leave()
	slot := x.newSlot()
	h := x.operand(slot)
	for x.err == "" {
		switch x.cur.t {
		case tDot:
			switch x.peek(1).t {
			case tIdent:
				x.resolve(&h, false)
				sel := x.peek(1)
				x.next()
				x.next()
				sb := x.text(sel)
				h = head{kind: hSel, sel: x.name(sb), selLine: sel.line, slot: slot, isDo: isDo(sb), isCall: isCallName(sb)}
				continue
			case tLParen:
				x.resolve(&h, false)
				x.next()
				x.next()
				x.seq(tRParen, ctxParen)
				h = head{slot: slot}
				continue
			}
			return h
		case tLParen:
			fun := h
			x.resolve(&h, true)
			do := x.mode == mInit && fun.isDo && (fun.kind == hSel || fun.kind == hQSel || fun.kind == hImpSel)
			n, single, whole := x.args(do)
			switch x.mode {
			case mWalk:
				if fun.kind == hSel && !fun.paren && fun.isCall && x.reflect {
					x.put(slot, x.site(ReflectCall, fun.selLine, "reflect.Value."+x.nameOf(fun.sel)))
				}
				if fun.kind == hIdent && !fun.paren && fun.isNew && n == 1 && whole {
					x.put(slot, x.constructed(single)...)
				}
			case mInit:
				if fun.kind == hSel && fun.isCall && x.reflect {
					x.put(slot, x.site(ReflectCall, fun.selLine, "reflect.Value."+x.nameOf(fun.sel)))
				}
			}
			h = head{slot: slot}
		case tLBrack:
			x.resolve(&h, false)
			x.next()
			x.seq(tRBrack, ctxParen)
			h = head{kind: hIndex, slot: slot}
		case tLBrace:
			switch h.kind {
			case hIdent, hImpSel, hQSel, hSel, hIndex:
				if hdr {
					return h
				}
			case hLitType:
			default:
				return h
			}
			typ := h
			x.resolve(&h, false)
			x.next()
			x.seq(tRBrace, ctxElems)
			if x.mode == mWalk {
				x.put(slot, x.constructed(typ)...)
			}
			h = head{slot: slot}
		default:
			return h
		}
	}
	return h
}

// args reads a call's arguments after its "(": how many, the first when it
// is a whole chain, and whether it was. do marks each argument called (a
// function handed to a Do method or AfterFunc, in an initialiser).
func (x *extractor) args(do bool) (n int, single head, whole bool) {
	x.next()
	argStart := true
	hdr := false
	for {
		switch x.cur.t {
		case tRParen:
			x.next()
			return
		case tEOF, tRBrack, tRBrace:
			x.failf("unbalanced")
			return
		case tComma:
			x.next()
			argStart = true
			continue
		}
		if argStart {
			n++
			argStart = false
			if t := x.cur; (t.t == tIdent || t.t == tLit) && x.depth < maxDepth {
				if p := x.peek(1).t; p == tComma || p == tRParen {
					// A whole argument of one name or literal: the
					// events its chain would record, in their order
					// (what resolve puts in the chain's slot comes
					// before what the name records itself).
					var h head
					if t.t == tIdent {
						h = x.bareArg(t, do)
					}
					if n == 1 {
						single, whole = h, true
					}
					x.next()
					continue
				}
			}
			switch x.cur.t {
			case tIdent, tLit, tLParen, tLBrack, kwFunc, kwStruct, kwMap, kwChan, kwInterface:
				h := x.chain(false)
				w := x.cur.t == tComma || x.cur.t == tRParen
				if n == 1 {
					single, whole = h, w
				}
				x.resolve(&h, do && w)
				continue
			}
		}
		x.item(ctxParen, &hdr)
	}
}

// bareArg records the events of a call's argument that is the name t alone
// (called: handed to a Do method or AfterFunc in an initialiser), as
// chain, then resolve, would, and returns its head.
func (x *extractor) bareArg(t lexTok, called bool) head {
	b := x.text(t)
	id := x.name(b)
	dot := x.hasDots && isExportedBytes(b)
	switch x.mode {
	case mWalk:
		if dot {
			if called {
				x.raw = append(x.raw, evDot<<28|1, id, uint32(t.line))
			}
			x.raw = append(x.raw, evDot<<28, id, uint32(t.line))
		}
		x.raw = append(x.raw, evName<<28|id)
	case mInit:
		if called {
			if dot {
				x.raw = append(x.raw, evDot<<28|1, id, uint32(t.line))
			}
			x.raw = append(x.raw, evName<<28|id)
		}
	}
	return head{kind: hIdent, id: id, line: t.line, isNew: string(b) == "new"}
}

// resolve records a head's events once it is known whether it is called.
func (x *extractor) resolve(h *head, called bool) {
	if x.mode == mNone {
		return
	}
	if called && x.mode == mWalk {
		switch h.kind {
		case hIdent, hImpSel, hQSel, hSel, hFuncLit:
			x.calls = true
		}
	}
	direct := called && !h.paren
	switch h.kind {
	case hIdent:
		if x.mode == mWalk {
			if called && x.hasDots && isExported(x.in.names[h.id]) {
				x.put(h.slot, evDot<<28|1, h.id, uint32(h.line))
			}
		} else if called {
			var ws []uint32
			if x.hasDots && isExported(x.in.names[h.id]) {
				ws = append(ws, evDot<<28|1, h.id, uint32(h.line))
			}
			x.put(h.slot, append(ws, evName<<28|h.id)...)
		}
	case hImpSel:
		if x.mode == mWalk {
			x.put(h.slot, x.ref(h, direct)...)
		} else if called {
			x.put(h.slot, x.ref(h, true)...)
		}
	case hQSel:
		var f uint32
		if x.mode == mWalk {
			if direct {
				f |= qCalled
			}
		} else {
			if !called {
				break
			}
			f |= qCalled | qInit
		}
		if f&qCalled != 0 && h.isCall && x.reflect && (x.mode == mInit || direct) {
			f |= qReflect
		}
		x.put(h.slot, evQSel<<28|f, h.id, h.sel, uint32(h.line), uint32(h.selLine))
	case hSel:
		if x.mode == mWalk || called {
			x.put(h.slot, evMethod<<28|h.sel)
		}
	case hFuncLit:
		if x.mode == mInit && !called {
			x.raw = x.raw[:h.evStart]
			x.ins = x.ins[:h.insStart]
		}
	}
	h.kind = hOther
}

// ref is the events of imp.Name, an import known at extraction.
func (x *extractor) ref(h *head, called bool) []uint32 {
	is := x.fs.imports[h.imp]
	sel := x.in.names[h.sel]
	out := x.refBuf[:0]
	switch {
	case is.path == "C":
		out = append(out, x.site(CGO, h.selLine, "C."+sel))
	case x.inModule(is.path):
		c := uint32(0)
		if called {
			c = 1
		}
		out = append(out, evMRef<<28|uint32(h.imp)|c<<24, h.sel, uint32(h.selLine))
	default:
		for _, c := range lookupFunc(is.path, sel, called) {
			out = append(out, x.site(c, h.selLine, is.path+"."+sel))
		}
	}
	x.refBuf = out
	return out
}

// constructed is the sites of a value of type h made in the code: a
// standard type's methods can then be called on it.
func (x *extractor) constructed(h head) []uint32 {
	if h.paren {
		return nil
	}
	var out []uint32
	switch h.kind {
	case hIdent:
		if !x.hasDots {
			return nil
		}
		name := x.nameOf(h.id)
		for _, is := range x.fs.imports {
			if is.name != "." || x.inModule(is.path) {
				continue
			}
			for _, c := range stdlib.methods[is.path+"."+name] {
				out = append(out, x.site(c, h.line, is.path+"."+name+" (its methods)"))
			}
		}
	case hImpSel:
		is := x.fs.imports[h.imp]
		if x.inModule(is.path) {
			return nil
		}
		sel := x.nameOf(h.sel)
		for _, c := range stdlib.methods[is.path+"."+sel] {
			out = append(out, x.site(c, h.line, is.path+"."+sel+" (its methods)"))
		}
	}
	return out
}

// typ reads a type; its head says whether it is a bare or qualified name.
func (x *extractor) typ() head {
	if !x.enter() {
		return head{}
	}
	defer x.leave()
	slot := int32(-1)
	switch x.cur.t {
	case tIdent:
		slot = x.newSlot()
		h := x.operand(slot)
		if x.cur.t == tDot && x.peek(1).t == tIdent { // a qualified name the operand did not take
			x.resolve(&h, false)
			sel := x.peek(1)
			x.next()
			x.next()
			h = head{kind: hSel, sel: x.name(x.text(sel)), selLine: sel.line, slot: slot}
		}
		r := h
		x.resolve(&h, false)
		if x.cur.t == tLBrack {
			x.next()
			x.seq(tRBrack, ctxParen)
			return head{kind: hIndex, slot: slot}
		}
		return r
	case tStar:
		x.next()
		x.typ()
	case tLParen:
		x.next()
		x.typ()
		if !x.expect(tRParen, ")") {
			break
		}
	case tLBrack:
		x.next()
		if x.cur.t == tRBrack {
			x.next()
		} else {
			x.seq(tRBrack, ctxParen)
		}
		x.typ()
		return head{kind: hLitType, slot: slot}
	case kwMap:
		x.next()
		if !x.expect(tLBrack, "[") {
			break
		}
		x.typ()
		if !x.expect(tRBrack, "]") {
			break
		}
		x.typ()
		return head{kind: hLitType, slot: slot}
	case kwChan:
		x.next()
		if x.cur.t == tArrow {
			x.next()
		}
		x.typ()
	case tArrow:
		x.next()
		if !x.expect(kwChan, "chan") {
			break
		}
		x.typ()
	case kwFunc:
		x.next()
		x.signature()
	case kwStruct:
		x.next()
		if !x.expect(tLBrace, "{") {
			break
		}
		x.seq(tRBrace, ctxParen)
		return head{kind: hLitType, slot: slot}
	case kwInterface:
		x.next()
		if !x.expect(tLBrace, "{") {
			break
		}
		x.interfaceBody()
	default:
		x.failf("expected type")
	}
	return head{slot: slot}
}

func (x *extractor) interfaceBody() {
	hdr := false
	for {
		switch x.cur.t {
		case tRBrace:
			x.next()
			return
		case tEOF, tRParen, tRBrack:
			x.failf("unbalanced")
			return
		case tSemi:
			x.next()
			continue
		case tIdent:
			if x.peek(1).t == tLParen {
				x.ident(x.cur)
				x.next()
				x.signatureAfterFunc()
				continue
			}
		}
		x.item(ctxParen, &hdr)
	}
}

// signature reads parameters and results after "func".
func (x *extractor) signature() {
	if x.cur.t == tLBrack { // a method's type parameters never appear here; tolerate them
		x.next()
		x.seq(tRBrack, ctxParen)
	}
	x.signatureAfterFunc()
}

func (x *extractor) signatureAfterFunc() {
	if !x.expect(tLParen, "(") {
		return
	}
	x.seq(tRParen, ctxParen)
	switch x.cur.t {
	case tLParen:
		x.next()
		x.seq(tRParen, ctxParen)
	case tIdent, tLBrack, kwStruct, tStar, kwFunc, kwInterface, kwMap, kwChan, tArrow:
		x.typ()
	}
}

// size is about how many bytes the summary takes.
func (f *fileSum) size() int64 {
	n := 160 + len(f.name) + len(f.pkg) + len(f.fail) + len(f.ev) + len(f.decls) + 8*len(f.linknames)
	for _, s := range f.sites {
		n += 32 + len(s.via)
	}
	for _, is := range f.imports {
		n += 40 + len(is.name) + len(is.path)
	}
	return int64(n)
}

// interner numbers the names of a pass's files (their ids are what
// summaries record), allocating one string per distinct name.
type interner struct {
	names []string
	table []uint32 // open addressing: id+1, 0 for empty
	// local is the same for the names of the file being read.
	local  []uint32
	nlocal int
	seed   maphash.Seed
	// size is about how many bytes the names take.
	size int64
	// short is a direct-mapped cache of names of up to 16 bytes, by their
	// bytes as two numbers (a name has no NUL byte, so the numbers tell
	// lengths apart): most names are short and repeat, and the table
	// grows past what caches hold. A collision only evicts, so crafted
	// names cost the table's hashing at worst. It grows with the table
	// up to 1<<maxShortBits entries (a small module's pass stays small).
	short     []shortName
	shortBits uint
}

const maxShortBits = 12

type shortName struct {
	k0, k1 uint64
	id     uint32 // id+1, 0 for empty
}

func (in *interner) init() {
	in.seed = maphash.MakeSeed()
	in.table = make([]uint32, 1024)
	in.shortBits = 8
	in.short = make([]shortName, 1<<in.shortBits)
}

func (in *interner) len() int { return len(in.names) }

func (in *interner) id(b []byte) uint32 {
	n := len(b)
	if n == 0 || n > 16 {
		return in.lookup(b)
	}
	var k0, k1 uint64
	if n >= 8 {
		k0 = binary.LittleEndian.Uint64(b)
		for i := n - 1; i >= 8; i-- {
			k1 = k1<<8 | uint64(b[i])
		}
	} else {
		for i := n - 1; i >= 0; i-- {
			k0 = k0<<8 | uint64(b[i])
		}
	}
	e := &in.short[((k0^k1*0xff51afd7ed558ccd)*0x9e3779b97f4a7c15)>>(64-in.shortBits)]
	if e.k0 == k0 && e.k1 == k1 && e.id != 0 {
		return e.id - 1
	}
	id := in.lookup(b)
	e.k0, e.k1, e.id = k0, k1, id+1
	return id
}

// newFile starts a file: its own table of the names it used, small enough
// to stay in the caches where the pass's table of a large module would not.
func (in *interner) newFile() {
	if len(in.local) != 1024 {
		in.local = make([]uint32, 1024)
	} else {
		clear(in.local)
	}
	in.nlocal = 0
}

func (in *interner) lookup(b []byte) uint32 {
	h := uint32(maphash.Bytes(in.seed, b))
	lmask := uint32(len(in.local) - 1)
	li := h & lmask
	for ; ; li = (li + 1) & lmask {
		v := in.local[li]
		if v == 0 {
			break
		}
		if id := v - 1; in.names[id] == string(b) {
			return id
		}
	}
	id := in.global(b, h)
	in.local[li] = id + 1
	if in.nlocal++; in.nlocal*2 > len(in.local) {
		in.growLocal()
	}
	return id
}

// global is the id of b, whose hash is h, in the pass's table.
func (in *interner) global(b []byte, h uint32) uint32 {
	mask := uint32(len(in.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := in.table[i]
		if v == 0 {
			id := uint32(len(in.names))
			in.names = append(in.names, string(b))
			in.size += int64(len(b)) + 24
			in.table[i] = id + 1
			if len(in.names)*2 > len(in.table) {
				in.grow()
			}
			return id
		}
		if id := v - 1; in.names[id] == string(b) {
			return id
		}
	}
}

func (in *interner) growLocal() {
	t := make([]uint32, len(in.local)*2)
	mask := uint32(len(t) - 1)
	for _, v := range in.local {
		if v == 0 {
			continue
		}
		i := uint32(maphash.String(in.seed, in.names[v-1])) & mask
		for t[i] != 0 {
			i = (i + 1) & mask
		}
		t[i] = v
	}
	in.local = t
}

func (in *interner) grow() {
	t := make([]uint32, len(in.table)*2)
	mask := uint32(len(t) - 1)
	for id, name := range in.names {
		i := uint32(maphash.String(in.seed, name)) & mask
		for t[i] != 0 {
			i = (i + 1) & mask
		}
		t[i] = uint32(id) + 1
	}
	in.size += int64(len(t)-len(in.table)) * 4
	in.table = t
	if in.shortBits < maxShortBits && 1<<in.shortBits < len(in.names) {
		in.shortBits = min(maxShortBits, in.shortBits+2)
		in.short = make([]shortName, 1<<in.shortBits) // a cache: starts empty
	}
}
