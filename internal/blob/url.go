package blob

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options configure the store [OpenURL] opens.
type Options struct {
	// Spool is the local directory where a bucket's blobs are written and
	// checked before they are uploaded (unused by a directory).
	Spool string
	// VerifyTTL: see [Dir.SetVerifyTTL] and [S3Options.VerifyTTL].
	VerifyTTL time.Duration
	// Redirect: see [S3Options.Redirect]; refused for a directory.
	Redirect bool
}

// OpenURL opens the blob store at raw:
//
//	file:///dir                  a local (or network file system) directory
//	s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true
//
// Credentials never go in the URL (the AWS SDK's chain provides them), so a
// URL with a user, a password or an unknown parameter is refused, with an
// error that does not repeat it.
func OpenURL(ctx context.Context, raw string, o Options) (Store, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL (file:///dir or s3://bucket/prefix?endpoint=...)")
	}
	if u.User != nil {
		return nil, errors.New("the URL holds credentials: remove them and give them the AWS way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)")
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file URL with host %q: use file:///absolute/dir", u.Host)
		}
		if u.RawQuery != "" {
			return nil, errors.New("a file URL takes no parameters")
		}
		if o.Redirect {
			return nil, errors.New("redirects need an object store (s3://...), not a directory")
		}
		if u.Path == "" {
			return nil, errors.New("file URL without a directory: use file:///absolute/dir")
		}
		d, err := Open(filepath.FromSlash(u.Path))
		if err != nil {
			return nil, err
		}
		d.SetVerifyTTL(o.VerifyTTL)
		return d, nil
	case "s3":
		so, err := parseS3(u)
		if err != nil {
			return nil, err
		}
		so.Spool, so.VerifyTTL, so.Redirect = o.Spool, o.VerifyTTL, o.Redirect
		return NewS3(ctx, so)
	}
	return nil, fmt.Errorf("unknown scheme %q: use file:///dir or s3://bucket/prefix", u.Scheme)
}

func parseS3(u *url.URL) (S3Options, error) {
	var o S3Options
	if u.Host == "" {
		return o, errors.New("s3 URL without a bucket: s3://BUCKET[/PREFIX]")
	}
	o.Bucket = u.Host
	o.Prefix = strings.Trim(u.Path, "/")
	if strings.Contains(o.Prefix, "//") {
		return o, errors.New("s3 URL: empty element in the prefix")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return o, errors.New("s3 URL: its parameters do not parse")
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return o, fmt.Errorf("s3 URL: parameter %q given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return o, errors.New("s3 URL: endpoint must be an http:// or https:// URL")
			}
			if e.User != nil {
				return o, errors.New("s3 URL: the endpoint holds credentials: remove them and give them the AWS way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)")
			}
			if e.RawQuery != "" || e.Fragment != "" {
				return o, errors.New("s3 URL: the endpoint takes no query")
			}
			o.Endpoint = v
		case "region":
			o.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, errors.New("s3 URL: path_style must be true or false")
			}
			o.PathStyle = b
		default:
			// The name only: the value may be a secret put there by mistake.
			return o, fmt.Errorf("s3 URL: unknown parameter %q (known: endpoint, region, path_style; credentials come from the AWS environment, never the URL)", name)
		}
	}
	return o, nil
}
