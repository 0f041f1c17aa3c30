package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/modgate/modgate/internal/testkit"
)

// storeKit is a store under test and what a test needs to change it behind
// its back.
type storeKit struct {
	Store
	// tamper replaces the stored bytes of key with data, as an attacker or a
	// broken disk would (not through the store's API).
	tamper func(t *testing.T, key string, data []byte)
}

// newS3Kit starts a real S3 server and returns a store on it.
func newS3Kit(t *testing.T, o S3Options) (storeKit, *testkit.S3Server) {
	srv := testkit.S3(t)
	srv.SetEnv(t)
	o.Bucket, o.Endpoint, o.Region, o.PathStyle = srv.Bucket, srv.Endpoint, srv.Region, true
	if o.Spool == "" {
		o.Spool = t.TempDir()
	}
	s, err := NewS3(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return storeKit{Store: s, tamper: func(t *testing.T, key string, data []byte) {
		t.Helper()
		// An overwrite through the S3 API (a new ETag), as a writer with
		// the bucket's credentials could do.
		_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.opts.Bucket),
			Key: aws.String(s.objectKey(key)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
		if err != nil {
			t.Fatalf("tampering with the object: %v", err)
		}
	}}, srv
}

func newDirKit(t *testing.T) storeKit {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return storeKit{Store: d, tamper: func(t *testing.T, key string, data []byte) {
		t.Helper()
		if err := os.WriteFile(d.path(key), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}}
}

// TestStoreConformance runs the one blob-store contract on both stores.
func TestStoreConformance(t *testing.T) {
	kits := []struct {
		name string
		open func(t *testing.T) storeKit
	}{
		{"file", newDirKit},
		{"s3", func(t *testing.T) storeKit {
			k, _ := newS3Kit(t, S3Options{Prefix: "blobs", VerifyTTL: time.Minute})
			return k
		}},
	}
	for _, kit := range kits {
		t.Run(kit.name, func(t *testing.T) { runConformance(t, kit.open) })
	}
}

// assertNoTempFiles checks that no temporary file of a blob is left in the
// store's local temporary directory (the spool's, for a bucket).
func assertNoTempFiles(t *testing.T, s Store) {
	t.Helper()
	switch s := s.(type) {
	case *Dir:
		assertNoTemp(t, s)
	case *S3:
		// Spool files kept for Local after an upload are not left over.
		kept := map[string]bool{}
		s.recent.mu.Lock()
		for _, f := range s.recent.m {
			kept[filepath.Base(f.path)] = true
		}
		s.recent.mu.Unlock()
		ents, err := os.ReadDir(filepath.Join(s.spool.root, "tmp"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), lockPrefix) && !kept[e.Name()] {
				t.Errorf("temp file left: %s", e.Name())
			}
		}
	case storeKit:
		assertNoTempFiles(t, s.Store)
	default:
		t.Fatalf("unknown store %T", s)
	}
}

func put(t *testing.T, s Store, data []byte) (string, int64) {
	t.Helper()
	w, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	key, size, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return key, size
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func runConformance(t *testing.T, open func(t *testing.T) storeKit) {
	ctx := context.Background()
	t.Run("put, serve, list, local", func(t *testing.T) {
		s := open(t)
		data := randomBytes(300<<10, 1)
		key, size := put(t, s, data)
		if key != keyOf(data) || size != int64(len(data)) {
			t.Fatalf("Commit = %s, %d; want %s, %d", key, size, keyOf(data), len(data))
		}
		b, err := s.OpenBlob(ctx, key, size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := serveLike(b.Content())
		b.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("served %d bytes, %v; want the %d bytes put", len(got), err, len(data))
		}
		var listed []string
		if err := s.Each(ctx, func(k string, n int64) error {
			if n != size {
				t.Errorf("Each: %s has %d bytes, want %d", k, n, size)
			}
			listed = append(listed, k)
			return nil
		}); err != nil || len(listed) != 1 || listed[0] != key {
			t.Errorf("Each = %v, %v; want [%s]", listed, err, key)
		}
		p, release, err := s.Local(ctx, key, size)
		if err != nil {
			t.Fatal(err)
		}
		if local, err := os.ReadFile(p); err != nil || !bytes.Equal(local, data) {
			t.Errorf("Local file: %d bytes, %v", len(local), err)
		}
		release()
		assertNoTempFiles(t, s)
		if err := Verify(ctx, s, key, size); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if err := s.Check(ctx); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
	t.Run("the same bytes twice keep one blob", func(t *testing.T) {
		s := open(t)
		data := randomBytes(10<<10, 2)
		key, size := put(t, s, data)
		// Concurrent writers of one key (two replicas ingesting the same
		// zip): every Commit succeeds, one blob stays, intact.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				w, err := s.Create()
				if err != nil {
					t.Error(err)
					return
				}
				w.Write(data)
				if k, _, err := w.Commit(); err != nil || k != key {
					t.Errorf("concurrent Commit = %s, %v", k, err)
				}
			})
		}
		wg.Wait()
		n := 0
		s.Each(ctx, func(string, int64) error { n++; return nil })
		if n != 1 {
			t.Errorf("%d blobs listed, want 1", n)
		}
		assertNoTempFiles(t, s)
		if err := Verify(ctx, s, key, size); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
	t.Run("abort leaves nothing", func(t *testing.T) {
		s := open(t)
		w, _ := s.Create()
		w.Write([]byte("partial"))
		key := w.Sum()
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenBlob(ctx, key, 7); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OpenBlob after Abort: %v, want not exist", err)
		}
		assertNoTempFiles(t, s)
	})
	t.Run("missing and invalid keys are not found", func(t *testing.T) {
		s := open(t)
		for _, key := range []string{keyOf([]byte("never stored")), "../../etc/passwd", "ABCDEF"} {
			if _, err := s.OpenBlob(ctx, key, 1); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("OpenBlob(%q) = %v, want not exist", key, err)
			}
		}
	})
	t.Run("changed bytes are never served whole, and are quarantined", func(t *testing.T) {
		s := open(t)
		data := randomBytes(200<<10, 3)
		key, size := put(t, s, data)
		if n, err := s.Quarantined(ctx); n != 0 || err != nil { // (a count remembered must not hide what follows)
			t.Fatalf("Quarantined = %d, %v; want 0", n, err)
		}
		bad := bytes.Clone(data)
		bad[len(bad)/2] ^= 1
		s.tamper(t, key, bad)
		b, err := s.OpenBlob(ctx, key, size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := serveLike(b.Content())
		var ie *IntegrityError
		if !errors.As(err, &ie) || !errors.As(b.Err(), &ie) || len(got) >= len(data) {
			t.Fatalf("serving changed bytes: %d of %d bytes, err %v; want a cut stream and an *IntegrityError", len(got), len(data), err)
		}
		if b.Redirect() != "" {
			t.Error("a blob that failed its check is redirected to")
		}
		name, err := b.Quarantine()
		b.Close()
		if err != nil || !strings.HasPrefix(name, "quarantine/"+key) {
			t.Fatalf("Quarantine = %q, %v", name, err)
		}
		if n, err := s.Quarantined(ctx); n != 1 || err != nil {
			t.Errorf("Quarantined = %d, %v; want 1", n, err)
		}
		if _, err := s.OpenBlob(ctx, key, size); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OpenBlob after quarantine: %v, want not exist (so it is fetched again)", err)
		}
		// Fetched again: the fresh copy is kept and served.
		put(t, s, data)
		if err := Verify(ctx, s, key, size); err != nil {
			t.Errorf("Verify of the fresh copy: %v", err)
		}
		if name, err := b.Quarantine(); name != "" || err != nil {
			t.Errorf("Quarantine of the old read after a fresh copy = %q, %v; want nothing moved", name, err)
		}
		if err := Verify(ctx, s, key, size); err != nil {
			t.Errorf("Verify of the fresh copy after a late quarantine: %v", err)
		}
		if name, err := s.QuarantineBytes(ctx, "mod", []byte("module evil\n")); err != nil || !strings.HasPrefix(name, "quarantine/mod-") {
			t.Errorf("QuarantineBytes = %q, %v", name, err)
		}
		if n, _ := s.Quarantined(ctx); n != 2 {
			t.Errorf("Quarantined = %d, want 2", n)
		}
	})
	t.Run("a size that differs is found before a byte is read", func(t *testing.T) {
		s := open(t)
		data := randomBytes(50<<10, 4)
		key, size := put(t, s, data)
		s.tamper(t, key, data[:len(data)-1])
		b, err := s.OpenBlob(ctx, key, size)
		var ie *IntegrityError
		if b == nil || !errors.As(err, &ie) {
			t.Fatalf("OpenBlob of a truncated blob = %v, %v; want the Blob and an *IntegrityError", b, err)
		}
		b.Close()
	})
	t.Run("a range is served from a blob verified whole", func(t *testing.T) {
		s := open(t)
		data := randomBytes(100<<10, 5)
		key, size := put(t, s, data)
		b, err := s.OpenBlob(ctx, key, size)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Verify(); err != nil {
			t.Fatal(err)
		}
		c := b.Content()
		if _, err := c.Seek(70000, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 1000)
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, data[70000:71000]) {
			t.Errorf("range read: %v, equal %v", err, bytes.Equal(got, data[70000:71000]))
		}
	})
	t.Run("local copy of changed bytes", func(t *testing.T) {
		s := open(t)
		if _, ok := s.Store.(*Dir); ok {
			t.Skip("a directory's Local is the blob's own file (not a copy)")
		}
		data := randomBytes(20<<10, 6)
		key, size := put(t, s, data)
		s.Store.(*S3).recent = recentFiles{} // another replica: no local copy of the upload
		bad := bytes.Clone(data)
		bad[0] ^= 1
		s.tamper(t, key, bad)
		_, _, err := s.Local(ctx, key, size)
		var ie *IntegrityError
		if !errors.As(err, &ie) {
			t.Errorf("Local of a changed object = %v; want an *IntegrityError", err)
		}
	})
}

