package caps

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// The lexer of the pass: one forward pass over a Go file's bytes that yields
// only what the extractor needs (identifiers, keywords, literals as one
// kind, the punctuation that shapes expressions, other operators as one
// kind) with line numbers, and Go's automatic semicolons. It allocates
// nothing per token: an identifier is a range of the source.

type tok uint8

const (
	tEOF tok = iota
	tIdent
	tLit // number, string, raw string, rune
	tDot
	tLParen
	tRParen
	tLBrack
	tRBrack
	tLBrace
	tRBrace
	tComma
	tSemi
	tColon
	tArrow  // <-
	tAssign // =
	tStar   // *
	tOp     // any other operator
	kwBreak
	kwCase
	kwChan
	kwConst
	kwContinue
	kwDefault
	kwDefer
	kwElse
	kwFallthrough
	kwFor
	kwFunc
	kwGo
	kwGoto
	kwIf
	kwImport
	kwInterface
	kwMap
	kwPackage
	kwRange
	kwReturn
	kwSelect
	kwStruct
	kwSwitch
	kwType
	kwVar
)

// lexTok is one token: its kind, line and (for identifiers and literals) its
// bytes' range in the source.
type lexTok struct {
	t          tok
	line       int32
	start, end int32
}

type lexer struct {
	src  []byte
	off  int
	line int32
	semi bool // a newline here ends a statement
	err  string
	// parens counts the ( tokens read.
	parens int
}

func (l *lexer) init(src []byte) {
	*l = lexer{src: src, line: 1}
	if len(src) >= 3 && src[0] == 0xef && src[1] == 0xbb && src[2] == 0xbf {
		l.off = 3 // a byte order mark
	}
}

// quoted reads an interpreted string or rune literal whose opening quote q
// is at start: it ends at the next unescaped q on the same line.
func (l *lexer) quoted(start int, line int32, q byte, unterminated string) lexTok {
	src := l.src
	i := start + 1
	for {
		if i >= len(src) || src[i] == '\n' {
			return l.fail(unterminated)
		}
		if src[i] == '\\' {
			if i+1 < len(src) && src[i+1] == '\n' {
				return l.fail(unterminated)
			}
			i += 2
			continue
		}
		if src[i] == q {
			break
		}
		i++
	}
	l.off = i + 1
	l.semi = true
	return lexTok{t: tLit, line: line, start: int32(start), end: int32(i + 1)}
}

func (l *lexer) fail(msg string) lexTok {
	if l.err == "" {
		l.err = msg
	}
	l.off = len(l.src)
	l.semi = false
	return lexTok{t: tEOF, line: l.line}
}

