package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/scanner"
)

// registerRecheck defines the settings of the upstream recheck (takedowns,
// moved tags: see scanner.Scanner.Recheck).
func (c *config) registerRecheck(fs *flag.FlagSet) {
	fs.DurationVar(&c.RecheckInterval, "recheck-interval", 24*time.Hour, "how often serve asks the upstreams again about every cached version (takedowns, moved tags); 0: never")
	fs.Float64Var(&c.RecheckRate, "recheck-rate", 5, "most upstream requests per second of a recheck")
}

func (c *config) validateRecheck() []error {
	var errs []error
	if c.RecheckInterval < 0 {
		errs = append(errs, fmt.Errorf("--recheck-interval %v: must not be negative (0: off)", c.RecheckInterval))
	}
	if !(c.RecheckRate > 0) || c.RecheckRate > 1000 {
		errs = append(errs, fmt.Errorf("--recheck-rate %v: want a number of requests per second above 0, at most 1000", c.RecheckRate))
	}
	return errs
}

// recheckUpstream asks the upstream router again about a version, with
// Disable-Module-Fetch, for scanner.Recheck.
type recheckUpstream struct{ r *upstream.Router }

// maxRecheckBody is how much of a recheck's answer is read: a .info is far
// smaller; of a .mod only the status counts.
const maxRecheckBody = 64 << 10

func (u recheckUpstream) Recheck(ctx context.Context, source string, m module.Version, kind store.Kind) (int, []byte, error) {
	resp, err := u.r.Recheck(ctx, source, upstream.Request{Path: m.Path, Version: m.Version, Kind: upstream.Kind(kind)})
	if err != nil {
		if errors.Is(err, upstream.ErrNoRecheck) {
			return 0, nil, fmt.Errorf("%w: %w", scanner.ErrNoRecheck, err)
		}
		var se *upstream.StatusError
		if errors.As(err, &se) {
			return se.Code, nil, err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRecheckBody))
	if err != nil {
		return 0, nil, err
	}
	return 200, body, nil
}

// newRouter builds the upstream router from the settings; it does no I/O.
func newRouter(cfg config, e *env) (*upstream.Router, error) {
	up, err := upstream.New(upstream.Options{
		Public:           cfg.Upstream,
		Private:          cfg.PrivateUpstream,
		PrivatePatterns:  cfg.Private,
		Timeout:          cfg.UpstreamTimeout,
		IdleTimeout:      cfg.IdleTimeout,
		MinRate:          cfg.minRate(),
		RedirectAllow:    cfg.UpstreamRedirectAllow,
		DirectAllow:      cfg.DirectAllow,
		DirectMaxPerHost: cfg.DirectMaxPerHost,
		DirectMaxTotal:   cfg.DirectMaxTotal,
		WorkDir:          filepath.Join(cfg.Data, "direct"),
		Logger:           e.log,
	})
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return up, nil
}

// startRecheck rechecks in the background until ctx ends (--recheck-interval
// 0: never); audit receives the records of its findings. Its totals are
// metrics.
func startRecheck(ctx context.Context, cfg config, sc *scanner.Scanner, up *upstream.Router, audit func(*store.AuditEvent), reg prometheus.Registerer) {
	if cfg.RecheckInterval <= 0 {
		return
	}
	count := func(name, help string, f func(scanner.RecheckCounts) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(sc.RecheckCounts())) })
	}
	reg.MustRegister(
		count("modgate_recheck_requests_total", "Upstream requests of rechecks (Disable-Module-Fetch).", func(c scanner.RecheckCounts) int64 { return c.Asked }),
		count("modgate_recheck_transient_failures_total", "Rechecks that failed transiently (5xx, timeouts): never takedowns.", func(c scanner.RecheckCounts) int64 { return c.Transient }),
		count("modgate_recheck_withdrawn_total", "Versions found withdrawn upstream.", func(c scanner.RecheckCounts) int64 { return c.Withdrawn }),
		count("modgate_recheck_returned_total", "Withdrawn versions found served again.", func(c scanner.RecheckCounts) int64 { return c.Returned }),
		count("modgate_recheck_origin_changed_total", "Versions whose Origin.Hash changed (moved tags), found by rechecks.", func(c scanner.RecheckCounts) int64 { return c.Changed }),
	)
	go sc.RunRecheck(ctx, cfg.RecheckInterval, scanner.RecheckOptions{Upstream: recheckUpstream{up}, Rate: cfg.RecheckRate, Audit: audit})
}

// runRecheck is "modgate recheck": one pass over every cached version now,
// at --recheck-rate, with a summary.
func runRecheck(ctx context.Context, e *env) error {
	if len(e.args) > 0 {
		return &usageError{msg: fmt.Sprintf("recheck takes no arguments, got %q", e.args)}
	}
	st, sc, err := openScanner(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	up, err := newRouter(e.cfg, e)
	if err != nil {
		return err
	}
	var events []*store.AuditEvent
	res, err := sc.Recheck(ctx, scanner.RecheckOptions{Upstream: recheckUpstream{up}, Rate: e.cfg.RecheckRate,
		Audit: func(ev *store.AuditEvent) { events = append(events, ev) }})
	if len(events) > 0 {
		if aerr := st.AppendAudit(ctx, events); aerr != nil {
			return errors.Join(err, fmt.Errorf("audit log: %w", aerr))
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rechecked in %v: %d asked (%d served, %d refused, %d transient failures), %d skipped, %d no longer cached\n",
		res.Duration.Round(time.Millisecond), res.Asked, res.Served, res.Refused, res.Transient, res.Skipped, res.Gone)
	fmt.Fprintf(e.stdout, "new findings: %d withdrawn upstream, %d returned upstream, %d origin changed\n", res.Withdrawn, res.Returned, res.Moved)
	for _, ev := range res.Events {
		fmt.Fprintf(e.stdout, "%s: %s: %s\n", ev.Module, ev.Finding, ev.Detail)
	}
	if res.Aborted {
		fmt.Fprintln(e.stdout, "the pass ended early: the upstream kept failing (transient failures are never takedowns)")
	}
	if res.NotifyErr != nil {
		return fmt.Errorf("webhook: %w", res.NotifyErr)
	}
	return nil
}
