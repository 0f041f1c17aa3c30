package caps

// The lexer as it was at bc0b43a, kept only as the reference FuzzLex holds
// lex.go to: the same tokens, lines, errors and state.

import (
	"unicode"
	"unicode/utf8"
)

type refLexer struct {
	src  []byte
	off  int
	line int32
	semi bool // a newline here ends a statement
	err  string
	// parens counts the ( tokens read.
	parens int
}

func (l *refLexer) init(src []byte) {
	*l = refLexer{src: src, line: 1}
	if len(src) >= 3 && src[0] == 0xef && src[1] == 0xbb && src[2] == 0xbf {
		l.off = 3 // a byte order mark
	}
}

// quoted reads an interpreted string or rune literal whose opening quote q
// is at start: it ends at the next unescaped q on the same line.
func (l *refLexer) quoted(start int, line int32, q byte, unterminated string) lexTok {
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

func (l *refLexer) fail(msg string) lexTok {
	if l.err == "" {
		l.err = msg
	}
	l.off = len(l.src)
	l.semi = false
	return lexTok{t: tEOF, line: l.line}
}

// next returns the next token; tEOF at the end or after an error (l.err).
func (l *refLexer) next() lexTok {
	src := l.src
	for {
		if l.off >= len(src) {
			if l.semi {
				l.semi = false
				return lexTok{t: tSemi, line: l.line}
			}
			return lexTok{t: tEOF, line: l.line}
		}
		c := src[l.off]
		if class[c]&cSpace != 0 {
			l.off++
			continue
		}
		switch c {
		case '\n':
			if l.semi {
				l.semi = false
				return lexTok{t: tSemi, line: l.line}
			}
			l.off++
			l.line++
			continue
		case '/':
			if l.off+1 < len(src) && src[l.off+1] == '/' {
				i := l.off + 2
				for i < len(src) && src[i] != '\n' {
					i++
				}
				l.off = i // the newline, if any, is seen next
				continue
			}
			if l.off+1 < len(src) && src[l.off+1] == '*' {
				i, nl := l.off+2, false
				for {
					if i+1 >= len(src) {
						return l.fail("comment not terminated")
					}
					if src[i] == '*' && src[i+1] == '/' {
						break
					}
					if src[i] == '\n' {
						l.line++
						nl = true
					}
					i++
				}
				l.off = i + 2
				if nl && l.semi {
					l.semi = false
					return lexTok{t: tSemi, line: l.line}
				}
				continue
			}
		}
		break
	}
	start := l.off
	line := l.line
	c := src[start]
	if class[c]&cLetter != 0 || c >= utf8.RuneSelf {
		i := start
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
					return l.fail("invalid character")
				}
				break
			}
			i += n
		}
		l.off = i
		t := refKeyword(src[start:i])
		switch t {
		case tIdent, kwBreak, kwContinue, kwFallthrough, kwReturn:
			l.semi = true
		default:
			l.semi = false
		}
		return lexTok{t: t, line: line, start: int32(start), end: int32(i)}
	}
	if isDigit(c) || c == '.' && start+1 < len(src) && isDigit(src[start+1]) {
		i := start
		hex := c == '0' && i+1 < len(src) && (src[i+1] == 'x' || src[i+1] == 'X')
		for i < len(src) {
			b := src[i]
			if (b == 'e' || b == 'E') && !hex || b == 'p' || b == 'P' {
				i++
				if i < len(src) && (src[i] == '+' || src[i] == '-') {
					i++
				}
				continue
			}
			if isLetter(b) || isDigit(b) || b == '.' {
				i++
				continue
			}
			break
		}
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
		i := start + 1
		for {
			if i >= len(src) {
				return l.fail("raw string literal not terminated")
			}
			if src[i] == '`' {
				break
			}
			if src[i] == '\n' {
				l.line++
			}
			i++
		}
		l.off = i + 1
		l.semi = true
		return lexTok{t: tLit, line: line, start: int32(start), end: int32(i + 1)}
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
		if l.peekIs(start+1, '=') {
			l.off++
			return lexTok{t: tOp, line: line}
		}
		return lexTok{t: tColon, line: line}
	case '=':
		if l.peekIs(start+1, '=') {
			l.off++
			return lexTok{t: tOp, line: line}
		}
		return lexTok{t: tAssign, line: line}
	case '*':
		if l.peekIs(start+1, '=') {
			l.off++
			return lexTok{t: tOp, line: line}
		}
		return lexTok{t: tStar, line: line}
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

func (l *refLexer) peekIs(i int, c byte) bool { return i < len(l.src) && l.src[i] == c }

// keyword returns the keyword b spells, or tIdent.
func refKeyword(b []byte) tok {
	if len(b) < 2 || len(b) > 11 || b[0] < 'b' || b[0] > 'v' {
		return tIdent
	}
	switch string(b) {
	case "break":
		return kwBreak
	case "case":
		return kwCase
	case "chan":
		return kwChan
	case "const":
		return kwConst
	case "continue":
		return kwContinue
	case "default":
		return kwDefault
	case "defer":
		return kwDefer
	case "else":
		return kwElse
	case "fallthrough":
		return kwFallthrough
	case "for":
		return kwFor
	case "func":
		return kwFunc
	case "go":
		return kwGo
	case "goto":
		return kwGoto
	case "if":
		return kwIf
	case "import":
		return kwImport
	case "interface":
		return kwInterface
	case "map":
		return kwMap
	case "package":
		return kwPackage
	case "range":
		return kwRange
	case "return":
		return kwReturn
	case "select":
		return kwSelect
	case "struct":
		return kwStruct
	case "switch":
		return kwSwitch
	case "type":
		return kwType
	case "var":
		return kwVar
	}
	return tIdent
}
