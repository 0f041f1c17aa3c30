package vulndb

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Endpoints of the database layout, without the .json / .json.gz suffix.
const (
	DBEndpoint      = "index/db"
	ModulesEndpoint = "index/modules"
	VulnsEndpoint   = "index/vulns"
)

// EntryEndpoint returns the endpoint of the entry with the given id.
func EntryEndpoint(id string) string { return "ID/" + id }

var idPattern = regexp.MustCompile(`^[A-Z]+-[0-9]{4}-[0-9A-Za-z]+$`)

// ValidID reports whether id looks like a database id ("GO-2021-0113"): it is
// used in URLs and file names, so anything else is refused.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// maxFile bounds one file of the database (the modules index is about 0.5 MB).
const maxFile = 64 << 20

// File is one endpoint's content in both of the forms the layout serves.
type File struct {
	JSON []byte // the .json bytes
	Gzip []byte // the .json.gz bytes: as served over http(s), else gzip of JSON
}

// DBMeta is index/db.json.
type DBMeta struct {
	Modified time.Time `json:"modified"`
}

// ModuleMeta is one element of index/modules.json.
type ModuleMeta struct {
	Path  string       `json:"path"`
	Vulns []ModuleVuln `json:"vulns"`
}

// ModuleVuln is one row of a module in index/modules.json: one affected block
// of an entry (so an id may appear twice).
type ModuleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

// VulnMeta is one element of index/vulns.json.
type VulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// Client reads a database at a URL: https://, http:// or file:// (an absolute
// directory). It is safe for concurrent use.
type Client struct {
	url  string // as given, for messages
	base *url.URL
	dir  string // file:// only
	hc   *http.Client
}

// NewClient returns a client for the database at rawURL. hc is used for
// http(s); nil means http.DefaultClient. It does no I/O.
func NewClient(rawURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("vulndb: %q: %w", rawURL, err)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{url: u.Redacted(), base: u, hc: hc}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("vulndb: %q: no host", c.url)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("vulndb: %q: a file URL must name a local absolute directory (file:///path)", rawURL)
		}
		c.dir = filepath.FromSlash(u.Path)
		if !filepath.IsAbs(c.dir) {
			return nil, fmt.Errorf("vulndb: %q: a file URL must name an absolute directory", rawURL)
		}
	default:
		return nil, fmt.Errorf("vulndb: %q: want an https://, http:// or file:// URL", rawURL)
	}
	return c, nil
}

// URL returns the database URL without any password.
func (c *Client) URL() string { return c.url }

// Get returns one endpoint (e.g. [ModulesEndpoint] or [EntryEndpoint](id)). A
// missing endpoint is an error satisfying errors.Is(err, fs.ErrNotExist).
func (c *Client) Get(ctx context.Context, endpoint string) (_ File, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("vulndb %s: %s: %w", c.url, endpoint, err)
		}
	}()
	if c.dir != "" {
		data, err := readFile(filepath.Join(c.dir, filepath.FromSlash(endpoint)+".json"))
		if err != nil {
			return File{}, err
		}
		return File{JSON: data, Gzip: gzipBytes(data)}, nil
	}
	u := *c.base
	u.Path += "/" + endpoint + ".json.gz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return File{}, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return File{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return File{}, fs.ErrNotExist
	case resp.StatusCode != http.StatusOK:
		return File{}, fmt.Errorf("HTTP status %s", resp.Status)
	}
	gz, err := io.ReadAll(io.LimitReader(resp.Body, maxFile+1))
	if err != nil {
		return File{}, err
	}
	if len(gz) > maxFile {
		return File{}, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, maxFile)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return File{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxFile+1))
	if err != nil {
		return File{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(data) > maxFile {
		return File{}, fmt.Errorf("%w: larger than %d bytes uncompressed", ErrCorrupt, maxFile)
	}
	return File{JSON: data, Gzip: gz}, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fs.ErrNotExist
		}
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, maxFile)
	}
	return data, nil
}

func gzipBytes(data []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// ErrNotExist is returned (wrapped) for a missing endpoint; it is fs.ErrNotExist.
var ErrNotExist = fs.ErrNotExist

// ErrCorrupt is returned (wrapped) when an endpoint's bytes are not what the
// layout promises: bad gzip data or an oversized file. A transport failure or
// an HTTP error status is not corrupt data.
var ErrCorrupt = errors.New("corrupt data")