// next returns the next token; tEOF at the end or after an error (l.err).
// The hot loops (blanks, comments, identifiers) keep the offset and line in
// locals and store them once per token.
func (l *lexer) next() lexTok {
	src := l.src
	off, line := l.off, l.line
	for {
		if off >= len(src) {
			l.off, l.line = off, line
			if l.semi {
				l.semi = false
				return lexTok{t: tSemi, line: line}
			}
			return lexTok{t: tEOF, line: line}
		}
		c := src[off]
		if c == ' ' || c == '\t' || c == '\r' {
			off++
			continue
		}
		if c == '\n' {
			if l.semi {
				l.off, l.line = off, line
				l.semi = false
				return lexTok{t: tSemi, line: line}
			}
			off++
			line++
			continue
		}
		if c != '/' || off+1 >= len(src) {
			break
		}
		switch src[off+1] {
		case '/':
			// The newline, if any, is seen next.
			if i := bytes.IndexByte(src[off+2:], '\n'); i >= 0 {
				off += 2 + i
			} else {
				off = len(src)
			}
			continue
		case '*':
			i := bytes.Index(src[off+2:], commentEnd)
			if i < 0 {
				// The line as the error leaves it: the comment's newlines
				// but one at the very end.
				if off+2 < len(src)-1 {
					line += int32(bytes.Count(src[off+2:len(src)-1], newline))
				}
				l.off, l.line = off, line
				return l.fail("comment not terminated")
			}
			nl := int32(bytes.Count(src[off+2:off+2+i], newline))
			line += nl
			off += 2 + i + 2
			if nl > 0 && l.semi {
				l.off, l.line = off, line
				l.semi = false
				return lexTok{t: tSemi, line: line}
			}
			continue
		}
		break
	}
	l.off, l.line = off, line
	start := off
	c := src[start]
	if class[c]&cLetter != 0 || c >= utf8.RuneSelf {
		i := start
		for i < len(src) && class[src[i]]&(cLetter|cDigit) != 0 {
			i++
		}
		if i < len(src) && src[i] >= utf8.RuneSelf {
			i = l.identTail(start, i)
			if i < 0 {
				return l.fail("invalid character")
			}
		}
		l.off = i
		t := keyword(src[start:i])
		l.semi = semiAfter[t]
		return lexTok{t: t, line: line, start: int32(start), end: int32(i)}
	}
	if isDigit(c) || c == '.' && start+1 < len(src) && isDigit(src[start+1]) {
		i := numberEnd(src, start)
		l.off = i
		l.semi = true
		return lexTok{t: tLit, line: line, start: int32(start), end: int32(i)}
	}
	l.off++
	l.semi = false
	switch c {
	case '"':
		return l.quoted(start, line, '"', "string literal not terminated")
	case '`':
		i := bytes.IndexByte(src[start+1:], '`')
		if i < 0 {
			l.line += int32(bytes.Count(src[start+1:], newline))
			return l.fail("raw string literal not terminated")
		}
		end := start + 1 + i
		l.line += int32(bytes.Count(src[start+1:end], newline))
		l.off = end + 1
		l.semi = true
		return lexTok{t: tLit, line: line, start: int32(start), end: int32(end + 1)}
	case '\'':
		return l.quoted(start, line, '\'', "rune literal not terminated")
	case '.':
		if start+2 < len(src) && src[start+1] == '.' && src[start+2] == '.' {
			l.off = start + 3
			return lexTok{t: tOp, line: line}
		}
		return lexTok{t: tDot, line: line}
	case '(':
		l.parens++
		return lexTok{t: tLParen, line: line}
	case ')':
		l.semi = true
		return lexTok{t: tRParen, line: line}
	case '[':
		return lexTok{t: tLBrack, line: line}
	case ']':
		l.semi = true
		return lexTok{t: tRBrack, line: line}
	case '{':
		return lexTok{t: tLBrace, line: line}
	case '}':
		l.semi = true
		return lexTok{t: tRBrace, line: line}
	case ',':
		return lexTok{t: tComma, line: line}
	case ';':
		return lexTok{t: tSemi, line: line}
	case ':':
		return l.orAssign(tColon, line)
	case '=':
		return l.orAssign(tAssign, line)
	case '*':
		return l.orAssign(tStar, line)
	case '<':
		if l.peekIs(start+1, '-') {
			l.off++
			return lexTok{t: tArrow, line: line}
		}
		if l.peekIs(l.off, '<') {
			l.off++
		}
		if l.peekIs(l.off, '=') {
			l.off++
		}
		return lexTok{t: tOp, line: line}
	case '>':
		if l.peekIs(l.off, '>') {
			l.off++
		}
		if l.peekIs(l.off, '=') {
			l.off++
		}
		return lexTok{t: tOp, line: line}
	case '&', '|':
		if l.peekIs(l.off, c) {
			l.off++
			return lexTok{t: tOp, line: line}
		}
		if c == '&' && l.peekIs(l.off, '^') {
			l.off++
		}
		if l.peekIs(l.off, '=') {
			l.off++
		}
		return lexTok{t: tOp, line: line}
	case '+', '-':
		if l.peekIs(l.off, c) {
			l.off++
			l.semi = true
		} else if l.peekIs(l.off, '=') {
			l.off++
		}
		return lexTok{t: tOp, line: line}
	case '/', '%', '^', '!':
		if l.peekIs(l.off, '=') {
			l.off++
		}
		return lexTok{t: tOp, line: line}
	case '~':
		return lexTok{t: tOp, line: line}
	}
	return l.fail("invalid character")
}

// numberEnd returns where the number literal at start ends: digits, letters
// and dots, and a sign after an exponent (e, E but in hexadecimal; p, P).
func numberEnd(src []byte, start int) int {
	i := start
	hex := src[i] == '0' && i+1 < len(src) && (src[i+1] == 'x' || src[i+1] == 'X')
	for i < len(src) {
		b := src[i]
		if isDigit(b) {
			i++
			continue
		}
		if (b == 'e' || b == 'E') && !hex || b == 'p' || b == 'P' {
			i++
			if i < len(src) && (src[i] == '+' || src[i] == '-') {
				i++
			}
			continue
		}
		if class[b]&cLetter != 0 || b == '.' {
			i++
			continue
		}
		break
	}
	return i
}

