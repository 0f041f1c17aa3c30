package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/scanner"
)

func runServe(ctx context.Context, e *env) error {
	if len(e.args) > 0 {
		return &usageError{msg: fmt.Sprintf("serve takes no arguments, got %q", e.args)}
	}
	cfg := e.cfg
	limit, from, err := applyMemoryLimit(cfg.MemoryLimit)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	e.log.Debug("memory limit", "bytes", limit, "from", from)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := openBlobs(ctx, cfg, cfg.BlobRedirect)
	if err != nil {
		return err
	}
	sweepTempOnce(blobs, cfg.FetchTimeout+time.Hour, e.log)
	go sweepTemp(ctx, blobs, 10*time.Minute, cfg.FetchTimeout+time.Hour, e.log)
	up, err := newRouter(cfg, e)
	if err != nil {
		return err
	}
	sumdb, err := sumDBPassThrough(cfg.SumDB, up, cfg.UpstreamTimeout, e.log)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	auditor, checkpoints, err := newAuditWriter(ctx, cfg, st, reg, e)
	if err != nil {
		return err
	}
	defer func() {
		// After the server and its fetches stopped: flush every record.
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := auditor.Close(ctx); err != nil {
			e.log.Error("audit log: records lost at shutdown", "err", err.Error())
		}
	}()
	trusted, err := audit.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return &usageError{msg: "--trusted-proxies: " + err.Error()}
	}
	authn := newAuthenticator(cfg, st, trusted, e)
	go audit.RunRetention(ctx, st, time.Duration(cfg.AuditRetention), 6*time.Hour, time.Now, e.log)
	verifier, err := newVerifier(cfg, st, sumdb, e.log, auditor)
	if err != nil {
		return err
	}
	if err := verifier.Refresh(ctx); err != nil { // a fork recorded before this start is in force at once
		return err
	}
	go verifier.Watch(ctx, 5*time.Second)
	if _, err := checkpoints.Publish(ctx); err != nil {
		e.log.Error("publishing the audit checkpoint at start", "err", err.Error())
	}
	if cfg.AuditCheckpointInterval > 0 {
		go checkpoints.Run(ctx, cfg.AuditCheckpointInterval)
	}
	policies, err := loadPolicy(cfg.Policy, e.log, auditor)
	if err != nil {
		return err
	}
	go policies.watch(ctx, 2*time.Second)
	sc, err := newScanner(cfg, st, e.log)
	if err != nil {
		return err
	}
	sc.LicensesFrom(func() []string { return policies.Current().DeniedLicenses() }) // a denied license is always recognised
	px, err := proxy.New(proxy.Options{
		Store:          st,
		Blobs:          blobs,
		Upstream:       up,
		Verifier:       verifier,
		Scanner:        sc,
		Resemblance:    newResemblance(st, blobs, e.log, cfg.Database == ""),
		IndexOff:       cfg.Index == "off",
		SBOM:           sbomBase(cfg),
		SBOMs:          st,
		Policy:         policies.Current,
		Exemptions:     st,
		Audit:          auditor,
		TrustedProxies: trusted,
		SumDB:          sumdb,
		ListTTL:        cfg.ListTTL,
		FetchTimeout:   cfg.FetchTimeout,
		FetchLeaseTTL:  cfg.FetchLeaseTTL,
		NoPrefetch:     !cfg.SumDBPrefetch,
		NoReadAhead:    cfg.ReadAhead == readAheadOff,
		NoZipReadAhead: cfg.ReadAhead == readAheadMods,
		MissingTTL:     notFoundTTL(cfg.NotFoundTTL),
		Logger:         e.log,
		Metrics:        proxy.NewMetrics(reg),
		DashboardPath:  "/ui",            // refusals link the version's page
		VulnStatusPath: "/vulndb-status", // and, for missing data, its state
	})
	if err != nil {
		return err
	}

	var draining atomic.Bool // set on SIGTERM: /readyz answers 503 from then on
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: shutting down (draining: in-flight requests finish, new ones go to other replicas)\n"))
			return
		}
		if err := px.Ready(ctx); err != nil {
			e.log.Error("not ready", "err", err.Error())
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		w.Write([]byte("ready\n"))
		for _, warning := range px.Warnings(ctx) {
			fmt.Fprintf(w, "warning: %s\n", warning)
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// The API needs the roles of auth.Need (the middleware wraps the mux).
	mux.Handle("GET /api/audit/export", audit.ExportHandler(auditor.Synced(st), e.log))
	mux.Handle("GET /api/audit/checkpoint", audit.CheckpointHandler(st, e.log))
	mux.Handle("GET /api/policy", policies)
	mux.Handle("GET /api/decision/", px.DecisionHandler())
	mux.Handle("POST /api/policy/reload", policies)
	mountVulnDB(mux, reg, sc, e.log)
	mountSBOM(mux, cfg, st, e)
	if err := mountUI(mux, cfg, st, auditor.Synced(st), policies, px, authn, e); err != nil { // the dashboard and its API
		return err
	}
	vulnCtx, stopVuln := context.WithCancel(ctx)
	defer stopVuln()
	if cfg.VulnDB != "off" {
		go sc.Run(vulnCtx, cfg.VulnDBInterval) // periodic sync; the copy in the database serves meanwhile
	}
	if err := startIndex(vulnCtx, cfg, st, policies.Current, reg, e.log); err != nil { // publication times for min_age
		return err
	}
	go sc.RunAdvisories(vulnCtx, cfg.advisoriesInterval()) // --advisories feeds, if any
	startRecheck(vulnCtx, cfg, sc, up, auditor.Log, reg)   // takedowns and moved tags upstream
	mux.Handle("/", px)

	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return err
	}
	if cfg.DebugListen != "" { // profiles on their own listener, never on the main one
		if err := startDebug(ctx, cfg.DebugListen, e.log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           authn.Middleware(mux), // authentication first, then routing: see auth.Need
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	e.log.Info("listening", "addr", ln.Addr().String(), "version", version(),
		"database", databaseKind(cfg.Database), "data", cfg.Data, "blob_store", blobs.String(), "upstream", redactList(cfg.Upstream),
		"auth", cfg.Auth, "tls", tlsCfg != nil)
	errc := make(chan error, 1)
	go func() { errc <- serveOn(srv, ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain: /readyz fails first so a load balancer stops sending requests
	// here (they are still served meanwhile, without keep-alive so clients
	// reconnect elsewhere); then the listener closes and in-flight requests
	// and fetches finish.
	draining.Store(true)
	srv.SetKeepAlivesEnabled(false)
	if cfg.DrainDelay > 0 {
		e.log.Info("draining: /readyz answers 503", "drain_delay", cfg.DrainDelay)
		time.Sleep(cfg.DrainDelay)
	}
	e.log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	px.Shutdown() // read-ahead fetches not started yet are dropped
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	e.log.Info("stopped")
	return nil
}

// sweepTemp removes the temporary files of dead ingests (see
// [blob.Store.SweepTemp]) now and every interval until ctx is done. Files that
// name no owner go once older than minAge, which exceeds the longest fetch.
func sweepTemp(ctx context.Context, blobs blob.Store, interval, minAge time.Duration, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		sweepTempOnce(blobs, minAge, log)
	}
}

func sweepTempOnce(blobs blob.Store, minAge time.Duration, log *slog.Logger) {
	n, err := blobs.SweepTemp(minAge)
	if err != nil {
		log.Warn("removing temporary files of dead ingests", "err", err.Error())
	}
	if n > 0 {
		log.Info("removed temporary files of dead ingests", "files", n)
	}
}

// newVerifier builds the checksum verifier: public modules against the
// configured checksum database, reached where the pass-through reaches it;
// --private and --nosumdb modules pinned in the checksum store.
func newVerifier(cfg config, st store.Store, pass proxy.SumDB, log *slog.Logger, auditor proxy.Auditor) (*verify.Verifier, error) {
	db, err := verify.ParseSumDB(cfg.SumDB)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return verify.New(verify.Options{
		Store:        st,
		SumDB:        db,
		Remote:       pass.Remote,
		NoSumDB:      joinPatterns(cfg.Private, cfg.NoSumDB),
		AllowUnknown: cfg.AllowUnknown,
		FailOpen:     cfg.SumDBFailOpen,
		Logger:       log,
		OnSecurityError: func(msg string) {
			auditor.Log(&store.AuditEvent{Type: store.AuditSecurity, Decision: store.DecisionError,
				Reasons: []string{"checksum database " + db.Name + " misbehaving: " + msg}})
		},
	})
}

func joinPatterns(lists ...string) string {
	var parts []string
	for _, l := range lists {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, ",")
}

// sumDBPassThrough resolves how the checksum database is reached, for the
// /sumdb/ pass-through and the verifier alike: the URL in the setting, else as
// the go command does through the upstream list (each proxy's
// /sumdb/<name>/supported, falling through as ',' and '|' say), else the
// database itself (see verify.Remote).
func sumDBPassThrough(setting string, up *upstream.Router, timeout time.Duration, log *slog.Logger) (proxy.SumDB, error) {
	db, err := verify.ParseSumDB(setting)
	if err != nil || db.Off {
		return proxy.SumDB{}, err
	}
	remote, err := verify.NewRemote(verify.RemoteOptions{SumDB: db, Proxies: up.PublicEntries(),
		Client: &http.Client{Timeout: timeout, CheckRedirect: up.CheckRedirect()}, Logger: log})
	if err != nil {
		return proxy.SumDB{}, fmt.Errorf("--sumdb: %w", err)
	}
	return proxy.SumDB{Name: db.Name, URL: db.URL, Remote: remote}, nil
}

// notFoundTTL is --not-found-ttl for proxy.Options.MissingTTL, where 0
// means the default and a negative value means off.
func notFoundTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func databaseKind(dsn string) string {
	if dsn == "" {
		return "sqlite"
	}
	return "postgres"
}

// redactList removes credentials from the URLs of a GOPROXY-syntax list, for logs.
func redactList(list string) string {
	entries, err := upstream.ParseList(list)
	if err != nil {
		return "(invalid list)"
	}
	var b strings.Builder
	for i, e := range entries {
		b.WriteString(e.Redacted())
		if i < len(entries)-1 {
			if e.FallbackOnAnyError {
				b.WriteByte('|')
			} else {
				b.WriteByte(',')
			}
		}
	}
	return b.String()
}

// newResemblance is the look-alike and clone checker of serve
// (scanner.Resemblance); oneProcess is set with SQLite, the store of one
// serve.
func newResemblance(st store.Store, blobs blob.Store, log *slog.Logger, oneProcess bool) *scanner.Resemblance {
	return scanner.NewResemblance(scanner.ResemblanceOptions{Store: st, Local: blobs.Local, Capabilities: scanner.CloneCapabilities,
		Logger: log, OneProcess: oneProcess})
}
