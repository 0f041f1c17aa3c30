package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// StatusError is an HTTP response from an upstream with a status other than
// 200. 404 and 410 satisfy errors.Is(err, fs.ErrNotExist), as the go command
// treats them.
type StatusError struct {
	// Source is the upstream's URL without userinfo.
	Source string
	// URL is the requested URL without userinfo.
	URL string
	// Code is the HTTP status code.
	Code int
	// Body is the start of a text/plain response body, at most 648 bytes and
	// 8 lines (as the go command shows), with nothing but printable
	// characters and spaces; "" for other bodies. It is for the operator's
	// log only: Error does not include it, because the text is the
	// upstream's, and relaying it to clients would let any host an upstream
	// reaches speak through modgate.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream %s answered %d %s for %s", e.Source, e.Code, http.StatusText(e.Code), e.URL)
}

// redirectError is a redirect from an upstream proxy that modgate does not
// follow.
type redirectError struct {
	From, To string // scheme://host[:port], no userinfo, no path
	Why      string
}

func (e *redirectError) Error() string {
	return fmt.Sprintf("upstream %s redirected to %s, which modgate does not follow: %s", e.From, e.To, e.Why)
}

// maxRedirects is net/http's default limit.
const maxRedirects = 10

// checkRedirect returns the CheckRedirect function of the upstream client:
// a redirect is followed only to the same scheme, host and port as the
// request that started the chain (an upgrade from http to https on the same
// host is fine too), or to a host listed in r.redirects, and never from
// https to http. then, if set, is the caller's own CheckRedirect.
func (r *Router) checkRedirect(then func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		orig := via[0].URL
		from := orig.Scheme + "://" + orig.Host
		to := req.URL.Scheme + "://" + req.URL.Host
		fail := func(why string) error { return &redirectError{From: from, To: to, Why: why} }
		switch {
		case len(via) >= maxRedirects:
			return fail(fmt.Sprintf("more than %d redirects", maxRedirects))
		case req.URL.Scheme != "http" && req.URL.Scheme != "https":
			return fail("only http and https are followed")
		case orig.Scheme == "https" && req.URL.Scheme != "https":
			return fail("a redirect from https to http is never followed")
		}
		if !sameHost(orig, req.URL) && !r.redirects.listed(req.URL.Hostname()) {
			return fail("only redirects to the same host, or to hosts in the operator's --upstream-redirect-allow setting, are followed")
		}
		if then != nil {
			return then(req, via)
		}
		return nil
	}
}

// sameHost reports whether b names a's host and port (default ports
// filled in; an http URL's port 80 also matches https's 443 on the same host
// name, for an upgrade).
func sameHost(a, b *url.URL) bool {
	if !strings.EqualFold(a.Hostname(), b.Hostname()) {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	pa, pb := port(a), port(b)
	return pa == pb || (a.Scheme == "http" && b.Scheme == "https" && pa == "80" && pb == "443")
}

// Is reports whether the status means "not found" (404 or 410) when target
// is fs.ErrNotExist.
func (e *StatusError) Is(target error) bool {
	return target == fs.ErrNotExist && (e.Code == http.StatusNotFound || e.Code == http.StatusGone)
}

// Limits on the error detail kept from a response body, as cmd/go/internal/web.
const (
	maxErrorDetailLines = 8
	maxErrorDetailBytes = maxErrorDetailLines * 81
)

// errorDetail returns the sanitized start of an error response body.
func errorDetail(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "text/plain") {
		return ""
	}
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorDetailBytes))
	// A cut may split a rune: drop an incomplete one at the end.
	for len(buf) > 0 && !utf8.Valid(buf) {
		buf = buf[:len(buf)-1]
	}
	var lines []string
	for i, line := range strings.Split(string(buf), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || i >= maxErrorDetailLines {
			break
		}
		lines = append(lines, strings.Map(func(r rune) rune {
			if unicode.IsGraphic(r) || r == ' ' || r == '\t' {
				return r
			}
			return -1
		}, line))
	}
	return strings.Join(lines, "\n")
}

