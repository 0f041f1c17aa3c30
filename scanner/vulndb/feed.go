package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// maxFeedZip bounds the zip of a feed (osv.dev's Go/all.zip is a few tens of MB).
const maxFeedZip = 1 << 30

// Feed reads OSV records from a source other than the Go vulnerability
// database's layout: a directory tree of OSV JSON files in any layout
// (file:///dir, e.g. the OpenSSF malicious-packages repository's
// osv/malicious/go/**/MAL-*.json), or a zip of OSV JSON files at an https://,
// http:// or file:// URL (osv.dev's per-ecosystem export, Go/all.zip). It is
// safe for concurrent use.
type Feed struct {
	url    string // as given, without credentials (see redactURL)
	u      *url.URL
	dir    string // file:// directory
	zipped string // file:// zip
	hc     *http.Client
}

// NewFeed returns a feed reading rawURL. A file:// URL names a directory, or a
// file whose name ends in .zip; an http(s) URL a zip. hc is used for http(s);
// nil means http.DefaultClient. It does no I/O.
func NewFeed(rawURL string, hc *http.Client) (*Feed, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("advisories: %q: %w", rawURL, err)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	f := &Feed{url: redactURL(u), u: u, hc: hc}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("advisories: %q: no host", f.url)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("advisories: %q: a file URL must name a local absolute path (file:///path)", f.url)
		}
		p := filepath.FromSlash(u.Path)
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("advisories: %q: a file URL must name an absolute path", f.url)
		}
		if strings.HasSuffix(strings.ToLower(p), ".zip") {
			f.zipped = p
		} else {
			f.dir = p
		}
	default:
		return nil, fmt.Errorf("advisories: %q: want file:///dir, or an https:// or file:// URL of a zip", f.url)
	}
	return f, nil
}

// URL returns the feed's URL without credentials: no password and no query
// value (see redactURL). It is what logs, metrics, the feed's state and the
// refusals of missing data show.
func (f *Feed) URL() string { return f.url }

// redactURL is u as url.URL.Redacted shows it (the password "xxxxx"), with
// every query value "xxxxx" too: a token in ?token= is a credential.
func redactURL(u *url.URL) string {
	r := *u
	if r.RawQuery != "" {
		q := r.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		r.RawQuery = q.Encode()
	}
	return r.Redacted()
}

// scrubbedError is an error whose text no longer holds the feed's
// credentials (a client error quotes the URL it asked, query included).
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub removes the feed's password and query values from err's text.
func (f *Feed) scrub(err error) error {
	msg := err.Error()
	if pw, ok := f.u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	if f.u.RawQuery != "" {
		r, _ := url.Parse(f.url)
		msg = strings.ReplaceAll(msg, f.u.RawQuery, r.RawQuery)
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

// Record is one OSV record of a feed, as read and as decoded.
type Record struct {
	Entry *Entry
	JSON  []byte
	Name  string // the file it was read from, for messages
}

// Read is the feed's one method: every record of the feed that names a Go
// module, sorted by id. A file that does not decode as an OSV record, or whose
// id is not an advisory id, is not returned but named in refused (the sync
// goes on without it); a record without any Go affected block, or without an
// id (files kept only as origins of merged records), is skipped. Two files
// with one id: the one modified last wins. An error means the feed could not
// be read as a whole (unreachable, not a zip, an I/O error).
func (f *Feed) Read(ctx context.Context) (recs []Record, refused []string, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("advisories %s: %w", f.url, f.scrub(err))
		}
	}()
	by := map[string]Record{}
	add := func(name string, data []byte) {
		r, err := decodeRecord(data)
		switch {
		case errors.Is(err, errSkip):
			return
		case err != nil:
			refused = append(refused, name+": "+err.Error())
			return
		}
		r.Name = name
		if old, ok := by[r.Entry.ID]; ok && old.Entry.Modified.After(r.Entry.Modified) {
			return
		}
		by[r.Entry.ID] = r
	}
	switch {
	case f.dir != "":
		err = filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") || !d.Type().IsRegular() {
				return nil
			}
			data, err := readFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(f.dir, p)
			add(filepath.ToSlash(rel), data)
			return nil
		})
	case f.zipped != "":
		err = readZip(f.zipped, add)
	default:
		err = f.readRemoteZip(ctx, add)
	}
	if err != nil {
		return nil, nil, err
	}
	for _, r := range by {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Entry.ID < recs[j].Entry.ID })
	sort.Strings(refused)
	return recs, refused, nil
}

func (f *Feed) readRemoteZip(ctx context.Context, add func(string, []byte)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP status %s", resp.Status)
	}
	tmp, err := os.CreateTemp("", "modgate-advisories-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, io.LimitReader(resp.Body, maxFeedZip+1))
	if err != nil {
		return err
	}
	if n > maxFeedZip {
		return fmt.Errorf("%w: zip larger than %d bytes", ErrCorrupt, maxFeedZip)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return readZip(tmp.Name(), add)
}

func readZip(name string, add func(string, []byte)) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() || !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		if zf.UncompressedSize64 > maxFile {
			add(zf.Name, nil) // refused below as not decoding
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, zf.Name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxFile+1))
		rc.Close()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, zf.Name, err)
		}
		add(zf.Name, data)
	}
	return nil
}

var errSkip = errors.New("skipped")

// feedID is what a feed's record id may be: used in URLs, file names and
// messages ("MAL-2025-2545", "GHSA-9gmm-c6g7-rqg9", "GO-2025-3451").
var feedID = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,15}-[0-9A-Za-z][0-9A-Za-z._-]{0,95}$`)

// ValidFeedID reports whether id may be a feed record's id.
func ValidFeedID(id string) bool { return feedID.MatchString(id) }

func decodeRecord(data []byte) (Record, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		return Record{}, err
	}
	if dec.More() {
		return Record{}, errors.New("trailing data after the record")
	}
	if e.ID == "" {
		return Record{}, errSkip
	}
	if !ValidFeedID(e.ID) {
		return Record{}, fmt.Errorf("refused id %q", e.ID)
	}
	if e.Modified.IsZero() {
		return Record{}, fmt.Errorf("%s: no modified time", e.ID)
	}
	goBlocks := 0
	for _, a := range e.Affected {
		if a.Package.Ecosystem != "Go" {
			continue
		}
		if a.Package.Name == "" {
			return Record{}, fmt.Errorf("%s: affected block without a module path", e.ID)
		}
		goBlocks++
	}
	if goBlocks == 0 {
		return Record{}, errSkip
	}
	// Keep only the Go blocks: the rest never match and must not be indexed.
	var keep []Affected
	for _, a := range e.Affected {
		if a.Package.Ecosystem == "Go" {
			keep = append(keep, a)
		}
	}
	e.Affected = keep
	return Record{Entry: &e, JSON: data}, nil
}
