package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modgate/modgate/internal/store"
)

// A checkpoint is a signed statement "the audit chain had Size records, and
// record Size's hash was Hash", in the signed-note format of
// golang.org/x/mod/sumdb/note that the checksum database uses for its tree
// heads. The chain is linear, so record Size's hash commits to every record
// before it: a checkpoint kept outside modgate's database (the SIEM stream,
// the log, a copy fetched from /api/audit/checkpoint) later proves that no
// record up to Size was removed, rewound or recomputed — which the chain
// alone cannot show against someone who cuts its tail and moves its head back.
//
// The note's text is
//
//	modgate audit checkpoint v1
//	<Size, decimal>
//	<Hash, lower-case hex>
//	<Time, RFC 3339 UTC>
//
// followed by the signature lines.

// checkpointHeader is the first line of a checkpoint's text.
const checkpointHeader = "modgate audit checkpoint v1"

// Checkpoint is what a signed checkpoint states.
type Checkpoint struct {
	Size int64     // records in the chain (the Seq of its head)
	Hash string    // the hash of record Size ("" when Size is 0)
	Time time.Time // when it was signed
}

func (c Checkpoint) text() string {
	return fmt.Sprintf("%s\n%d\n%s\n%s\n", checkpointHeader, c.Size, c.Hash, c.Time.UTC().Format(time.RFC3339Nano))
}

// SignCheckpoint returns c as a note signed by signer.
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	if c.Size < 0 || (c.Size > 0 && !isHex(c.Hash)) || (c.Size == 0 && c.Hash != "") {
		return nil, fmt.Errorf("audit checkpoint: invalid size %d and hash %q", c.Size, c.Hash)
	}
	return note.Sign(&note.Note{Text: c.text()}, signer)
}

// OpenCheckpoint checks msg's signature against the verifier keys (see
// [note.NewVerifier]) and returns what it states. A note no key signed, a
// forged signature or a text that is not a checkpoint is an error that says so.
func OpenCheckpoint(msg []byte, verifierKeys ...string) (Checkpoint, error) {
	var vs []note.Verifier
	for _, k := range verifierKeys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return Checkpoint{}, fmt.Errorf("verifier key %q: %w", k, err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		var unknown *note.UnknownVerifierError
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("checkpoint signature does not verify (%v): the checkpoint is forged or was changed", err)
		case errors.As(err, &unknown) || errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("checkpoint is not signed by the given key (%v)", err)
		}
		return Checkpoint{}, fmt.Errorf("checkpoint does not verify: %w", err)
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	return c, nil
}

func parseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 4 || lines[0] != checkpointHeader {
		return Checkpoint{}, errors.New("the signed note is not a modgate audit checkpoint")
	}
	var c Checkpoint
	var err error
	if c.Size, err = strconv.ParseInt(lines[1], 10, 64); err != nil || c.Size < 0 {
		return Checkpoint{}, fmt.Errorf("audit checkpoint: bad size %q", lines[1])
	}
	c.Hash = lines[2]
	if (c.Size > 0 && !isHex(c.Hash)) || (c.Size == 0 && c.Hash != "") {
		return Checkpoint{}, fmt.Errorf("audit checkpoint: bad hash %q", lines[2])
	}
	if c.Time, err = time.Parse(time.RFC3339Nano, lines[3]); err != nil {
		return Checkpoint{}, fmt.Errorf("audit checkpoint: bad time %q", lines[3])
	}
	return c, nil
}

func isHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// GenerateKey returns a new ed25519 signer key and its verifier key, in the
// formats of golang.org/x/mod/sumdb/note, for a key named name.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	return note.GenerateKey(nil, name)
}