// The server must honour the conditional create the store relies on: a
// second create of a key fails with 412 and leaves the first object.
func TestS3ConditionalCreate(t *testing.T) {
	k, _ := newS3Kit(t, S3Options{})
	s := k.Store.(*S3)
	ctx := context.Background()
	in := func(body string) *s3.PutObjectInput {
		return &s3.PutObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String("cond"), Body: strings.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), IfNoneMatch: aws.String("*")}
	}
	if _, err := s.client.PutObject(ctx, in("first")); err != nil {
		t.Fatal(err)
	}
	_, err := s.client.PutObject(ctx, in("second"))
	if status(err) != http.StatusPreconditionFailed {
		t.Fatalf("second conditional create = %v; want HTTP 412", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String("cond")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "first" {
		t.Errorf("object = %q after a refused second create; want \"first\"", got)
	}
}

// A blob committed where a corrupted object sits (a quarantine that failed)
// replaces it: the commit checks what is there instead of trusting it.
func TestS3CommitOverCorruptObject(t *testing.T) {
	k, _ := newS3Kit(t, S3Options{})
	ctx := context.Background()
	data := randomBytes(30<<10, 7)
	key, size := put(t, k, data)
	k.tamper(t, key, make([]byte, len(data)))
	if key2, _ := put(t, k, data); key2 != key {
		t.Fatal(key2)
	}
	if err := Verify(ctx, k, key, size); err != nil {
		t.Errorf("after committing over a corrupt object: %v", err)
	}
	if n, _ := k.Quarantined(ctx); n != 1 {
		t.Errorf("Quarantined = %d, want 1 (the corrupt object)", n)
	}
}

// While the S3 server is down, nothing is "not found": every call says the
// store is unavailable; when it is back, the same store works.
func TestS3Unreachable(t *testing.T) {
	k, srv := newS3Kit(t, S3Options{})
	ctx := context.Background()
	data := randomBytes(10<<10, 8)
	key, size := put(t, k, data)
	srv.Stop()
	var ue *UnavailableError
	_, err := k.OpenBlob(ctx, key, size)
	if !errors.As(err, &ue) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenBlob while down = %v; want an *UnavailableError, not \"not found\"", err)
	}
	if err := k.Check(ctx); !errors.As(err, &ue) {
		t.Errorf("Check while down = %v; want an *UnavailableError", err)
	}
	w, _ := k.Create()
	w.Write([]byte("new blob"))
	if _, _, err := w.Commit(); !errors.As(err, &ue) {
		t.Errorf("Commit while down = %v; want an *UnavailableError", err)
	}
	if err != nil && strings.Contains(err.Error(), srv.SecretKey) {
		t.Errorf("error %q shows the secret key", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, k, key, size); err != nil {
		t.Errorf("Verify once the server is back: %v", err)
	}
	if err := k.Check(ctx); err != nil {
		t.Errorf("Check once the server is back: %v", err)
	}
}

