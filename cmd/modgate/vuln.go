package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner"
	"github.com/modgate/modgate/scanner/vulndb"
)

// validateVuln checks the vulnerability settings.
func (c *config) validateVuln() []error {
	var errs []error
	if u, err := url.Parse(c.VulnDB); c.VulnDB != "off" && (err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file")) {
		errs = append(errs, fmt.Errorf("--vulndb %q: want an https://, http:// or file:///absolute/dir URL, or off", c.VulnDB))
	}
	if c.VulnDBInterval <= 0 {
		errs = append(errs, fmt.Errorf("--vulndb-interval %v: must be positive", c.VulnDBInterval))
	}
	if c.VulnDBMaxAge <= 0 {
		errs = append(errs, fmt.Errorf("--vulndb-max-age %v: must be positive", c.VulnDBMaxAge))
	}
	if c.FeedsInterval < 0 {
		errs = append(errs, fmt.Errorf("--advisories-interval %v: must be positive, or 0 for --vulndb-interval", c.FeedsInterval))
	}
	for _, a := range c.advisoryList() {
		if _, err := vulndb.NewFeed(a, nil); err != nil {
			errs = append(errs, fmt.Errorf("--advisories: %v", err))
		}
	}
	if c.NotifyURL != "" {
		if u, err := url.Parse(c.NotifyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("--notify-url: want an http(s) URL"))
		}
	}
	return errs
}

// openScanner opens the configured store and a scanner on it, for the
// subcommands that read vulnerability data. The caller closes the store.
func openScanner(ctx context.Context, e *env) (store.Store, *scanner.Scanner, error) {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return nil, nil, err
	}
	sc, err := newScanner(e.cfg, st, e.log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, sc, nil
}

// newScanner builds the scanner from the settings; it does no I/O.
func newScanner(cfg config, st store.Store, log *slog.Logger) (*scanner.Scanner, error) {
	source := cfg.VulnDB
	if source == "off" {
		source = "" // never synced: callers check vulnDBOff
	}
	s, err := scanner.New(scanner.Options{
		Store:     st,
		Source:    source,
		Logger:    log,
		NotifyURL: cfg.NotifyURL,
		MaxAge:    cfg.VulnDBMaxAge,
		// --advisories (see advisories.go)
		Advisories: cfg.advisoryList(),
	})
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return s, nil
}

