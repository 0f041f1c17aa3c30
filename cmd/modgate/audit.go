package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

const auditUsage = `usage:
  modgate audit verify [--checkpoint FILE [--key VERIFIER-KEY|FILE]]
  modgate audit keygen FILE [NAME]
  modgate audit export [--since T] [--until T] [--module M] [--version V] [--client C] [--decision D] [--type T] [--format jsonl|csv] [--output FILE]
  modgate audit prune [--before T]

Times are RFC 3339 (2026-03-01T08:00:00Z) or dates (2026-03-01, midnight UTC).`

// ownFlags defines on fs the flags of command name that are not settings,
// and returns what they are parsed into (nil if none).
func ownFlags(name string, fs *flag.FlagSet) any {
	switch name {
	case "audit":
		f := &auditFlags{fs: fs}
		f.register(fs)
		return f
	case "sbom":
		return registerSBOMFlags(fs)
	case "vuln":
		return registerVulnFlags(fs)
	case "exempt":
		return registerExemptFlags(fs)
	case "policy":
		return registerPolicyFlags(fs)
	case "check":
		return registerCheckFlags(fs)
	case "token":
		return registerTokenFlags(fs)
	case "blobs":
		return registerBlobsFlags(fs)
	}
	return nil
}

// runAudit runs `modgate audit verify|export|prune`.
func runAudit(ctx context.Context, e *env) error {
	f, _ := e.own.(*auditFlags)
	if f == nil || len(e.args) == 0 || (len(e.args) != 1 && e.args[0] != "keygen") {
		return &usageError{msg: auditUsage}
	}
	// Reject flags of another audit command rather than ignore them.
	var allowed func(string) bool
	switch e.args[0] {
	case "verify":
		allowed = func(n string) bool { return n == "checkpoint" || n == "key" }
	case "keygen":
		allowed = func(string) bool { return false }
	case "export":
		allowed = func(n string) bool { return n != "before" && n != "checkpoint" && n != "key" }
	case "prune":
		allowed = func(n string) bool { return n == "before" }
	default:
		return &usageError{msg: fmt.Sprintf("unknown audit command %q\n%s", e.args[0], auditUsage)}
	}
	var bad error
	f.fs.Visit(func(fl *flag.Flag) {
		if f.has(fl.Name) && !allowed(fl.Name) && bad == nil {
			bad = &usageError{msg: fmt.Sprintf("audit %s does not take --%s\n%s", e.args[0], fl.Name, auditUsage)}
		}
	})
	if bad != nil {
		return bad
	}
	if f.key != "" && f.checkpoint == "" {
		return &usageError{msg: "--key: needs --checkpoint\n" + auditUsage}
	}
	switch e.args[0] {
	case "verify":
		return auditVerify(ctx, e, f)
	case "keygen":
		return auditKeygen(e)
	case "export":
		return auditExport(ctx, e, f)
	default:
		return auditPrune(ctx, e, f.before)
	}
}

func auditVerify(ctx context.Context, e *env, f *auditFlags) (err error) {
	var cp *audit.Checkpoint
	if f.checkpoint != "" {
		c, err := readCheckpoint(e.cfg, f.checkpoint, f.key)
		if err != nil {
			return err
		}
		cp = &c
	}
	st, err := openAuditStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := audit.Verify(ctx, st)
	if err != nil {
		return err
	}
	var cpErr error
	if cp != nil {
		how, err := audit.ProveCheckpoint(ctx, st, *cp)
		var ce *audit.CheckpointError
		switch {
		case errors.As(err, &ce) && ce.Predates:
			fmt.Fprintf(e.stdout, "CHECKPOINT NOT PROVEN: %v\n", err)
			cpErr = errors.New("the checkpoint predates the audit log's retention")
		case errors.As(err, &ce):
			fmt.Fprintf(e.stdout, "CHECKPOINT FAILS: %v\n", err)
			cpErr = fmt.Errorf("audit log does not hold the checkpoint of %d records: records were removed, rewound or recomputed", cp.Size)
		case err != nil:
			return err
		default:
			fmt.Fprintf(e.stdout, "checkpoint holds: %d records, head hash %s, signed %s: %s\n",
				cp.Size, cp.Hash, cp.Time.UTC().Format(time.RFC3339), how)
		}
	}
	c := rep.Chain
	if p := rep.Problem; p != nil {
		fmt.Fprintf(e.stdout, "FIRST BAD RECORD: %d (%s): %s\n", p.Seq, p.Kind, p.Detail)
		if p.Record != nil {
			line, _ := json.Marshal(audit.NewRecord(p.Record))
			fmt.Fprintf(e.stdout, "record as stored: %s\n", line)
		}
		fmt.Fprintf(e.stdout, "%d records before it verified; chain anchor %d, head %d\n", rep.Checked, c.AnchorSeq, c.HeadSeq)
		return errors.Join(fmt.Errorf("audit log is not intact: record %d %s", p.Seq, p.Kind), cpErr)
	}
	if c.AnchorSeq > 0 {
		fmt.Fprintf(e.stdout, "audit log intact: %d records, %d to %d (records through %d pruned, anchor hash %s)\n",
			rep.Checked, c.AnchorSeq+1, c.HeadSeq, c.AnchorSeq, c.AnchorHash)
	} else {
		fmt.Fprintf(e.stdout, "audit log intact: %d records, 1 to %d\n", rep.Checked, c.HeadSeq)
	}
	fmt.Fprintf(e.stdout, "head hash %s\n", c.HeadHash)
	return cpErr
}