// VerifierKey returns the verifier key of a note signer key, so modgate can
// tell operators the key that checks its checkpoints while holding only the
// signer key.
func VerifierKey(signerKey string) (string, error) {
	if _, err := note.NewSigner(signerKey); err != nil {
		return "", err
	}
	// PRIVATE+KEY+<name>+<hash>+<base64 of algorithm byte and seed>; the
	// name has no "+", the base64 may.
	rest, _ := strings.CutPrefix(signerKey, "PRIVATE+KEY+")
	name, rest, _ := strings.Cut(rest, "+")
	_, key, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("signer key is not an ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(name, pub)
}

// CheckpointSource is the store role the checkpoint functions need.
type CheckpointSource interface {
	Source
	store.AuditCheckpoints
}

// CheckpointError is a checkpoint the chain does not match, or one that
// cannot be proven; Err says what.
type CheckpointError struct {
	Checkpoint Checkpoint
	// Predates is set when the checkpoint's records were pruned and nothing
	// kept in the chain restates them: it neither holds nor fails.
	Predates bool
	Detail   string
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("checkpoint of %d records (%s): %s", e.Checkpoint.Size,
		e.Checkpoint.Time.UTC().Format(time.RFC3339), e.Detail)
}

// ProveCheckpoint checks that the chain in src still holds what c states:
// the chain has at least c.Size records, and the hash of record c.Size is
// c.Hash — read from the record itself, or, once it was pruned, from the
// anchor or a prune record that restated it ([Prune] restates the records of
// every stored checkpoint it prunes). It returns how it proved c, or a
// *CheckpointError. Check the chain itself with [Verify]: together they show
// that no record up to c.Size was removed, rewound or recomputed. c must come
// from [OpenCheckpoint] (its signature checked).
func ProveCheckpoint(ctx context.Context, src Source, c Checkpoint) (string, error) {
	chain, err := src.AuditChain(ctx)
	if err != nil {
		return "", err
	}
	fail := func(format string, args ...any) (string, error) {
		return "", &CheckpointError{Checkpoint: c, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Size == 0:
		return "the checkpoint states an empty chain", nil
	case chain.HeadSeq < c.Size:
		return fail("the chain now has %d records, fewer than the %d the checkpoint signed: records %d to %d were removed and the chain's head rewound",
			chain.HeadSeq, c.Size, chain.HeadSeq+1, c.Size)
	case c.Size > chain.AnchorSeq:
		recs, err := src.AuditEvents(ctx, store.AuditQuery{AfterSeq: c.Size - 1, ThroughSeq: c.Size, Limit: 1})
		if err != nil {
			return "", err
		}
		if len(recs) == 0 {
			return fail("record %d is missing from the log (the chain's head is %d): it was removed", c.Size, chain.HeadSeq)
		}
		if recs[0].Hash != c.Hash {
			return fail("record %d now hashes %s, the checkpoint signed %s: the chain up to it was rewritten and recomputed",
				c.Size, recs[0].Hash, c.Hash)
		}
		if store.AuditHash(recs[0]) != recs[0].Hash {
			return fail("record %d's contents no longer match its hash: it was edited", c.Size)
		}
		return fmt.Sprintf("record %d has the signed hash", c.Size), nil
	case c.Size == chain.AnchorSeq:
		if chain.AnchorHash != c.Hash {
			return fail("record %d was pruned, and the chain's anchor has hash %s, the checkpoint signed %s: the chain was rewritten",
				c.Size, chain.AnchorHash, c.Hash)
		}
		return fmt.Sprintf("record %d was pruned; the chain's anchor has the signed hash", c.Size), nil
	}
	// Pruned: look for a prune record that restated record c.Size.
	var found string
	var foundSeq int64
	err = scan(ctx, src, store.AuditQuery{Type: store.AuditAdmin, Decision: pruneDecision}, func(e *store.AuditEvent) error {
		for _, r := range e.Reasons {
			if seq, hash, ok := parseRestated(r); ok && seq == c.Size {
				found, foundSeq = hash, e.Seq
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch {
	case found == "":
		return "", &CheckpointError{Checkpoint: c, Predates: true, Detail: fmt.Sprintf(
			"records 1 to %d were pruned (retention) and no prune record restates record %d: the checkpoint predates what the log keeps and cannot be proven; prove a later checkpoint",
			chain.AnchorSeq, c.Size)}
	case found != c.Hash:
		return fail("record %d was pruned; prune record %d restated its hash as %s, the checkpoint signed %s: the chain was rewritten before it was pruned",
			c.Size, foundSeq, found, c.Hash)
	}
	return fmt.Sprintf("record %d was pruned; prune record %d restated the signed hash", c.Size, foundSeq), nil
}

// Restated records in a prune record's reasons.
const (
	pruneDecision = "audit.prune"
	restatePrefix = "checkpointed record "
)

func restated(seq int64, hash string) string {
	return fmt.Sprintf("%s%d hash %s", restatePrefix, seq, hash)
}

func parseRestated(r string) (int64, string, bool) {
	rest, ok := strings.CutPrefix(r, restatePrefix)
	if !ok {
		return 0, "", false
	}
	n, hash, ok := strings.Cut(rest, " hash ")
	seq, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil {
		return 0, "", false
	}
	return seq, hash, true
}

// CheckpointOptions configure a [Checkpointer].
type CheckpointOptions struct {
	Store  CheckpointSource // required
	Signer note.Signer      // required
	// Publish, if not nil, gets every checkpoint signed (for the SIEM stream).
	Publish func(*store.AuditCheckpoint)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger logs every checkpoint (info) and every refusal to sign (error);
	// nil means slog.Default().
	Logger *slog.Logger
}

// Checkpointer signs checkpoints of the chain and stores them.
type Checkpointer struct {
	opts CheckpointOptions
	log  *slog.Logger
}

// NewCheckpointer returns a Checkpointer. It does no I/O.
func NewCheckpointer(opts CheckpointOptions) (*Checkpointer, error) {
	if opts.Store == nil || opts.Signer == nil {
		return nil, errors.New("audit checkpointer: store and signer are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Checkpointer{opts: opts, log: opts.Logger}, nil
}

// Publish signs a checkpoint of the chain's head, stores it, logs it and
// hands it to Publish. It refuses to sign (and logs a SECURITY error) a head
// that does not match its record, or a chain that no longer holds the latest
// stored checkpoint: signing then would vouch for a rewritten log.
func (p *Checkpointer) Publish(ctx context.Context) (*store.AuditCheckpoint, error) {
	st := p.opts.Store
	chain, err := st.AuditChain(ctx)
	if err != nil {
		return nil, err
	}
	c := Checkpoint{Size: chain.HeadSeq, Hash: chain.HeadHash, Time: p.opts.Now().UTC().Truncate(time.Microsecond)}
	refuse := func(detail string) error {
		p.log.Error("SECURITY: audit checkpoint not signed: the audit chain was changed", "detail", detail,
			"head", chain.HeadSeq)
		return errors.New("audit checkpoint not signed: " + detail)
	}
	if chain.HeadSeq > chain.AnchorSeq {
		recs, err := st.AuditEvents(ctx, store.AuditQuery{AfterSeq: chain.HeadSeq - 1, ThroughSeq: chain.HeadSeq, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 || recs[0].Hash != chain.HeadHash || store.AuditHash(recs[0]) != recs[0].Hash {
			return nil, refuse(fmt.Sprintf("the chain's head, record %d, is missing or does not match its hash", chain.HeadSeq))
		}
	}
	prev, err := st.LatestAuditCheckpoint(ctx)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if _, err := ProveCheckpoint(ctx, st, Checkpoint{Size: prev.Size, Hash: prev.Hash, Time: prev.Time}); err != nil {
			var ce *CheckpointError
			if !errors.As(err, &ce) {
				return nil, err
			}
			if !ce.Predates {
				return nil, refuse("the latest stored " + ce.Error())
			}
		}
	}
	text, err := SignCheckpoint(c, p.opts.Signer)
	if err != nil {
		return nil, err
	}
	rec := &store.AuditCheckpoint{Size: c.Size, Hash: c.Hash, Time: c.Time, Note: text}
	if err := st.PutAuditCheckpoint(ctx, rec); err != nil {
		return nil, err
	}
	p.log.Info("audit checkpoint", "size", c.Size, "hash", c.Hash, "key", p.opts.Signer.Name(), "note", string(text))
	if p.opts.Publish != nil {
		p.opts.Publish(rec)
	}
	return rec, nil
}

// Run publishes a checkpoint every interval until ctx is done. Failures are
// logged; the next interval tries again.
func (p *Checkpointer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.Publish(ctx); err != nil && ctx.Err() == nil {
				p.log.Error("publishing audit checkpoint", "err", err.Error())
			}
		}
	}
}

// CheckpointHandler serves the latest stored checkpoint as its signed note
// (text/plain), for `modgate audit verify --checkpoint`; 404 before the
// first is published.
func CheckpointHandler(st store.AuditCheckpoints, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		c, err := st.LatestAuditCheckpoint(r.Context())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("no audit checkpoint has been published yet\n"))
			return
		case err != nil:
			log.Error("reading the latest audit checkpoint", "err", err.Error())
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte("the audit checkpoint could not be read from the database\n"))
			return
		}
		w.Write(c.Note)
	})
}