// mountVulnDB serves the synced copy at /vulndb/ and its state at
// /vulndb-status, and exports the data's age and size as metrics.
func mountVulnDB(mux *http.ServeMux, reg prometheus.Registerer, sc *scanner.Scanner, log *slog.Logger) {
	mux.Handle("GET /vulndb/", http.StripPrefix("/vulndb", sc.Handler()))
	mux.HandleFunc("GET /vulndb-status", func(w http.ResponseWriter, r *http.Request) {
		st, err := sc.Status(r.Context())
		if err != nil {
			log.Error("vulndb status", "err", err.Error())
			http.Error(w, "cannot read the vulnerability database state", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		out := statusJSON(st)
		if out.Advisories, err = feedsJSON(r.Context(), sc); err != nil {
			log.Error("advisories status", "err", err.Error())
			http.Error(w, "cannot read the advisory feeds' state", http.StatusInternalServerError)
			return
		}
		if st.Stale {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(out)
	})
	status := func() *scanner.Status {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := sc.Status(ctx)
		if err != nil {
			return &scanner.Status{}
		}
		return st
	}
	registerFeedMetrics(reg, sc)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_vulndb_age_seconds",
			Help: "Age of the vulnerability data: now minus the database's modified time, or minus the last successful sync if longer."},
			func() float64 { return status().Age.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_vulndb_entries",
			Help: "Advisories in the synced vulnerability database."},
			func() float64 { return float64(status().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_vulndb_modified_timestamp_seconds",
			Help: "The synced database's index/db.json modified time (Unix seconds)."},
			func() float64 { return unix(status().DBModified) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_vulndb_last_success_timestamp_seconds",
			Help: "When the last successful sync ended (Unix seconds)."},
			func() float64 { return unix(status().SyncedAt) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "modgate_vulndb_sync_attempts_total",
			Help: "Syncs of the vulnerability database attempted by this process."},
			func() float64 { a, _ := sc.SyncCounts(); return float64(a) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "modgate_vulndb_sync_failures_total",
			Help: "Syncs of the vulnerability database that failed in this process (each retried with backoff)."},
			func() float64 { _, f := sc.SyncCounts(); return float64(f) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_vulndb_stale",
			Help: "1 when the vulnerability data is older than --vulndb-max-age or was never synced."},
			func() float64 {
				if status().Stale {
					return 1
				}
				return 0
			}),
	)
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

type statusOut struct {
	Source      string   `json:"source"`
	DBModified  string   `json:"db_modified,omitempty"`
	SyncedAt    string   `json:"synced_at,omitempty"`
	AttemptedAt string   `json:"attempted_at,omitempty"`
	LastError   string   `json:"last_error,omitempty"`
	Entries     int      `json:"entries"`
	Refused     []string `json:"refused,omitempty"`
	AgeSeconds  int64    `json:"age_seconds"`
	MaxAge      string   `json:"max_age"`
	Stale       bool     `json:"stale"`
	// Advisories are the --advisories feeds (see advisories.go).
	Advisories []feedOut `json:"advisories,omitempty"`
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// staleWarning is the CLI's warning about data that Status reports stale (""
// when it is not), naming the cause: a last successful sync older than
// --vulndb-max-age, which blocks under a blocking policy and a sync cures; or
// a database whose own modified time is that old though modgate synced it
// recently (a frozen mirror or an old snapshot), which does not block and
// which another sync does not change.
func staleWarning(st *scanner.Status, now time.Time) string {
	if !st.Stale || st.SyncedAt.IsZero() {
		return ""
	}
	if since := now.Sub(st.SyncedAt); since > st.MaxAge {
		return fmt.Sprintf("warning: the vulnerability data was last synced %v ago (%s), over --vulndb-max-age %v; run `modgate vulndb sync`",
			since.Round(time.Hour), fmtTime(st.SyncedAt), st.MaxAge)
	}
	return fmt.Sprintf("warning: the vulnerability database was last modified %s (%v ago, over --vulndb-max-age %v), though modgate synced it %v ago: "+
		"its source may be a frozen mirror or an old snapshot; this does not block, and syncing again does not change it",
		fmtTime(st.DBModified), now.Sub(st.DBModified).Round(time.Hour), st.MaxAge, now.Sub(st.SyncedAt).Round(time.Second))
}

func statusJSON(st *scanner.Status) statusOut {
	return statusOut{Source: st.Source, DBModified: fmtTime(st.DBModified), SyncedAt: fmtTime(st.SyncedAt),
		AttemptedAt: fmtTime(st.AttemptedAt), LastError: st.LastError, Entries: st.Entries, Refused: st.Refused,
		AgeSeconds: int64(st.Age.Seconds()), MaxAge: st.MaxAge.String(), Stale: st.Stale}
}

// runVulnDB is `modgate vulndb sync|status`.
func runVulnDB(ctx context.Context, e *env) error {
	if len(e.args) != 1 || (e.args[0] != "sync" && e.args[0] != "status") {
		return &usageError{msg: "usage: modgate vulndb sync|status [flags]"}
	}
	if e.args[0] == "sync" && e.cfg.VulnDB == "off" {
		return &usageError{msg: "--vulndb is off: nothing to sync from"}
	}
	st, sc, err := openScanner(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	if e.args[0] == "sync" {
		res, err := sc.Sync(ctx)
		if err != nil {
			return fmt.Errorf("%w\nThe last good copy stays in use; check --vulndb and the network, then run `modgate vulndb sync` again", err)
		}
		if res.Unchanged {
			fmt.Fprintf(e.stdout, "vulnerability database unchanged (modified %s, %d entries)\n", fmtTime(res.DBModified), res.Entries)
		} else {
			fmt.Fprintf(e.stdout, "vulnerability database synced in %v: modified %s, %d entries (%d added, %d updated, %d removed)\n",
				res.Duration.Round(time.Millisecond), fmtTime(res.DBModified), res.Entries, len(res.Added), len(res.Updated), len(res.Removed))
		}
		if len(res.Refused) > 0 {
			fmt.Fprintf(e.stdout, "refused %d corrupt entries (kept their previous copy; retried next sync): %s\n",
				len(res.Refused), strings.Join(res.Refused, " "))
		}
		if len(res.Learnt) > 0 {
			fmt.Fprintf(e.stdout, "%d findings learnt for stored versions:\n", len(res.Learnt))
			for _, f := range res.Learnt {
				via := ""
				if f.Via.Path != "" {
					via = " (requires " + f.Via.String() + ")"
				}
				fmt.Fprintf(e.stdout, "  %s%s: %s\n", f.Module, via, f.VulnID)
			}
		}
		if res.NotifyErr != nil {
			return fmt.Errorf("the webhook --notify-url failed: %w", res.NotifyErr)
		}
		if err := syncFeeds(ctx, e, sc); err != nil {
			return err
		}
	}
	s, err := sc.Status(ctx)
	if err != nil {
		return err
	}
	if e.args[0] == "status" {
		out := statusJSON(s)
		if out.Advisories, err = feedsJSON(ctx, sc); err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if w := staleWarning(s, time.Now()); w != "" {
		fmt.Fprintln(e.stderr, w)
	}
	return nil
}

// vulnOut is `modgate vuln --json` output.
type vulnOut struct {
	Module     string       `json:"module"`
	Version    string       `json:"version"`
	DBModified string       `json:"db_modified"`
	Vulns      []vulnJSON   `json:"vulns"`
	Withdrawn  []vulnJSON   `json:"withdrawn,omitempty"`
	Facts      *store.Facts `json:"facts,omitempty"` // when the version was ingested
}

type vulnJSON struct {
	ID           string   `json:"id"`
	Aliases      []string `json:"aliases,omitempty"`
	Summary      string   `json:"summary,omitempty"`
	ReviewStatus string   `json:"review_status"`
	Fixed        string   `json:"fixed,omitempty"`
	URL          string   `json:"url"`
}

// vulnFlags are the vuln command's own flags.
type vulnFlags struct{ json bool }

// registerVulnFlags defines `modgate vuln`'s own flags (--json) on the
// command's flag set; ownFlags returns it for "vuln". Until it does, --json is
// accepted after a "--" (modgate vuln M@V -- --json).
func registerVulnFlags(fs *flag.FlagSet) any {
	f := &vulnFlags{}
	fs.BoolVar(&f.json, "json", false, "print the findings as JSON")
	return f
}

// runVuln is `modgate vuln MODULE@VERSION [--json]`: the findings for one
// version from the synced data, whether or not it was ever fetched.
func runVuln(ctx context.Context, e *env) error {
	fset := flag.NewFlagSet("modgate vuln", flag.ContinueOnError)
	fset.SetOutput(e.stderr)
	asJSON := fset.Bool("json", false, "print JSON")
	if own, ok := e.own.(*vulnFlags); ok && own.json {
		*asJSON = true
	}
	var arg string
	args := e.args
	for len(args) > 0 {
		if err := fset.Parse(args); err != nil {
			return &usageError{msg: err.Error()}
		}
		args = fset.Args()
		if len(args) > 0 {
			if arg != "" {
				return &usageError{msg: "usage: modgate vuln [flags] MODULE@VERSION [--json]"}
			}
			arg, args = args[0], args[1:]
		}
	}
	path, version, ok := strings.Cut(arg, "@")
	if !ok || path == "" || version == "" {
		return &usageError{msg: "usage: modgate vuln [flags] MODULE@VERSION [--json] (e.g. golang.org/x/text@v0.3.5, stdlib@go1.21.3)"}
	}
	m := module.Version{Path: path, Version: version}
	st, sc, err := openScanner(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := sc.Status(ctx)
	if err != nil {
		return err
	}
	if s.SyncedAt.IsZero() {
		return errors.New("no vulnerability data yet: run `modgate vulndb sync` (with the same --database/--data) first")
	}
	vulns, err := sc.Check(ctx, m)
	if err != nil {
		return err
	}
	out := vulnOut{Module: path, Version: version, DBModified: fmtTime(s.DBModified), Vulns: []vulnJSON{}}
	for _, v := range vulns {
		j := vulnJSON{ID: v.ID, Aliases: v.Aliases, Summary: v.Summary, ReviewStatus: v.ReviewStatus, Fixed: v.Fixed,
			URL: "https://pkg.go.dev/vuln/" + v.ID}
		if v.Withdrawn.IsZero() {
			out.Vulns = append(out.Vulns, j)
		} else {
			out.Withdrawn = append(out.Withdrawn, j)
		}
	}
	if f, err := sc.Lookup(ctx, m); err == nil {
		out.Facts = f
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printVulns(e.stdout, m, out)
	if w := staleWarning(s, time.Now()); w != "" {
		fmt.Fprintln(e.stderr, w)
	}
	return nil
}

func printVulns(w io.Writer, m module.Version, out vulnOut) {
	switch len(out.Vulns) {
	case 0:
		fmt.Fprintf(w, "%s: no known vulnerabilities (database as of %s)\n", m, out.DBModified)
	case 1:
		fmt.Fprintf(w, "%s: 1 known vulnerability (database as of %s)\n", m, out.DBModified)
	default:
		fmt.Fprintf(w, "%s: %d known vulnerabilities (database as of %s)\n", m, len(out.Vulns), out.DBModified)
	}
	for _, v := range out.Vulns {
		fmt.Fprintf(w, "\n%s", v.ID)
		if len(v.Aliases) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(v.Aliases, ", "))
		}
		fmt.Fprintf(w, " %s\n", v.ReviewStatus)
		if v.Summary != "" {
			fmt.Fprintf(w, "  %s\n", v.Summary)
		}
		if v.Fixed != "" {
			fmt.Fprintf(w, "  Fixed in: %s\n", v.Fixed)
		} else {
			fmt.Fprintf(w, "  Fixed in: no fixed version\n")
		}
		fmt.Fprintf(w, "  More info: %s\n", v.URL)
	}
	for _, v := range out.Withdrawn {
		fmt.Fprintf(w, "\nwithdrawn (not counted): %s %s\n", v.ID, v.Summary)
	}
	if f := out.Facts; f != nil {
		fmt.Fprintf(w, "\nstored facts (updated %s):\n", fmtTime(f.UpdatedAt))
		if f.LicensesKnown {
			fmt.Fprintf(w, "  licenses: %s\n", strings.Join(f.Licenses, ", "))
		}
		if f.Retracted {
			fmt.Fprintf(w, "  retracted: %s\n", f.Rationale)
		}
		if f.Deprecated {
			fmt.Fprintf(w, "  deprecated: %s\n", f.Deprecation)
		}
		if f.PublishedKnown() && f.PublishedSource == store.PublishedSumDB {
			fmt.Fprintf(w, "  published: no later than %s (%s)\n", fmtTime(f.Published), f.PublishedSource)
		} else if f.PublishedKnown() {
			fmt.Fprintf(w, "  published: %s (%s)\n", fmtTime(f.Published), f.PublishedSource)
		} else {
			fmt.Fprintf(w, "  published: unknown (%s %s: not a publication time)\n", f.PublishedSource, fmtTime(f.Published))
		}
		for _, r := range f.VulnerableRequires {
			var ids []string
			for _, v := range r.Vulns {
				ids = append(ids, v.ID)
			}
			fmt.Fprintf(w, "  requires vulnerable %s: %s\n", r.Module, strings.Join(ids, " "))
		}
	}
}
