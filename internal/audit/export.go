package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// Export formats.
const (
	JSONL = "jsonl" // one JSON object per line, fields as in [Record]
	CSV   = "csv"   // a header line, then one line per record, columns as in [Record]
)

// Record is the exported form of an audit record (JSON lines and the stream).
// CSV has the same columns in the same order, Reasons as a JSON array.
type Record struct {
	Seq         int64     `json:"seq"`
	Time        time.Time `json:"time"`
	Type        string    `json:"type"`
	ClientToken string    `json:"client_token"`
	ClientIP    string    `json:"client_ip"`
	UserAgent   string    `json:"user_agent"`
	Module      string    `json:"module"`
	Version     string    `json:"version"`
	Kind        string    `json:"kind"`
	Decision    string    `json:"decision"`
	Reasons     []string  `json:"reasons"`
	Source      string    `json:"source"`
	Bytes       int64     `json:"bytes"`
	DurationNS  int64     `json:"duration_ns"`
	SBOM        string    `json:"sbom"`
	PrevHash    string    `json:"prev_hash"`
	Hash        string    `json:"hash"`
}

// NewRecord returns the exported form of e.
func NewRecord(e *store.AuditEvent) Record {
	reasons := e.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return Record{Seq: e.Seq, Time: e.Time.UTC(), Type: e.Type, ClientToken: e.ClientToken, ClientIP: e.ClientIP,
		UserAgent: e.UserAgent, Module: e.Module, Version: e.Version, Kind: e.Kind, Decision: e.Decision,
		Reasons: reasons, Source: e.Source, Bytes: e.Bytes, DurationNS: int64(e.Duration), SBOM: e.SBOM,
		PrevHash: e.PrevHash, Hash: e.Hash}
}

var csvHeader = []string{"seq", "time", "type", "client_token", "client_ip", "user_agent", "module", "version",
	"kind", "decision", "reasons", "source", "bytes", "duration_ns", "sbom", "prev_hash", "hash"}

func (r *Record) csv() []string {
	reasons, _ := json.Marshal(r.Reasons)
	return []string{strconv.FormatInt(r.Seq, 10), r.Time.Format(time.RFC3339Nano), cell(r.Type),
		cell(r.ClientToken), cell(r.ClientIP), cell(r.UserAgent), cell(r.Module), cell(r.Version), cell(r.Kind),
		cell(r.Decision), cell(string(reasons)), cell(r.Source), strconv.FormatInt(r.Bytes, 10),
		strconv.FormatInt(r.DurationNS, 10), cell(r.SBOM), cell(r.PrevHash), cell(r.Hash)}
}

// cell neutralises a text cell that a spreadsheet would run as a formula
// (one starting with =, +, -, @, tab or carriage return) by prefixing a
// single quote, as OWASP advises for CSV injection. Numbers are not text
// cells and are written as they are.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Encoder writes records in one export format.
type Encoder struct {
	format string
	bw     *bufio.Writer
	json   *json.Encoder
	csv    *csv.Writer
	header bool
}

// NewEncoder returns an Encoder of format (JSONL or CSV) writing to w.
// Call Flush at the end.
func NewEncoder(w io.Writer, format string) (*Encoder, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch format {
	case JSONL:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		return &Encoder{format: format, bw: bw, json: enc}, nil
	case CSV:
		return &Encoder{format: format, bw: bw, csv: csv.NewWriter(bw)}, nil
	}
	return nil, fmt.Errorf("unknown format %q: want %s or %s", format, JSONL, CSV)
}

// Encode writes one record.
func (enc *Encoder) Encode(e *store.AuditEvent) error {
	r := NewRecord(e)
	if enc.json != nil {
		return enc.json.Encode(&r)
	}
	if err := enc.writeHeader(); err != nil {
		return err
	}
	return enc.csv.Write(r.csv())
}

func (enc *Encoder) writeHeader() error {
	if enc.header {
		return nil
	}
	enc.header = true
	return enc.csv.Write(csvHeader)
}