// fetchHTTP fetches req from an http(s) entry.
//
// Timers, in order: deadline starts before the request and cancels it with
// an ErrTimeout cause after r.timeout; for Zip it is stopped once headers
// arrive, for other kinds it runs until the body is done. The idle timer
// (see body) is armed only while a Read waits. Both cancel reqCtx, which is
// derived from ctx and is not cancelled when Fetch returns, only when the
// body is closed.
func (r *Router) fetchHTTP(ctx context.Context, e entry, req Request) (*Response, error) {
	rel, err := req.relPath()
	if err != nil {
		return nil, err
	}
	shownURL := e.base + "/" + rel
	reqCtx, cancel := context.WithCancelCause(ctx)
	what := "no response headers"
	if req.Kind != Zip {
		what = "no complete response"
	}
	timeoutErr := fmt.Errorf("%w: %s from %s within %v", ErrTimeout, what, shownURL, r.timeout)
	deadline := time.AfterFunc(r.timeout, func() { cancel(timeoutErr) })

	hreq, err := http.NewRequestWithContext(reqCtx, http.MethodGet, shownURL, nil)
	if err != nil {
		deadline.Stop()
		cancel(nil)
		return nil, fmt.Errorf("fetching %s: %w", shownURL, err)
	}
	if e.user != "" || e.hasPW {
		hreq.SetBasicAuth(e.user, e.pass)
	}
	if req.NoFetch {
		hreq.Header.Set("Disable-Module-Fetch", "true")
	}
	resp, err := r.client.Do(hreq)
	if err != nil {
		deadline.Stop()
		cause := context.Cause(reqCtx)
		cancel(nil)
		if resp != nil {
			resp.Body.Close() // a refused redirect returns both
		}
		if errors.Is(cause, ErrTimeout) {
			return nil, cause
		}
		var redir *redirectError
		if errors.As(err, &redir) {
			// Not the *url.Error, which names the redirect's target URL.
			return nil, redir
		}
		// net/http's *url.Error already names the URL (never with a password).
		return nil, err
	}
	fail := func(err error) (*Response, error) {
		deadline.Stop()
		resp.Body.Close()
		cancel(nil)
		return nil, err
	}
	if req.Kind == Zip && !deadline.Stop() {
		return fail(timeoutErr) // fired just as the headers arrived
	}
	if resp.StatusCode != http.StatusOK {
		return fail(&StatusError{Source: e.source, URL: shownURL, Code: resp.StatusCode, Body: errorDetail(resp)})
	}
	limit := req.Kind.maxSize()
	if resp.ContentLength > limit {
		return fail(sizeError(shownURL, req.Kind, resp.ContentLength))
	}
	b := &body{
		rc:       resp.Body,
		limit:    limit,
		kind:     req.Kind,
		where:    shownURL,
		ctx:      reqCtx,
		cancel:   cancel,
		deadline: deadline,
		stall:    newStallWatch(shownURL, r.idleTimeout, r.minRate, cancel),
	}
	lm, _ := http.ParseTime(resp.Header.Get("Last-Modified")) // zero when absent or malformed
	return &Response{Body: b, Size: resp.ContentLength, Source: e.source, LastModified: lm.UTC()}, nil
}

// sizeError says that a body is larger than its kind's cap.
func sizeError(where string, k Kind, size int64) error {
	if size >= 0 {
		return fmt.Errorf("reading %s: response of %d bytes exceeds the %d-byte limit for %s responses", where, size, k.maxSize(), k)
	}
	return fmt.Errorf("reading %s: response exceeds the %d-byte limit for %s responses", where, k.maxSize(), k)
}

// body wraps a response body (HTTP, file or direct). It returns an error,
// never a silent EOF, past the kind's size cap, and it turns reads that fail
// because a timer cancelled the request into ErrTimeout errors. Errors are
// sticky. Reads must not run concurrently; Close may be called while a Read
// waits, which makes that Read fail.
type body struct {
	rc    io.ReadCloser
	n     int64 // bytes returned so far
	limit int64
	kind  Kind
	where string // for errors, without userinfo
	err   error  // sticky

	// HTTP only; nil for files.
	ctx      context.Context
	cancel   context.CancelCauseFunc
	deadline *time.Timer // whole-request timer, already stopped for Zip
	stall    *stallWatch // idle timeout and minimum rate
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read at most one byte past the cap, to tell "exactly at the cap" from
	// "over it".
	if room := b.limit - b.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	if b.stall != nil {
		b.stall.before()
	}
	n, err := b.rc.Read(p)
	if b.stall != nil {
		if serr := b.stall.after(n); serr != nil && err == nil {
			b.cancel(serr)
			err = serr
		}
	}
	b.n += int64(n)
	switch {
	case b.n > b.limit:
		n -= int(b.n - b.limit)
		b.n = b.limit
		err = sizeError(b.where, b.kind, -1)
	case err == io.EOF:
		if b.deadline != nil {
			b.deadline.Stop()
		}
	case err != nil:
		if b.ctx != nil {
			if cause := context.Cause(b.ctx); errors.Is(cause, ErrTimeout) {
				err = cause
				break
			}
		}
		err = fmt.Errorf("reading %s: %w", b.where, err)
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *body) Close() error {
	if b.deadline != nil {
		b.deadline.Stop()
	}
	if b.stall != nil {
		b.stall.stop()
	}
	err := b.rc.Close()
	if b.cancel != nil {
		b.cancel(errBodyClosed)
	}
	return err
}

// errBodyClosed is the cancellation cause once a body is closed.
var errBodyClosed = errors.New("upstream: body closed")