// readCheckpoint reads a signed checkpoint from file (the note text, or a
// JSON line of the SIEM stream) and checks its signature with key (a
// verifier key or a file holding one), or, without key, with the verifier
// key of the --audit-key signer key.
func readCheckpoint(cfg config, file, key string) (audit.Checkpoint, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return audit.Checkpoint{}, err
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		var r audit.CheckpointRecord
		if err := json.Unmarshal(trimmed, &r); err != nil || r.Note == "" {
			return audit.Checkpoint{}, fmt.Errorf("%s: neither a signed checkpoint nor a checkpoint line of the audit stream", file)
		}
		data = []byte(r.Note)
	}
	switch {
	case key == "":
		path := auditKeyPath(cfg)
		skey, err := os.ReadFile(path)
		if err != nil {
			return audit.Checkpoint{}, &usageError{msg: fmt.Sprintf("--checkpoint: no --key given, and the signer key %s cannot be read to derive it (%v)", path, err)}
		}
		if key, err = audit.VerifierKey(strings.TrimSpace(string(skey))); err != nil {
			return audit.Checkpoint{}, fmt.Errorf("%s: %w", path, err)
		}
	case !strings.Contains(key, "+"):
		k, err := os.ReadFile(key)
		if err != nil {
			return audit.Checkpoint{}, &usageError{msg: fmt.Sprintf("--key: neither a verifier key nor a readable file: %v", err)}
		}
		key = strings.TrimSpace(string(k))
	}
	c, err := audit.OpenCheckpoint(data, key)
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

// auditKeyPath is where the checkpoint signer key is: --audit-key, else
// audit-checkpoint.key in --data.
func auditKeyPath(cfg config) string {
	if cfg.AuditKey != "" {
		return cfg.AuditKey
	}
	return filepath.Join(cfg.Data, "audit-checkpoint.key")
}

// auditKeyName names the keys modgate makes.
const auditKeyName = "modgate-audit"

// auditKeygen writes a new signer key to a new file (mode 0600) and prints
// its verifier key.
func auditKeygen(e *env) error {
	if len(e.args) < 2 || len(e.args) > 3 {
		return &usageError{msg: "usage: modgate audit keygen FILE [NAME]"}
	}
	name := auditKeyName
	if len(e.args) == 3 {
		name = e.args[2]
	}
	vkey, err := writeAuditKey(e.args[1], name)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", vkey)
	e.log.Info("wrote audit checkpoint signer key", "file", e.args[1], "verifier_key", vkey)
	return nil
}