// A missing bucket and wrong credentials are the store's fault, never a
// missing blob.
func TestS3MisconfiguredIsUnavailable(t *testing.T) {
	k, srv := newS3Kit(t, S3Options{})
	ctx := context.Background()
	key := keyOf([]byte("anything"))
	nob, err := NewS3(ctx, S3Options{Bucket: "no-such-bucket", Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true, Spool: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var ue *UnavailableError
	if _, err := nob.OpenBlob(ctx, key, 8); !errors.As(err, &ue) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenBlob in a missing bucket = %v; want an *UnavailableError", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	bad, err := NewS3(ctx, S3Options{Bucket: srv.Bucket, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true, Spool: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.OpenBlob(ctx, key, 8)
	if !errors.As(err, &ue) || errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("OpenBlob with a wrong secret = %v; want an *UnavailableError without the secret", err)
	}
	_ = k
}

// With redirects on, only an object verified whole lately (and unchanged
// since) is redirected to, and the presigned URL serves it: one this replica
// uploaded (the store checked the upload's SHA-256), or one it read whole.
func TestS3Redirect(t *testing.T) {
	k, srv := newS3Kit(t, S3Options{Redirect: true, VerifyTTL: time.Hour})
	ctx := context.Background()
	data := randomBytes(40<<10, 9)
	key, size := put(t, k, data)
	// Another replica on the same bucket, which has verified nothing.
	other, err := NewS3(ctx, S3Options{Bucket: srv.Bucket, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		Spool: t.TempDir(), Redirect: true, VerifyTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	open := func(s Store) *Blob {
		t.Helper()
		b, err := s.OpenBlob(ctx, key, size)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	redirect := func(s Store) string {
		t.Helper()
		b := open(s)
		defer b.Close()
		return b.Redirect()
	}
	if redirect(k) == "" {
		t.Error("no redirect for the object this replica uploaded")
	}
	if u := redirect(other); u != "" {
		t.Errorf("redirect before any verification: %s", u)
	}
	if u := redirect(other); u != "" {
		t.Errorf("redirect after an open without reading: %s", u)
	}
	b := open(other)
	if _, err := serveLike(b.Content()); err != nil {
		t.Fatal(err)
	}
	b.Close()
	u := redirect(other)
	if u == "" {
		t.Fatal("no redirect for an object verified whole a moment ago")
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Errorf("GET of the presigned URL: %s, %d bytes", resp.Status, len(got))
	}
	// Changed in the bucket: a new ETag, so no redirect; served through the
	// verifying reader, which finds it.
	bad := bytes.Clone(data)
	bad[7] ^= 1
	k.tamper(t, key, bad)
	for _, s := range []Store{k, other} {
		if u := redirect(s); u != "" {
			t.Errorf("redirect to an object changed since it was verified: %s", u)
		}
	}
}

// The store checks an upload against the SHA-256 sent with it, so a body
// damaged on the way is refused (and an upload's ETag can be trusted as
// verified).
func TestS3UploadChecksumChecked(t *testing.T) {
	k, _ := newS3Kit(t, S3Options{})
	s := k.Store.(*S3)
	wrong := keyOf([]byte("other bytes"))
	raw, _ := hex.DecodeString(wrong)
	_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String("damaged"),
		Body: strings.NewReader("these bytes"), ContentLength: aws.Int64(11),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(raw))})
	if err == nil {
		t.Fatal("an upload whose body does not match its SHA-256 was accepted")
	}
	t.Logf("refused: %v", describe(err))
}

// Local hands out the spool file of a blob this process just uploaded (the
// readers of a new zip need no download), and removes it only once released
// and evicted.
func TestS3LocalKeepsUploads(t *testing.T) {
	k, _ := newS3Kit(t, S3Options{})
	s := k.Store.(*S3)
	ctx := context.Background()
	data := randomBytes(8<<10, 10)
	key, size := put(t, k, data)
	p, release, err := s.Local(ctx, key, size)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p) != filepath.Join(s.spool.root, "tmp") {
		t.Errorf("Local = %s, want the upload's spool file", p)
	}
	// Evicted by newer uploads while in use: kept until released.
	for i := range recentMax + 1 {
		put(t, k, randomBytes(1<<10, int64(100+i)))
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file in use was removed: %v", err)
	}
	release()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("evicted file after its release: %v, want removed", err)
	}
	assertNoTempFiles(t, k)
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name    string
		url     string
		o       Options
		want    string // the store's String, or
		wantErr string // a part of the error
	}{
		{name: "file", url: "file://" + dir, want: "file://" + dir},
		{name: "s3", url: "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9&region=eu-west-1&path_style=true",
			want: "s3://bucket/some/prefix?endpoint=http%3A%2F%2F127.0.0.1%3A9&path_style=true&region=eu-west-1"},
		{name: "s3 without prefix", url: "s3://bucket", want: "s3://bucket"},
		{name: "credentials in the URL", url: "s3://AKIA:topsecret@bucket/p", wantErr: "the URL holds credentials"},
		{name: "credentials in the endpoint", url: "s3://bucket?endpoint=http://AKIA:topsecret@127.0.0.1:9", wantErr: "the endpoint holds credentials"},
		{name: "credentials as a parameter", url: "s3://bucket?secret_key=topsecret", wantErr: `unknown parameter "secret_key"`},
		{name: "bad endpoint", url: "s3://bucket?endpoint=ftp://x", wantErr: "endpoint must be"},
		{name: "no bucket", url: "s3:///prefix", wantErr: "without a bucket"},
		{name: "unknown scheme", url: "gs://bucket", wantErr: "unknown scheme"},
		{name: "redirect needs a bucket", url: "file://" + dir, o: Options{Redirect: true}, wantErr: "redirects need an object store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Spool = t.TempDir()
			s, err := OpenURL(ctx, tt.url, tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("OpenURL = %v; want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "topsecret") {
					t.Errorf("error %q repeats the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
		})
	}
}