var (
	commentEnd = []byte("*/")
	newline    = []byte("\n")
)

// identTail continues an identifier from i, where a byte >= utf8.RuneSelf
// is: letters and digits of any script. It returns where the identifier
// ends, or -1 when it would be empty (an invalid character at start).
func (l *lexer) identTail(start, i int) int {
	src := l.src
	for i < len(src) {
		b := src[i]
		if class[b]&(cLetter|cDigit) != 0 {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			break
		}
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 || !unicode.IsLetter(r) && !(i > start && unicode.IsDigit(r)) {
			if i == start {
				return -1
			}
			break
		}
		i += n
	}
	return i
}

// semiAfter is whether a newline after the token ends a statement, for
// identifiers and keywords.
var semiAfter = func() (t [kwVar + 1]bool) {
	t[tIdent], t[kwBreak], t[kwContinue], t[kwFallthrough], t[kwReturn] = true, true, true, true, true
	return t
}()

// skipLits skips, after a comma between a composite literal's elements, the
// elements that are a literal alone or a literal key and value, each with
// its comma ("0x1f, ", "1: "a", "): the extractor reads them as chains of one
// operand, which record nothing. It stops before anything else, so what
// follows (and any error) is lexed as usual.
func (l *lexer) skipLits() {
	src := l.src
	for {
		// The common case first, byte by byte: blanks, a number, a comma
		// (after a comma a newline ends nothing).
		off, line := l.off, l.line
		for off < len(src) {
			if c := src[off]; c == ' ' || c == '\t' || c == '\r' {
				off++
			} else if c == '\n' {
				off++
				line++
			} else {
				break
			}
		}
		if off < len(src) && isDigit(src[off]) {
			if i := numberEnd(src, off); i < len(src) && src[i] == ',' {
				l.off, l.line = i+1, line
				continue
			}
		}
		save := *l
		if l.next().t != tLit {
			*l = save
			return
		}
		t := l.next().t
		if t == tColon {
			if l.next().t != tLit {
				*l = save
				return
			}
			t = l.next().t
		}
		if t != tComma {
			*l = save
			return
		}
	}
}

// orAssign ends the token of one character just read: an operator if '='
// follows it (":=", "==", "*="), else t.
func (l *lexer) orAssign(t tok, line int32) lexTok {
	if l.peekIs(l.off, '=') {
		l.off++
		return lexTok{t: tOp, line: line}
	}
	return lexTok{t: t, line: line}
}

func (l *lexer) peekIs(i int, c byte) bool { return i < len(l.src) && l.src[i] == c }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }

const (
	cLetter = 1 << iota
	cDigit
	cSpace
)

// class classifies ASCII bytes for the lexer's loops.
var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case isLetter(byte(c)):
			t[c] = cLetter
		case isDigit(byte(c)):
			t[c] = cDigit
		case c == ' ' || c == '\t' || c == '\r':
			t[c] = cSpace
		}
	}
	return t
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// keyword returns the keyword b spells, or tIdent: keywords are told apart
// by a hash of their first two bytes and length without collisions, so one
// comparison decides.
func keyword(b []byte) tok {
	if len(b) < 2 || len(b) > 11 {
		return tIdent
	}
	k := &keywords[(uint(b[0])<<2^uint(b[1])<<3^uint(len(b))*5)&63]
	if k.t != 0 && k.s == string(b) {
		return k.t
	}
	return tIdent
}

var keywords = func() (t [64]struct {
	s string
	t tok
}) {
	for k := kwBreak; k <= kwVar; k++ {
		s := keywordNames[k-kwBreak]
		h := &t[(uint(s[0])<<2^uint(s[1])<<3^uint(len(s))*5)&63]
		if h.t != 0 {
			panic("keyword hash collision: " + s + " and " + h.s)
		}
		h.s, h.t = s, k
	}
	return t
}()

// keywordNames are the keywords in the order of their tokens (kwBreak...).
var keywordNames = [...]string{"break", "case", "chan", "const", "continue", "default", "defer", "else",
	"fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range",
	"return", "select", "struct", "switch", "type", "var"}
