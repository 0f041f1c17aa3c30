package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

const auditUsage = `usage:
  modgate audit verify
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
	}
	return nil
}

// runAudit runs `modgate audit verify|export|prune`.
func runAudit(ctx context.Context, e *env) error {
	f, _ := e.own.(*auditFlags)
	if len(e.args) != 1 || f == nil {
		return &usageError{msg: auditUsage}
	}
	// Reject flags of another audit command rather than ignore them.
	var allowed func(string) bool
	switch e.args[0] {
	case "verify":
		allowed = func(string) bool { return false }
	case "export":
		allowed = func(n string) bool { return n != "before" }
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
	switch e.args[0] {
	case "verify":
		return auditVerify(ctx, e)
	case "export":
		return auditExport(ctx, e, f)
	default:
		return auditPrune(ctx, e, f.before)
	}
}

func auditVerify(ctx context.Context, e *env) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := audit.Verify(ctx, st)
	if err != nil {
		return err
	}
	c := rep.Chain
	if p := rep.Problem; p != nil {
		fmt.Fprintf(e.stdout, "FIRST BAD RECORD: %d (%s): %s\n", p.Seq, p.Kind, p.Detail)
		if p.Record != nil {
			line, _ := json.Marshal(audit.NewRecord(p.Record))
			fmt.Fprintf(e.stdout, "record as stored: %s\n", line)
		}
		fmt.Fprintf(e.stdout, "%d records before it verified; chain anchor %d, head %d\n", rep.Checked, c.AnchorSeq, c.HeadSeq)
		return fmt.Errorf("audit log is not intact: record %d %s", p.Seq, p.Kind)
	}
	if c.AnchorSeq > 0 {
		fmt.Fprintf(e.stdout, "audit log intact: %d records, %d to %d (records through %d pruned, anchor hash %s)\n",
			rep.Checked, c.AnchorSeq+1, c.HeadSeq, c.AnchorSeq, c.AnchorHash)
	} else {
		fmt.Fprintf(e.stdout, "audit log intact: %d records, 1 to %d\n", rep.Checked, c.HeadSeq)
	}
	fmt.Fprintf(e.stdout, "head hash %s\n", c.HeadHash)
	return nil
}

// auditFlags are the flags of `modgate audit`: the selection of export (the
// parameters of the HTTP export, as flags) and prune's --before.
type auditFlags struct {
	fs                                                                   *flag.FlagSet
	since, until, module, version, client, decision, typ, format, output string
	before                                                               string
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
}

// has reports whether name is one of the audit flags.
func (q *auditFlags) has(name string) bool {
	switch name {
	case "since", "until", "module", "version", "client", "decision", "type", "format", "output", "before":
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
	st, err := openStore(ctx, e.cfg)
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
	st, err := openStore(ctx, e.cfg)
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
// batching writer over st, with the SIEM stream if --audit-stream is set.
// The caller must Close it after the server has stopped (it flushes).
func newAuditWriter(cfg config, st store.Audit, reg prometheus.Registerer, e *env) (*audit.Writer, error) {
	m := audit.NewMetrics(reg)
	var sink audit.Sink
	if cfg.AuditStream != "" {
		s, err := audit.NewStream(audit.StreamOptions{Target: cfg.AuditStream, Stdout: e.stdout, Logger: e.log, Metrics: m})
		if err != nil {
			return nil, err
		}
		sink = s
	}
	return audit.New(audit.Options{Store: st, FlushInterval: cfg.AuditFlush, Sink: sink, Logger: e.log, Metrics: m})
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

func (c *config) validateAudit() []error {
	var errs []error
	if c.AuditFlush < 0 {
		errs = append(errs, fmt.Errorf("--audit-flush %v: must not be negative", c.AuditFlush))
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
