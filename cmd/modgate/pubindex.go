package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/index"
)

// registerIndex defines the settings of the module index feed, the source of
// publication times for min_age.
func (c *config) registerIndex(fs *flag.FlagSet) {
	fs.StringVar(&c.Index, "index", index.DefaultURL, "module index feed `URL` (the index.golang.org protocol) followed for publication times (min_age), or off")
	fs.DurationVar(&c.IndexInterval, "index-interval", time.Minute, "how often serve reads the module index once it has caught up (while catching up: a page of 2000 lines a second)")
}

// startIndex follows the module index in the background until ctx ends, and
// exports how far it has read as metrics; with --index off it does nothing.
// The index is read only while the policy in force has a min_age rule.
func startIndex(ctx context.Context, cfg config, st store.Store, pol func() *policy.Policy, reg prometheus.Registerer, log *slog.Logger) error {
	if cfg.Index == "off" {
		return nil
	}
	state := func() store.IndexState {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, _ := st.IndexState(ctx) // zero on error: "never read"
		return s
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_index_since_timestamp_seconds",
			Help: "Timestamp of the newest module index entry stored (Unix seconds): the index is followed up to there; 0 before the first page."},
			func() float64 { return unix(state().Since) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_index_entries",
			Help: "Module index entries stored in all."},
			func() float64 { return float64(state().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_index_caught_up",
			Help: "1 when the last page read reached the end of the module index, else 0."},
			func() float64 {
				if state().CaughtUp {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_index_read_failing",
			Help: "1 when the last read of the module index failed (the log says why), else 0."},
			func() float64 {
				if state().LastError != "" {
					return 1
				}
				return 0
			}),
	)
	wanted := func() bool { return pol().UsesPublished() }
	f, err := index.New(index.Options{Store: st, URL: cfg.Index, Logger: log, Interval: cfg.IndexInterval, Wanted: wanted})
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	go f.Run(ctx)
	return nil
}
