package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/modgate/modgate/proxy/upstream"
)

// maxRemoteBody caps what is read of one checksum-database answer: a full
// data tile is 256 records, far below this.
const maxRemoteBody = 1 << 20

// How long the answer of a proxy's /sumdb/<name>/supported is trusted before
// it is asked again; how long a proxy followed by '|' that failed is left
// alone; how long a /supported probe may take (short, so that a request
// behind a hanging proxy still has time for the next one).
const (
	supportTTL   = 10 * time.Minute
	failTTL      = 30 * time.Second
	probeTimeout = 10 * time.Second
)

// RemoteOptions configure a [Remote].
type RemoteOptions struct {
	// SumDB is the database; with a URL, only that URL is used (as the go
	// command does with "GOSUMDB=name+hash+key URL").
	SumDB SumDB
	// Proxies is the upstream list, in order (upstream.Router.PublicEntries).
	Proxies []upstream.Entry
	// Client makes the requests; nil means a client with a 30s timeout.
	Client *http.Client
	// Logger receives logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Remote reads a checksum database's files (/latest, /lookup/..., /tile/...)
// where the go command reads them (cmd/go/internal/modfetch/sumdb.go,
// dbClient.initBase; https://go.dev/design/25530-sumdb#proxying-a-checksum-database):
//
//   - with a URL in the GOSUMDB setting, from that URL only;
//   - else through the first proxy of the upstream list whose
//     <proxy>/sumdb/<name>/supported answers 200. A proxy that answers 404 or
//     410 there is skipped; after any other answer the next proxy is tried
//     only when the proxy is followed by '|', else the database is
//     unavailable (the go command's rules for GOPROXY);
//   - else, when no proxy serves it, or the list reaches "direct" or "off",
//     from the database itself at https://<name>.
//
// Unlike the go command, which decides once per run, a Remote lives as long as
// the server: a proxy's "supported" answer is trusted for supportTTL; a proxy
// that served the database and then fails is left alone for failTTL, and the
// request that saw it fail goes on to the next proxy when '|' allows. The
// answers are verified by the sumdb client against the database's key
// whichever way they came, so switching proxies cannot change what is trusted.
//
// A Remote is safe for concurrent use.
type Remote struct {
	name   string
	hops   []*hop // the proxies to try in order; empty with an explicit URL
	direct *hop   // the database itself (or the explicit URL)
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	probes singleflight.Group
}

// hop is one way to the database.
type hop struct {
	base   string // http(s): base URL of the database's files, userinfo kept (never shown)
	dir    string // file:// proxies: the directory holding the database's files
	source string // for messages and logs: no userinfo
	key    string // its place in the list, for probes in flight
	orNext bool   // '|' follows: try the next proxy after any error
	end    bool   // "direct" or "off": the database itself comes next

	mu      sync.Mutex
	state   support
	until   time.Time // when state must be checked again
	lastErr error     // why state is failing
}

type support int

const (
	unknown support = iota
	supported
	unsupported
	failing
)

// NewRemote validates opts and returns a Remote. It does no I/O.
func NewRemote(opts RemoteOptions) (*Remote, error) {
	db := opts.SumDB
	if db.Off || db.Name == "" {
		return nil, errors.New("verify: a Remote needs a checksum database")
	}
	// As cmd/go's dbDial: no funny business in the database name.
	u, err := url.Parse("https://" + db.Name)
	if err != nil || strings.HasSuffix(db.Name, "/") || u.Host == "" || u.RawPath != "" ||
		*u != (url.URL{Scheme: "https", Host: u.Host, Path: u.Path}) {
		return nil, fmt.Errorf("invalid checksum database name %q (must be host[/path])", db.Name)
	}
	r := &Remote{name: db.Name, log: opts.Logger, now: opts.Now}
	c := http.Client{Timeout: 30 * time.Second}
	if opts.Client != nil {
		c = *opts.Client
	}
	if c.CheckRedirect == nil {
		c.CheckRedirect = sameHostRedirect
	}
	r.client = &c
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if db.URL != "" {
		eu, err := url.Parse(db.URL)
		if err != nil {
			return nil, fmt.Errorf("checksum database URL: %v", err)
		}
		eu.User = nil
		r.direct = &hop{base: strings.TrimSuffix(db.URL, "/"), source: eu.String()}
		return r, nil
	}
	r.direct = &hop{base: "https://" + db.Name, source: "https://" + db.Name}
	for _, e := range opts.Proxies {
		h := &hop{source: e.Redacted(), key: strconv.Itoa(len(r.hops)), orNext: e.FallbackOnAnyError, end: e.Direct || e.Off}
		if !h.end {
			pu, err := url.Parse(e.URL)
			if err != nil {
				return nil, fmt.Errorf("upstream %s: %v", e.Redacted(), err)
			}
			if pu.Scheme == "file" {
				h.dir = filepath.Join(filepath.FromSlash(pu.Path), "sumdb", filepath.FromSlash(db.Name))
			} else {
				h.base = strings.TrimSuffix(e.URL, "/") + "/sumdb/" + db.Name
			}
		}
		r.hops = append(r.hops, h)
		if h.end {
			break
		}
	}
	return r, nil
}

// Name returns the database's name.
func (r *Remote) Name() string { return r.name }

// Get returns the database's file at path ("/latest", "/lookup/<module>@<version>",
// "/tile/..."), read where the go command would read it. An error satisfies
// errors.Is(err, fs.ErrNotExist) when the database, directly or through the
// proxy serving it, answered 404 or 410. Errors never contain credentials or
// upstream response bodies.
func (r *Remote) Get(ctx context.Context, path string) ([]byte, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("checksum database path %q: must start with /", path)
	}
	var skipped error // the last failure of a proxy that '|' let us walk around
	for _, h := range r.hops {
		if h.end {
			break
		}
		ok, err := r.supports(ctx, h)
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, err
			}
			if h.orNext {
				skipped = err
				continue
			}
			return nil, r.unavailable(err)
		}
		if !ok {
			continue
		}
		data, err := r.read(ctx, h, path)
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(ctx.Err(), context.Canceled) {
			return data, err
		}
		// After ',' there is nowhere else to go, and the next request asks
		// this proxy again, as a new go command would; after '|' the
		// requests go to the next proxy for a while.
		if h.orNext {
			h.fail(err, r.now())
		}
		if !h.orNext || ctx.Err() != nil {
			return nil, r.unavailable(err)
		}
		r.log.Warn("checksum database: a proxy serving it failed; trying the next upstream", "db", r.name, "proxy", h.source, "err", err.Error())
		skipped = err
	}
	data, err := r.read(ctx, r.direct, path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if skipped != nil {
			err = fmt.Errorf("%w (before that: %v)", err, skipped)
		}
		return nil, r.unavailable(err)
	}
	return data, err
}

