package scanner

import (
	"context"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// The publish time recorded at ingest: the earliest trusted source (the
// module index, the upstream's Last-Modified), else first seen; never a
// backdated .info Time.
func TestFactsPublished(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	s, _ := newScanner(t, st, fileURL(t.TempDir()), func(o *Options) { o.Now = func() time.Time { return now } })
	listed := now.Add(-time.Hour)
	backdated := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	mod := func(path string) []byte { return []byte("module " + path + "\n") }
	ver := func(path string) module.Version { return module.Version{Path: path, Version: "v1.0.0"} }
	if err := st.PutIndexPage(ctx, []store.IndexEntry{
		{Module: ver("example.com/listed"), Timestamp: listed},
		{Module: ver("example.com/both"), Timestamp: listed},
	}, store.IndexState{Since: listed}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path    string
		opts    []FactOption
		want    time.Time
		wantSrc string
	}{
		{"example.com/listed", nil, listed, store.PublishedIndex},
		// Listed, and a later Last-Modified: the earlier.
		{"example.com/both", []FactOption{WithPublished(now.Add(-time.Minute), store.PublishedUpstream)}, listed, store.PublishedIndex},
		{"example.com/upstream", []FactOption{WithPublished(now.Add(-time.Minute), store.PublishedUpstream)}, now.Add(-time.Minute), store.PublishedUpstream},
		// An .info Time is never better than first sight.
		{"example.com/backdated", []FactOption{WithPublished(backdated, store.PublishedInfo)}, now, store.PublishedFirstSeen},
		{"example.com/unlisted", nil, now, store.PublishedFirstSeen},
	} {
		f, err := s.Facts(ctx, ver(tc.path), mod(tc.path), "", tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Published.Equal(tc.want) || f.PublishedSource != tc.wantSrc {
			t.Errorf("%s: published %v (%s), want %v (%s)", tc.path, f.Published, f.PublishedSource, tc.want, tc.wantSrc)
		}
	}
	// Listed after ingest: the index follower dates the stored facts.
	if err := st.PutIndexPage(ctx, []store.IndexEntry{{Module: ver("example.com/unlisted"), Timestamp: listed}}, store.IndexState{Since: listed}); err != nil {
		t.Fatal(err)
	}
	f, err := s.Lookup(ctx, ver("example.com/unlisted"))
	if err != nil || !f.Published.Equal(listed) || f.PublishedSource != store.PublishedIndex {
		t.Errorf("after the index listed it: %+v, %v", f, err)
	}
	// And a later ingest keeps it.
	now = now.Add(time.Hour)
	if f, err = s.Facts(ctx, ver("example.com/unlisted"), mod("example.com/unlisted"), ""); err != nil || !f.Published.Equal(listed) || f.PublishedSource != store.PublishedIndex {
		t.Errorf("after a second ingest: %+v, %v", f, err)
	}
}
