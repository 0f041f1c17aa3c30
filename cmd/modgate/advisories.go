package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/scanner"
)

// advisoryList is --advisories split at commas, blanks dropped.
func (c *config) advisoryList() []string {
	var out []string
	for _, a := range strings.Split(c.Advisories, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// advisoriesInterval is how often serve syncs the feeds: --advisories-interval,
// else --vulndb-interval.
func (c *config) advisoriesInterval() time.Duration {
	if c.FeedsInterval > 0 {
		return c.FeedsInterval
	}
	return c.VulnDBInterval
}

// feedOut is one feed in /vulndb-status and `modgate vulndb status`.
type feedOut struct {
	Source      string   `json:"source"`
	SyncedAt    string   `json:"synced_at,omitempty"`
	AttemptedAt string   `json:"attempted_at,omitempty"`
	LastError   string   `json:"last_error,omitempty"`
	Entries     int      `json:"entries"`
	Refused     []string `json:"refused,omitempty"`
	// Failing: the last attempt failed, the last good copy (Entries records,
	// synced at SyncedAt) is in use.
	Failing bool `json:"failing"`
}

func feedsJSON(ctx context.Context, sc *scanner.Scanner) ([]feedOut, error) {
	sts, err := sc.FeedStatus(ctx)
	if err != nil {
		return nil, err
	}
	var out []feedOut
	for _, st := range sts {
		out = append(out, feedOut{Source: st.Source, SyncedAt: fmtTime(st.SyncedAt), AttemptedAt: fmtTime(st.AttemptedAt),
			LastError: st.LastError, Entries: st.Entries, Refused: st.Refused, Failing: st.Failing})
	}
	return out, nil
}

// syncFeeds is the --advisories part of `modgate vulndb sync`.
func syncFeeds(ctx context.Context, e *env, sc *scanner.Scanner) error {
	res, err := sc.SyncAdvisories(ctx)
	for _, r := range res {
		if r.Entries == 0 && r.Duration == 0 {
			continue
		}
		fmt.Fprintf(e.stdout, "advisories %s synced in %v: %d records (%d added, %d updated, %d removed, %d unchanged)\n",
			r.Source, r.Duration.Round(time.Millisecond), r.Entries, len(r.Added), len(r.Updated), len(r.Removed), r.Unchanged)
		if len(r.Refused) > 0 {
			fmt.Fprintf(e.stdout, "refused %d files: %s\n", len(r.Refused), strings.Join(r.Refused, "; "))
		}
		for _, f := range r.Learnt {
			fmt.Fprintf(e.stdout, "  %s: %s\n", f.Module, f.VulnID)
		}
	}
	if err != nil {
		return fmt.Errorf("%w\nThe last good copy of each feed stays in use; check --advisories, then run `modgate vulndb sync` again", err)
	}
	return nil
}

// registerFeedMetrics exports each feed's state, labelled by its URL.
func registerFeedMetrics(reg prometheus.Registerer, sc *scanner.Scanner) {
	status := func(i int) scanner.FeedStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sts, err := sc.FeedStatus(ctx)
		if err != nil || i >= len(sts) {
			return scanner.FeedStatus{Failing: true}
		}
		return sts[i]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sts, _ := sc.FeedStatus(ctx)
	for i, st := range sts {
		labels := prometheus.Labels{"source": st.Source}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_advisories_entries", ConstLabels: labels,
				Help: "Records stored from an --advisories feed."},
				func() float64 { return float64(status(i).Entries) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_advisories_last_success_timestamp_seconds", ConstLabels: labels,
				Help: "When the feed's last successful sync ended (Unix seconds)."},
				func() float64 { return unix(status(i).SyncedAt) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "modgate_advisories_failing", ConstLabels: labels,
				Help: "1 when the feed's last sync failed (its last good copy is in use)."},
				func() float64 {
					if status(i).Failing {
						return 1
					}
					return 0
				}),
		)
	}
}