// Flush writes out what is buffered (and a CSV header, if no record was
// written).
func (enc *Encoder) Flush() error {
	if enc.csv != nil {
		if err := enc.writeHeader(); err != nil {
			return err
		}
		enc.csv.Flush()
		if err := enc.csv.Error(); err != nil {
			return err
		}
	}
	return enc.bw.Flush()
}

// Export writes the records matching q (in Seq order; q.Limit and q.AfterSeq
// are a starting cursor at most: every record after q.AfterSeq is written) to
// w in format, a page at a time, so memory stays constant. It returns how
// many it wrote.
func Export(ctx context.Context, r Reader, q store.AuditQuery, format string, w io.Writer) (int64, error) {
	enc, err := NewEncoder(w, format)
	if err != nil {
		return 0, err
	}
	var n int64
	err = scan(ctx, r, q, func(e *store.AuditEvent) error {
		n++
		return enc.Encode(e)
	})
	if err != nil {
		return n, err
	}
	return n, enc.Flush()
}

// ParseTime parses a time given to an export: RFC 3339 (2026-03-01T08:00:00Z),
// a date (2026-03-01, meaning midnight UTC), or a date and minute in UTC
// (2026-03-01T08:00).
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-03-01T08:00:00Z) or a date (2026-03-01)", s)
}

// ParseQuery reads an export's selection from URL query parameters: since,
// until (see [ParseTime]), module, version, client, decision, type, and after
// (a Seq to resume after). Unknown parameters are errors, so a typo does not
// silently export everything.
func ParseQuery(v url.Values) (store.AuditQuery, error) {
	var q store.AuditQuery
	var errs []error
	for name, vals := range v {
		if len(vals) != 1 {
			errs = append(errs, fmt.Errorf("%s: given %d times", name, len(vals)))
			continue
		}
		val := vals[0]
		var err error
		switch name {
		case "since":
			q.Since, err = ParseTime(val)
		case "until":
			q.Until, err = ParseTime(val)
		case "module":
			q.Module = val
		case "version":
			q.Version = val
		case "client":
			q.Client = val
		case "decision":
			q.Decision = val
		case "type":
			q.Type = val
		case "after":
			q.AfterSeq, err = strconv.ParseInt(val, 10, 64)
		case "format":
		default:
			err = errors.New("unknown parameter (known: since, until, module, version, client, decision, type, after, format)")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return q, errors.Join(errs...)
}

// ExportHandler serves exports: GET with the parameters of [ParseQuery] and
// format=jsonl (the default) or csv. It streams; a failure after the first
// byte aborts the response, so a client never takes a cut export for a whole
// one. It does no authentication: mount it behind the API's.
func ExportHandler(r Reader, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		params := req.URL.Query()
		q, err := ParseQuery(params)
		format := params.Get("format")
		if format == "" {
			format = JSONL
		}
		if err == nil && format != JSONL && format != CSV {
			err = fmt.Errorf("format %q: want %s or %s", format, JSONL, CSV)
		}
		if err != nil {
			http.Error(w, "bad export query: "+err.Error(), http.StatusBadRequest)
			return
		}
		h := w.Header()
		if format == CSV {
			h.Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			h.Set("Content-Type", "application/x-ndjson")
		}
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="modgate-audit.%s"`, format))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if req.Method == http.MethodHead {
			return
		}
		start := time.Now()
		n, err := Export(req.Context(), r, q, format, flushWriter{w, http.NewResponseController(w)})
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				logger.Error("audit export failed", "err", err.Error(), "records", n, "duration", time.Since(start))
			}
			panic(http.ErrAbortHandler)
		}
		logger.Info("audit export", "records", n, "format", format, "duration", time.Since(start))
	})
}

// flushWriter flushes the response after every write of the encoder's
// buffer, so a long export reaches the client as it goes.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		f.rc.Flush()
	}
	return n, err
}