func (r *Remote) unavailable(err error) error {
	return fmt.Errorf("checksum database %s: %w", r.name, err)
}

// supports reports whether h serves the database, asking its
// /sumdb/<name>/supported when the last answer is too old. An error means h
// could not say (down, 5xx): h then counts as failing for failTTL.
func (r *Remote) supports(ctx context.Context, h *hop) (bool, error) {
	now := r.now()
	h.mu.Lock()
	state, until, lastErr := h.state, h.until, h.lastErr
	h.mu.Unlock()
	if state != unknown && now.Before(until) {
		if state == failing {
			return false, lastErr
		}
		return state == supported, nil
	}
	ch := r.probes.DoChan(h.key, func() (any, error) {
		// The probe outlives a cancelled caller: others may be waiting for it.
		pctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		_, err := r.read(pctx, h, "/supported")
		now := r.now()
		switch {
		case err == nil:
			if h.set(supported, now.Add(supportTTL), nil) != supported {
				r.log.Info("checksum database: reached through an upstream proxy that serves it", "db", r.name, "proxy", h.source)
			}
			return true, nil
		case errors.Is(err, fs.ErrNotExist):
			if h.set(unsupported, now.Add(supportTTL), nil) != unsupported {
				r.log.Info("checksum database: an upstream proxy does not serve it (404/410 on supported): not asked for it", "db", r.name, "proxy", h.source)
			}
			return false, nil
		}
		if h.orNext {
			h.set(failing, now.Add(failTTL), err) // the requests meanwhile go to the next proxy
		} else {
			h.set(unknown, now, nil) // nowhere else to go: the next request asks again
		}
		r.log.Warn("checksum database: cannot tell whether a proxy serves it", "db", r.name, "proxy", h.source, "err", err.Error())
		return false, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return false, res.Err
		}
		return res.Val.(bool), nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// set records what is known of h and returns what was known before.
func (h *hop) set(s support, until time.Time, err error) support {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.state
	h.state, h.until, h.lastErr = s, until, err
	return old
}

// fail marks a proxy that served the database as failing for failTTL.
func (h *hop) fail(err error, now time.Time) { h.set(failing, now.Add(failTTL), err) }

// read reads one file from h.
func (r *Remote) read(ctx context.Context, h *hop, path string) ([]byte, error) {
	if h.dir != "" {
		return readFileHop(h, path)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s%s: invalid request", h.source, path)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.source, scrubURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, &notFoundError{fmt.Sprintf("%s%s: %s", redactedBase(h), path, resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s%s: %s", redactedBase(h), path, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRemoteBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", redactedBase(h), path, scrubURLError(err))
	}
	if len(data) > maxRemoteBody {
		return nil, fmt.Errorf("%s%s: answer larger than %d bytes", redactedBase(h), path, maxRemoteBody)
	}
	return data, nil
}

// sameHostRedirect follows a redirect only to the host (and scheme) the
// request was sent to, so an upstream cannot send modgate to another address
// (an internal service) and have its answer relayed to clients.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if first := via[0].URL; req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("redirect to another host (%s) refused", req.URL.Host)
	}
	return nil
}

// readFileHop reads path below a file:// proxy's sumdb/<name> directory,
// never outside it.
func readFileHop(h *hop, path string) ([]byte, error) {
	root, err := os.OpenRoot(h.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &notFoundError{h.source + ": no sumdb directory"}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.source, err)
	}
	defer root.Close()
	f, err := root.Open(strings.TrimPrefix(path, "/"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &notFoundError{h.source + ": " + path + ": no such file"}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.source, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRemoteBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.source, path, err)
	}
	if len(data) > maxRemoteBody {
		return nil, fmt.Errorf("%s: %s: larger than %d bytes", h.source, path, maxRemoteBody)
	}
	return data, nil
}

// redactedBase is h's base URL for messages (no userinfo).
func redactedBase(h *hop) string {
	u, err := url.Parse(h.base)
	if err != nil {
		return h.source
	}
	u.User = nil
	return u.String()
}

// scrubURLError drops the URL (which may hold credentials) from a
// *url.Error; the caller names the hop instead.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// notFoundError is a 404 or 410 from the database (or a missing file).
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == fs.ErrNotExist }