// writeAuditKey makes a key pair, writes the signer key to path (which must
// not exist; mode 0600) and returns the verifier key.
func writeAuditKey(path, name string) (string, error) {
	skey, vkey, err := audit.GenerateKey(name)
	if err != nil {
		return "", fmt.Errorf("audit key %q: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", err
	}
	return vkey, nil
}

// loadAuditSigner reads the checkpoint signer key (see auditKeyPath); with no
// --audit-key and no key in --data yet, it makes one there. It logs the
// verifier key, never the signer key.
func loadAuditSigner(cfg config, log *slog.Logger) (note.Signer, error) {
	path := auditKeyPath(cfg)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && cfg.AuditKey == "" {
		if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
			return nil, err
		}
		vkey, err := writeAuditKey(path, auditKeyName)
		if err != nil {
			return nil, fmt.Errorf("making the audit checkpoint key: %w", err)
		}
		log.Warn("made an audit checkpoint signing key: keep a copy of its verifier key outside this host", "file", path, "verifier_key", vkey)
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("--audit-key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the audit checkpoint signing key is readable by others: chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	skey := strings.TrimSpace(string(data))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("%s: not a note signer key (modgate audit keygen writes one): %w", path, errors.Unwrap(err))
	}
	vkey, err := audit.VerifierKey(skey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	log.Info("audit checkpoints signed", "verifier_key", vkey, "interval", cfg.AuditCheckpointInterval)
	return signer, nil
}

// auditFlags are the flags of `modgate audit`: the selection of export (the
// parameters of the HTTP export, as flags) and prune's --before.
type auditFlags struct {
	fs                                                                   *flag.FlagSet
	since, until, module, version, client, decision, typ, format, output string
	before                                                               string
	checkpoint, key                                                      string
}

func (q *auditFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&q.since, "since", "", "audit export: records at or after this `time`")
	fs.StringVar(&q.until, "until", "", "audit export: records before this `time`")
	fs.StringVar(&q.module, "module", "", "audit export: records of this module `path`")
	fs.StringVar(&q.version, "version", "", "audit export: records of this module `version`")
	fs.StringVar(&q.client, "client", "", "audit export: records of this client (token name or IP `address`)")
	fs.StringVar(&q.decision, "decision", "", "audit export: records with this `decision`: served, blocked, not_found or error")
	fs.StringVar(&q.typ, "type", "", "audit export: records of this `type`: fetch, checksum, security or admin")
	fs.StringVar(&q.format, "format", audit.JSONL, "audit export: output `format`: jsonl or csv")
	fs.StringVar(&q.output, "output", "", "audit export: write to this `file` instead of standard output")
	fs.StringVar(&q.before, "before", "", "audit prune: prune records older than this `time` instead of --audit-retention")
	fs.StringVar(&q.checkpoint, "checkpoint", "", "audit verify: also prove this signed checkpoint `file` (from /api/audit/checkpoint, the log or the SIEM stream)")
	fs.StringVar(&q.key, "key", "", "audit verify: the checkpoint's verifier `key`, or a file holding it; default: derived from --audit-key")
}

// has reports whether name is one of the audit flags.
func (q *auditFlags) has(name string) bool {
	switch name {
	case "since", "until", "module", "version", "client", "decision", "type", "format", "output", "before",
		"checkpoint", "key":
		return true
	}
	return false
}

func auditExport(ctx context.Context, e *env, f *auditFlags) error {
	v := url.Values{}
	for name, val := range map[string]string{"since": f.since, "until": f.until, "module": f.module,
		"version": f.version, "client": f.client, "decision": f.decision, "type": f.typ} {
		if val != "" {
			v.Set(name, val)
		}
	}
	q, err := audit.ParseQuery(v)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	if f.format != audit.JSONL && f.format != audit.CSV {
		return &usageError{msg: fmt.Sprintf("--format %q: want jsonl or csv", f.format)}
	}
	st, err := openAuditStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	var w io.Writer = e.stdout
	var file *os.File
	if f.output != "" {
		if file, err = os.Create(f.output); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	n, err := audit.Export(ctx, st, q, f.format, w)
	if err != nil {
		return fmt.Errorf("export (after %d records): %w", n, err)
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
	}
	e.log.Info("audit export", "records", n, "format", f.format)
	return nil
}

func auditPrune(ctx context.Context, e *env, beforeFlag string) error {
	var before time.Time
	switch {
	case beforeFlag != "":
		t, err := audit.ParseTime(beforeFlag)
		if err != nil {
			return &usageError{msg: "--before: " + err.Error()}
		}
		before = t
	case e.cfg.AuditRetention == 0:
		fmt.Fprintln(e.stdout, "--audit-retention is 0: every audit record is kept")
		return nil
	default:
		before = time.Now().Add(-time.Duration(e.cfg.AuditRetention))
	}
	st, err := openAuditStore(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := audit.Prune(ctx, st, before)
	if err != nil {
		return fmt.Errorf("prune (after %d records): %w", n, err)
	}
	fmt.Fprintf(e.stdout, "pruned %d audit records older than %s\n", n, before.UTC().Format(time.RFC3339))
	return nil
}

// newAuditWriter builds the audit writer of serve from the settings: the
// batching writer over st, with the SIEM stream if --audit-stream is set,
// and the checkpointer that signs the chain (published to the log, the
// stream and the database). The caller must Close the writer after the
// server has stopped: it flushes, then signs a last checkpoint.
func newAuditWriter(ctx context.Context, cfg config, st store.Store, reg prometheus.Registerer, e *env) (*audit.Writer, *audit.Checkpointer, error) {
	m := audit.NewMetrics(reg)
	var sink audit.Sink
	var stream *audit.Stream
	if cfg.AuditStream != "" {
		s, err := audit.NewStream(audit.StreamOptions{Target: cfg.AuditStream, Stdout: e.stdout, Logger: e.log, Metrics: m})
		if err != nil {
			return nil, nil, err
		}
		sink, stream = s, s
	}
	signer, err := loadAuditSigner(cfg, e.log)
	if err != nil {
		return nil, nil, err
	}
	cpOpts := audit.CheckpointOptions{Store: st, Signer: signer, Logger: e.log}
	if stream != nil {
		cpOpts.Publish = stream.SendCheckpoint
	}
	cp, err := audit.NewCheckpointer(cpOpts)
	if err != nil {
		return nil, nil, err
	}
	var spool *audit.Spool
	if dir := cfg.auditSpoolDir(); dir != "" {
		// Opening the spool appends what a killed modgate left in it,
		// also when this one runs without it (--audit-flush).
		if spool, _, err = audit.OpenSpool(ctx, dir, st, e.log); err != nil {
			return nil, nil, err
		}
		if cfg.AuditFlush > 0 {
			if err := spool.Close(); err != nil {
				return nil, nil, err
			}
			spool = nil
		}
	}
	w, err := audit.New(audit.Options{Store: st, FlushInterval: cfg.AuditFlush, Sink: sink, Logger: e.log, Metrics: m,
		Spool: spool,
		OnClose: func(ctx context.Context) {
			if _, err := cp.Publish(ctx); err != nil {
				e.log.Error("publishing the audit checkpoint at shutdown", "err", err.Error())
			}
		}})
	return w, cp, err
}

// days is a duration flag that also takes whole days: "400d".
type days time.Duration

func (d *days) String() string {
	v := time.Duration(*d)
	if v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseInt(n, 10, 32)
		if err != nil || v < 0 {
			return fmt.Errorf("%q: want a number of days (400d) or a duration (9600h)", s)
		}
		*d = days(time.Duration(v) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q: want a number of days (400d) or a duration (9600h)", s)
	}
	*d = days(v)
	return nil
}

// auditSpoolDir is the directory of serve's audit spool (see --audit-spool),
// or "" for none.
func (c *config) auditSpoolDir() string {
	switch c.AuditSpool {
	case "off":
		return ""
	case "":
		if isPostgres(c.Database) {
			return "" // replicas may have no disk that outlives them
		}
		return filepath.Join(c.Data, "audit-spool")
	}
	return c.AuditSpool
}

// openAuditStore is openStore for the audit commands: records a modgate
// left in the audit spool when it was killed are appended first, so the
// commands see every record a client was answered for. A spool held by a
// running serve is left to it.
func openAuditStore(ctx context.Context, e *env) (store.Store, error) {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return nil, err
	}
	dir := e.cfg.auditSpoolDir()
	if dir == "" {
		return st, nil
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	sp, n, err := audit.OpenSpool(ctx, dir, st, e.log)
	switch {
	case errors.Is(err, audit.ErrSpoolBusy):
		return st, nil
	case err != nil:
		st.Close()
		return nil, err
	}
	if n > 0 {
		fmt.Fprintf(e.stderr, "appended %d audit records a stopped modgate left in %s\n", n, dir)
	}
	if err := sp.Close(); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func (c *config) validateAudit() []error {
	var errs []error
	if c.AuditFlush < 0 {
		errs = append(errs, fmt.Errorf("--audit-flush %v: must not be negative", c.AuditFlush))
	}
	if c.AuditFlush > 0 && c.AuditSpool != "" && c.AuditSpool != "off" {
		errs = append(errs, fmt.Errorf("--audit-spool %s: needs group commit (--audit-flush 0)", c.AuditSpool))
	}
	if c.AuditCheckpointInterval < 0 {
		errs = append(errs, fmt.Errorf("--audit-checkpoint-interval %v: must not be negative", c.AuditCheckpointInterval))
	}
	if c.AuditRetention < 0 {
		errs = append(errs, fmt.Errorf("--audit-retention %v: must not be negative", c.AuditRetention.String()))
	}
	if s := c.AuditStream; s != "" && s != "stdout" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("--audit-stream: want stdout or an http(s) webhook URL"))
		}
	}
	if _, err := audit.ParseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	return errs
}
