package blob

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3 is a blob store in a bucket of an S3-compatible object store (AWS S3,
// MinIO, SeaweedFS, Ceph, versitygw, R2, ...), shared by every replica.
//
// Layout below the prefix: <2 hex>/<key> for blobs and quarantine/ for blobs
// that failed their check on read (copied there, then deleted from under
// their key). Blobs are written to a local spool directory first (checked
// there), then uploaded with a conditional create (If-None-Match: *) and their
// SHA-256 as the upload's checksum, so the bucket never holds a partial or
// corrupted upload under a real key and a blob is never overwritten: a second
// writer of the same key finds it there and keeps it (after checking it). The
// spool file of an upload is kept a little while for [S3.Local].
//
// Reads go through the verifying [Reader], as for a directory: an object
// changed in the bucket is never served whole. All reads of one opened blob
// are pinned to the version first read (If-Match on its ETag), so a Range
// served after a whole-blob check comes from the version checked.
//
// Credentials are the AWS SDK's default chain (environment, shared config and
// profiles, web identity, instance and container roles), never part of the
// store's URL.
type S3 struct {
	opts     S3Options
	client   *s3.Client
	presign  *s3.PresignClient
	spool    *Dir
	verified verifiedMemo[string] // objects verified whole lately, by ETag
	recent   recentFiles          // spool files of blobs this process uploaded lately

	// The quarantine's count, from the last listing (see Quarantined).
	qmu sync.Mutex
	qn  int
	qat time.Time // zero: none, or invalidated by a quarantine
}

// quarantineCountTTL is how long a listing of the quarantine answers
// Quarantined, so that one readiness probe (Check, then Quarantined) lists
// the bucket once.
const quarantineCountTTL = 5 * time.Second

// S3Options configure an S3 store.
type S3Options struct {
	Bucket string // required
	// Prefix is prepended to every object key ("" none; a prefix that does
	// not end in "/" gets one).
	Prefix string
	// Endpoint is the S3 API's base URL (http or https); "" the AWS default
	// for the region.
	Endpoint string
	// Region signs the requests; "" the SDK's (AWS_REGION, the profile),
	// else us-east-1.
	Region string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET/ (most self-hosted
	// stores) instead of BUCKET.ENDPOINT.
	PathStyle bool
	// Spool is the local directory for blobs being written and checked
	// before they are uploaded (required).
	Spool string
	// VerifyTTL is how long an object verified whole may then be answered
	// with a redirect (zero: never).
	VerifyTTL time.Duration
	// Redirect answers a blob verified whole within VerifyTTL, whose ETag
	// is unchanged, with a presigned URL (see [Blob.Redirect]), valid for
	// RedirectExpiry (zero: 5 minutes).
	Redirect       bool
	RedirectExpiry time.Duration
	// UploadTimeout bounds one upload (zero: 10 minutes).
	UploadTimeout time.Duration
}

// NewS3 returns the S3 store that o describes. It reads the SDK's
// configuration (environment, shared files) but sends no request.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("blob store: s3: no bucket")
	}
	if o.Spool == "" {
		return nil, errors.New("blob store: s3: no spool directory")
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.RedirectExpiry <= 0 {
		o.RedirectExpiry = 5 * time.Minute
	}
	if o.UploadTimeout <= 0 {
		o.UploadTimeout = 10 * time.Minute
	}
	spool, err := Open(o.Spool)
	if err != nil {
		return nil, err
	}
	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 128 // one per concurrent serve, kept
			t.ResponseHeaderTimeout = time.Minute
		})
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			// No client-side retry quota: during an outage every request
			// says why it failed (not "retry quota exceeded").
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.RateLimiter = ratelimit.None
				so.MaxBackoff = time.Second
			})
		}),
	}
	if o.Region != "" {
		load = append(load, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("blob store: s3: AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// Integrity is the store's own (SHA-256 of every blob, sent with
		// each upload): no trailing CRC checksums, which several
		// S3-compatible servers do not accept.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	s := &S3{opts: o, client: client, presign: s3.NewPresignClient(client), spool: spool}
	s.verified.ttl = o.VerifyTTL
	return s, nil
}

// String is the store's URL (it holds no credentials).
func (s *S3) String() string {
	u := url.URL{Scheme: "s3", Host: s.opts.Bucket, Path: "/" + strings.TrimSuffix(s.opts.Prefix, "/")}
	if u.Path == "/" {
		u.Path = ""
	}
	q := url.Values{}
	if s.opts.Endpoint != "" {
		q.Set("endpoint", s.opts.Endpoint)
	}
	if s.opts.Region != "" {
		q.Set("region", s.opts.Region)
	}
	if s.opts.PathStyle {
		q.Set("path_style", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *S3) objectKey(key string) string { return s.opts.Prefix + key[:2] + "/" + key }

func (s *S3) quarantinePrefix() string { return s.opts.Prefix + quarantineDir + "/" }

// fail turns an SDK error into a not-found error (only for a missing object,
// never for a missing bucket) or an *UnavailableError.
func (s *S3) fail(op, key string, err error) error {
	if code(err) == "NoSuchKey" {
		return fmt.Errorf("blob %s: %w", key, fs.ErrNotExist)
	}
	return &UnavailableError{Store: s.String(), Op: op, Reason: describe(err), Err: err}
}

// code is the S3 error code of err ("" if it is no API error).
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// describe says briefly why a request failed, naming no endpoint and no
// credentials (for clients and logs).
func describe(err error) string {
	if c := code(err); c != "" {
		if st := status(err); st != 0 {
			return fmt.Sprintf("%s (HTTP %d)", c, st)
		}
		return c
	}
	if st := status(err); st != 0 {
		return "HTTP " + strconv.Itoa(st)
	}
	var oe *net.OpError
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dns):
		return "DNS lookup failed: " + dns.Err
	case errors.As(err, &oe):
		return oe.Op + ": " + oe.Err.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection cut (unexpected EOF)"
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

// Create starts a new blob in the local spool; Commit uploads it.
func (s *S3) Create() (*Writer, error) {
	w, err := s.spool.Create()
	if err != nil {
		return nil, err
	}
	w.commit = s.commit
	return w, nil
}

// commit uploads the complete temporary file under key, unless an intact
// object is there already. The temporary file is then kept a little while for
// Local (the readers of a new zip: facts, capabilities, clone index), else
// removed.
func (s *S3) commit(w *Writer, key string) (err error) {
	keep := false
	defer func() {
		if keep {
			s.recent.add(key, w.f.Name(), w.n)
		} else {
			os.Remove(w.f.Name())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.UploadTimeout)
	defer cancel()
	for range 2 {
		etag, err := s.put(ctx, w, key)
		if err == nil {
			// The store checked the body against its SHA-256 (the
			// upload's checksum): the object under this ETag is verified.
			if etag != "" {
				s.verified.put(key, etag, time.Now())
			}
			keep = true
			return nil
		}
		if c := code(err); c != "PreconditionFailed" && c != "ConditionalRequestConflict" && status(err) != http.StatusPreconditionFailed {
			return s.fail("put", key, err)
		}
		// There already: keep it if it is intact, else quarantine it and
		// upload again (the only case where a key is written twice).
		b, err := s.OpenBlob(ctx, key, w.n)
		if err == nil {
			_, err = io.Copy(io.Discard, b.r)
		}
		var ie *IntegrityError
		switch {
		case err == nil:
			b.Close()
			keep = true
			return nil
		case errors.As(err, &ie):
			b.Quarantine()
			b.Close()
		case errors.Is(err, fs.ErrNotExist): // removed meanwhile
		default:
			if b != nil {
				b.Close()
			}
			return err
		}
	}
	return &UnavailableError{Store: s.String(), Op: "put", Reason: "the object under the key keeps changing", Err: nil}
}

func (s *S3) put(ctx context.Context, w *Writer, key string) (etag string, err error) {
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return "", storeErr("seek", err)
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.opts.Bucket),
		Key:            aws.String(s.objectKey(key)),
		Body:           io.NewSectionReader(w.f, 0, w.n),
		ContentLength:  aws.Int64(w.n),
		ContentType:    aws.String("application/octet-stream"),
		IfNoneMatch:    aws.String("*"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(w.h.Sum(nil))),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

// OpenBlob opens the object of key for serving: one GET whose body the
// content streams from.
func (s *S3) OpenBlob(ctx context.Context, key string, size int64) (*Blob, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("blob %q: invalid key: %w", key, fs.ErrNotExist)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(s.objectKey(key))})
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	src := &objectSource{s: s, ctx: ctx, key: key, etag: aws.ToString(out.ETag),
		objSize: aws.ToInt64(out.ContentLength), body: out.Body, start: time.Now()}
	b := newBlob(key, size, src)
	if src.objSize != size {
		b.r.err = &IntegrityError{Key: key, Size: size, Got: fmt.Sprintf("%d bytes", src.objSize)}
		return b, b.r.err
	}
	return b, nil
}

// objectSource reads one version of an object (its ETag), with one GET per
// stretch of sequential reads.
type objectSource struct {
	s       *S3
	ctx     context.Context
	key     string
	etag    string
	objSize int64
	start   time.Time

	body    io.ReadCloser // nil: none open
	bodyOff int64         // where body reads next
	off     int64         // where the next Read reads
}

func (o *objectSource) Read(p []byte) (int, error) {
	if o.off >= o.objSize {
		return 0, io.EOF
	}
	if o.body == nil || o.bodyOff != o.off {
		if o.body != nil {
			o.body.Close()
			o.body = nil
		}
		in := &s3.GetObjectInput{Bucket: aws.String(o.s.opts.Bucket), Key: aws.String(o.s.objectKey(o.key)),
			Range: aws.String("bytes=" + strconv.FormatInt(o.off, 10) + "-")}
		if o.etag != "" {
			in.IfMatch = aws.String(o.etag)
		}
		out, err := o.s.client.GetObject(o.ctx, in)
		if err != nil {
			return 0, o.s.fail("get", o.key, err)
		}
		o.body, o.bodyOff = out.Body, o.off
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	o.bodyOff += int64(n)
	if err != nil && err != io.EOF {
		return n, &UnavailableError{Store: o.s.String(), Op: "read", Reason: describe(err), Err: err}
	}
	return n, err
}

func (o *objectSource) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.objSize
	default:
		return 0, errors.New("blob: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("blob: negative position")
	}
	o.off = offset
	return offset, nil
}

func (o *objectSource) direct() io.ReadSeeker { return nil }

func (o *objectSource) redirect() string {
	if !o.s.opts.Redirect || o.etag == "" || !o.s.verified.ok(o.key, o.etag, time.Now()) {
		return ""
	}
	req, err := o.s.presign.PresignGetObject(o.ctx, &s3.GetObjectInput{Bucket: aws.String(o.s.opts.Bucket),
		Key: aws.String(o.s.objectKey(o.key))}, s3.WithPresignExpires(o.s.opts.RedirectExpiry))
	if err != nil {
		return "" // served through modgate instead
	}
	return req.URL
}

func (o *objectSource) done(verified bool) error {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	if verified && o.etag != "" {
		o.s.verified.put(o.key, o.etag, o.start)
	}
	return nil
}

// quarantine copies the version read to quarantine/<key>.<time> and deletes
// it from under its key (both conditional on its ETag, so a fresh copy
// written meanwhile is left alone).
func (o *objectSource) quarantine() (string, error) {
	o.s.verified.drop(o.key)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(o.ctx), time.Minute)
	defer cancel()
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	name := o.key + "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	src := o.s.objectKey(o.key)
	defer o.s.quarantineChanged()
	in := &s3.CopyObjectInput{Bucket: aws.String(o.s.opts.Bucket), Key: aws.String(o.s.quarantinePrefix() + name),
		CopySource: aws.String(o.s.opts.Bucket + "/" + src)}
	if o.etag != "" {
		in.CopySourceIfMatch = aws.String(o.etag)
	}
	if _, err := o.s.client.CopyObject(ctx, in); err != nil {
		if c := code(err); c == "NoSuchKey" || c == "PreconditionFailed" || status(err) == http.StatusPreconditionFailed {
			return "", nil // quarantined by another request, or replaced
		}
		return "", fmt.Errorf("blob %s: quarantine: %w", o.key, o.s.fail("copy", o.key, err))
	}
	del := &s3.DeleteObjectInput{Bucket: aws.String(o.s.opts.Bucket), Key: aws.String(src)}
	if o.etag != "" {
		del.IfMatch = aws.String(o.etag)
	}
	if _, err := o.s.client.DeleteObject(ctx, del); err != nil {
		if c := code(err); c != "NoSuchKey" && c != "PreconditionFailed" && status(err) != http.StatusPreconditionFailed {
			return quarantineDir + "/" + name, fmt.Errorf("blob %s: quarantine: %w", o.key, o.s.fail("delete", o.key, err))
		}
	}
	return quarantineDir + "/" + name, nil
}

// Local returns the spool file of a blob this process uploaded in the last
// minutes (the bytes it hashed and the store checked: as trusted as a blob
// directory), else copies the object to a spool file through the verifying
// reader.
func (s *S3) Local(ctx context.Context, key string, size int64) (string, func(), error) {
	if p, release, ok := s.recent.get(key, size); ok {
		return p, release, nil
	}
	w, err := s.spool.Create()
	if err != nil {
		return "", nil, err
	}
	b, err := s.OpenBlob(ctx, key, size)
	if err != nil {
		if b != nil {
			b.Close()
		}
		w.Abort()
		return "", nil, err
	}
	_, err = io.Copy(w, b.r)
	b.Close()
	if err == nil && !b.r.Verified() {
		err = errors.New("blob " + key + ": not verified whole")
	}
	if err != nil {
		w.Abort()
		return "", nil, err
	}
	return w.TempPath(), func() { w.Abort() }, nil
}

// Each lists the bucket below the prefix.
func (s *S3) Each(ctx context.Context, fn func(key string, size int64) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket), Prefix: aws.String(s.opts.Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.fail("list", "", err)
		}
		for _, obj := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(obj.Key), s.opts.Prefix)
			shard, key, ok := strings.Cut(rel, "/")
			if !ok || !ValidKey(key) || shard != key[:2] {
				continue
			}
			if err := fn(key, aws.ToInt64(obj.Size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Check lists the quarantine prefix (the bucket answers, the credentials are
// good) and writes a probe in the local spool.
func (s *S3) Check(ctx context.Context) error {
	if _, err := s.listQuarantine(ctx); err != nil {
		return err
	}
	if err := s.spool.Check(ctx); err != nil {
		return fmt.Errorf("local spool: %w", err)
	}
	return nil
}

// Quarantined counts the objects below quarantine/ (at most 1000), from a
// listing at most a few seconds old (none older than this process's last
// quarantine).
func (s *S3) Quarantined(ctx context.Context) (int, error) {
	s.qmu.Lock()
	n, at := s.qn, s.qat
	s.qmu.Unlock()
	if !at.IsZero() && time.Since(at) < quarantineCountTTL {
		return n, nil
	}
	return s.listQuarantine(ctx)
}

func (s *S3) listQuarantine(ctx context.Context) (int, error) {
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket),
		Prefix: aws.String(s.quarantinePrefix()), MaxKeys: aws.Int32(1000)})
	if err != nil {
		return 0, s.fail("list", "", err)
	}
	s.qmu.Lock()
	s.qn, s.qat = len(out.Contents), time.Now()
	s.qmu.Unlock()
	return len(out.Contents), nil
}

// quarantineChanged makes the next Quarantined list the bucket.
func (s *S3) quarantineChanged() {
	s.qmu.Lock()
	s.qat = time.Time{}
	s.qmu.Unlock()
}

// QuarantineBytes puts data below quarantine/.
func (s *S3) QuarantineBytes(ctx context.Context, kind string, data []byte) (string, error) {
	name := quarantineName(kind, data)
	defer s.quarantineChanged()
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.opts.Bucket),
		Key: aws.String(s.quarantinePrefix() + name), Body: strings.NewReader(string(data)), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return "", fmt.Errorf("blob store: quarantine: %w", s.fail("put", "", err))
	}
	return quarantineDir + "/" + name, nil
}

// SweepTemp sweeps the local spool (see [Dir.SweepTemp]).
func (s *S3) SweepTemp(minAge time.Duration) (int, error) { return s.spool.SweepTemp(minAge) }
