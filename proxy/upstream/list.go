package upstream

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
)

// Entry is one element of a GOPROXY-syntax list.
//
// Exactly one of the following holds: Direct is set (the entry was "direct"),
// Off is set (the entry was "off"), or URL is an http://, https:// or file://
// URL.
type Entry struct {
	// URL is the upstream's base URL with any trailing slash removed, and with
	// "https://" added to a bare host name as the go command does. It keeps
	// any userinfo, so it may carry a password: never log or display it; use
	// [Entry.Redacted] for that. Empty for direct and off.
	URL string
	// Direct reports that the entry was "direct": fetch from version control.
	Direct bool
	// Off reports that the entry was "off": fail without asking anyone.
	Off bool
	// FallbackOnAnyError reports that the separator after this entry was '|':
	// the next entry is tried after any error, not only after "not found".
	FallbackOnAnyError bool
}

// Redacted returns the entry for display: the URL without userinfo,
// "direct", or "off".
func (e Entry) Redacted() string {
	switch {
	case e.Direct:
		return "direct"
	case e.Off:
		return "off"
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		// ParseList never produces such an entry.
		return "(invalid URL)"
	}
	u.User = nil
	return u.String()
}

// ParseList parses a list in GOPROXY syntax, as documented by
// "go help goproxy": entries separated by ',' (fall through to the next entry
// only when this one says "not found", an HTTP 404 or 410) or '|' (fall
// through after any error). An entry is an http:// or https:// URL, a
// file:// URL naming an absolute directory in GOPROXY layout, "direct" or
// "off". As in the go command, an entry without a scheme that contains '.',
// ':' or '/' gets "https://" in front.
//
// ParseList is stricter than the go command, which silently skips some
// mistakes: it rejects an empty list, empty entries (",," or a trailing
// separator) and entries after "direct" or "off" (the go command ignores
// them, so they are never used).
//
// Error messages never contain a URL's userinfo.
func ParseList(s string) ([]Entry, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty GOPROXY list")
	}
	var entries []Entry
	for i := 1; s != ""; i++ {
		raw := s
		fallback := false
		if j := strings.IndexAny(s, ",|"); j >= 0 {
			raw = s[:j]
			fallback = s[j] == '|'
			s = s[j+1:]
			if s == "" {
				return nil, fmt.Errorf("GOPROXY list: ends with a separator after entry %d (an empty entry)", i)
			}
		} else {
			s = ""
		}
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return nil, fmt.Errorf("GOPROXY list: entry %d is empty", i)
		}
		if len(entries) > 0 {
			if last := entries[len(entries)-1]; last.Direct || last.Off {
				return nil, fmt.Errorf("GOPROXY list: entry %d comes after %q, which ends the list: the go command never uses it", i, last.Redacted())
			}
		}
		e, err := parseEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("GOPROXY list: entry %d: %w", i, err)
		}
		e.FallbackOnAnyError = fallback
		entries = append(entries, e)
	}
	return entries, nil
}

// parseEntry parses one trimmed, non-empty entry. Its errors must not contain
// the raw text, which may hold a password.
func parseEntry(raw string) (Entry, error) {
	switch raw {
	case "direct":
		return Entry{Direct: true}, nil
	case "off":
		return Entry{Off: true}, nil
	}
	// Same rule as cmd/go/internal/modfetch.proxyList: single-word tokens are
	// reserved for built-in behaviours, anything with ":/" or an absolute
	// path must be a complete URL, everything else is a host name.
	if strings.ContainsAny(raw, ".:/") && !strings.Contains(raw, ":/") && !filepath.IsAbs(raw) && !path.IsAbs(raw) {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the raw URL; drop it
		}
		return Entry{}, fmt.Errorf("invalid URL: %v", err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" || u.Opaque != "" {
			return Entry{}, fmt.Errorf("invalid proxy URL %q: missing host", redact(u))
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return Entry{}, fmt.Errorf("invalid proxy URL %q: a query or fragment is not allowed", redact(u))
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = strings.TrimRight(u.RawPath, "/")
	case "file":
		// As cmd/go's newProxyRepo: a file URL has only a path.
		if *u != (url.URL{Scheme: u.Scheme, Path: u.Path, RawPath: u.RawPath}) {
			return Entry{}, fmt.Errorf("invalid file:// proxy URL %q: only file:///absolute/dir is allowed (no host, user, query or fragment)", redact(u))
		}
		if !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return Entry{}, fmt.Errorf("invalid file:// proxy URL %q: the directory must be an absolute path, as in file:///srv/goproxy", redact(u))
		}
		if p := strings.TrimRight(u.Path, "/"); p != "" {
			u.Path = p
			u.RawPath = strings.TrimRight(u.RawPath, "/")
		}
	case "":
		return Entry{}, fmt.Errorf("invalid proxy URL %q: missing scheme (use https://, http://, file://, direct or off)", redact(u))
	default:
		return Entry{}, fmt.Errorf("invalid proxy URL %q: scheme must be https, http or file", redact(u))
	}
	return Entry{URL: u.String()}, nil
}

// redact returns u as a string without userinfo.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
