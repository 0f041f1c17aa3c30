package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"

	"github.com/modgate/modgate/internal/blob"
)

// registerBlobStore defines the blob store's settings.
func (c *config) registerBlobStore(fs *flag.FlagSet) {
	fs.StringVar(&c.BlobStore, "blob-store", "", "where zip blobs live: file:///dir or s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true (credentials the AWS way, never in the URL); empty: file://<--data>/blobs")
	fs.BoolVar(&c.BlobRedirect, "blob-redirect", false, "with an s3:// --blob-store, answer a zip verified whole within --blob-verify-ttl (and unchanged since) with a 302 to a presigned URL valid 5 minutes, so the bytes bypass modgate")
}

// validateBlobStore checks the blob store's settings without opening it.
func (c *config) validateBlobStore() []error {
	if c.BlobStore == "" {
		if c.BlobRedirect {
			return []error{errors.New("--blob-redirect needs an s3:// --blob-store")}
		}
		return nil
	}
	u, err := url.Parse(c.BlobStore)
	switch {
	case err != nil:
		return []error{errors.New("--blob-store: not a URL (file:///dir or s3://bucket/prefix?endpoint=...)")}
	case u.User != nil:
		return []error{errors.New("--blob-store: the URL holds credentials: remove them and give them the AWS way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)")}
	case u.Scheme != "file" && u.Scheme != "s3":
		return []error{fmt.Errorf("--blob-store: unknown scheme %q: want file:///dir or s3://bucket/prefix", u.Scheme)}
	case c.BlobRedirect && u.Scheme != "s3":
		return []error{errors.New("--blob-redirect needs an s3:// --blob-store")}
	}
	return nil
}

// blobStoreURL is the blob store's URL: --blob-store, else --data/blobs.
func (c *config) blobStoreURL() string {
	if c.BlobStore != "" {
		return c.BlobStore
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(c.Data, "blobs"))}).String()
}

// openBlobs opens the blob store of cfg; a bucket spools in --data/spool.
func openBlobs(ctx context.Context, cfg config, redirect bool) (blob.Store, error) {
	return openBlobURL(ctx, cfg, "--blob-store", cfg.blobStoreURL(), redirect)
}

// openBlobURL opens the blob store at raw, the value of setting name.
func openBlobURL(ctx context.Context, cfg config, name, raw string, redirect bool) (blob.Store, error) {
	s, err := blob.OpenURL(ctx, raw, blob.Options{Spool: filepath.Join(cfg.Data, "spool"), VerifyTTL: cfg.BlobVerifyTTL, Redirect: redirect})
	if err != nil {
		return nil, &usageError{msg: name + ": " + err.Error()}
	}
	return s, nil
}

const blobsUsage = `usage: modgate blobs migrate --from URL --to URL

Copies every blob of one store to another (file:///dir or s3://BUCKET[/PREFIX]?...),
verifying each against its key: what is already there is verified and kept; a blob
that fails its check is reported and not copied (exit 1). Run it again at will.`

type blobsFlags struct{ from, to string }

func registerBlobsFlags(fs *flag.FlagSet) *blobsFlags {
	f := &blobsFlags{}
	fs.StringVar(&f.from, "from", "", "blob store `URL` to copy from (blobs migrate)")
	fs.StringVar(&f.to, "to", "", "blob store `URL` to copy to (blobs migrate)")
	return f
}

// runBlobs runs `modgate blobs migrate`.
func runBlobs(ctx context.Context, e *env) error {
	f, _ := e.own.(*blobsFlags)
	if f == nil || len(e.args) != 1 || e.args[0] != "migrate" || f.from == "" || f.to == "" {
		return &usageError{msg: blobsUsage}
	}
	from, err := openBlobURL(ctx, e.cfg, "--from", f.from, false)
	if err != nil {
		return err
	}
	to, err := openBlobURL(ctx, e.cfg, "--to", f.to, false)
	if err != nil {
		return err
	}
	if from.String() == to.String() {
		return &usageError{msg: "blobs migrate: --from and --to are the same store"}
	}
	r, err := migrateBlobs(ctx, from, to, e.stdout)
	fmt.Fprintf(e.stdout, "%s -> %s: %d copied, %d already there (verified), %d bad\n", from, to, r.copied, r.kept, r.bad)
	if err != nil {
		return err
	}
	if r.bad > 0 {
		return &exitError{code: 1}
	}
	return nil
}

type migration struct{ copied, kept, bad int }

// migrateBlobs copies every blob of from that to lacks (or holds bad bytes
// of), through the verifying reader, so nothing unverified is copied.
func migrateBlobs(ctx context.Context, from, to blob.Store, out io.Writer) (migration, error) {
	var r migration
	err := from.Each(ctx, func(key string, size int64) error {
		// Already there: verified, and kept only if intact.
		err := blob.Verify(ctx, to, key, size)
		var ie *blob.IntegrityError
		switch {
		case err == nil:
			r.kept++
			return nil
		case errors.As(err, &ie):
			b, oerr := to.OpenBlob(ctx, key, size)
			if b != nil {
				where, qerr := b.Quarantine()
				b.Close()
				if qerr != nil {
					return fmt.Errorf("blob %s: the copy in %s is bad and cannot be quarantined: %w", key, to, qerr)
				}
				fmt.Fprintf(out, "BAD copy in the destination, quarantined as %s: %v\n", where, err)
			} else if oerr != nil && !errors.Is(oerr, fs.ErrNotExist) {
				return oerr
			}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := copyBlob(ctx, from, to, key, size); err != nil {
			if errors.As(err, &ie) {
				r.bad++
				fmt.Fprintf(out, "BAD %v: not copied\n", err)
				return nil
			}
			return err
		}
		r.copied++
		return nil
	})
	return r, err
}

func copyBlob(ctx context.Context, from, to blob.Store, key string, size int64) error {
	b, err := from.OpenBlob(ctx, key, size)
	if b != nil {
		defer b.Close()
	}
	if err != nil {
		return err
	}
	if err := b.Verify(); err != nil { // the whole blob, before any byte is written
		return err
	}
	w, err := to.Create()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, b.Content()); err != nil {
		w.Abort()
		return err
	}
	got, _, err := w.Commit()
	if err != nil {
		return err
	}
	if got != key {
		return fmt.Errorf("blob %s: copied as %s", key, got)
	}
	return nil
}
