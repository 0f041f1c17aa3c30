package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/index"
)

// registerIndex defines the settings of the module index feed, the source of
// publication times for min_age.
func (c *config) registerIndex(fs *flag.FlagSet) {
	fs.StringVar(&c.Index, "index", index.DefaultURL, "module index feed `URL` (the index.golang.org protocol) followed for publication times (min_age), or off")
	fs.DurationVar(&c.IndexInterval, "index-interval", time.Minute, "how often serve reads the module index once it has caught up (while catching up: a page of 2000 lines a second)")
}

// startIndex follows the module index in the background until ctx ends;
// with --index off it does nothing.
func startIndex(ctx context.Context, cfg config, st store.Store, log *slog.Logger) error {
	if cfg.Index == "off" {
		return nil
	}
	f, err := index.New(index.Options{Store: st, URL: cfg.Index, Logger: log, Interval: cfg.IndexInterval})
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	go f.Run(ctx)
	return nil
}
