package scanner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// fakeUpstream answers rechecks from a table, to inject takedowns and
// failures; it records what it was asked.
type fakeUpstream struct {
	mu      sync.Mutex
	answers map[string]fakeAnswer // by "path@version"
	asked   []string              // "source path@version.kind"
}

type fakeAnswer struct {
	status int
	body   string
	err    error
}

func (f *fakeUpstream) set(m string, a fakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[m] = a
}

func (f *fakeUpstream) Recheck(ctx context.Context, source string, m module.Version, kind store.Kind) (int, []byte, error) {
	if source == "direct" {
		return 0, nil, fmt.Errorf("direct: %w", ErrNoRecheck)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, source+" "+m.String()+"."+string(kind))
	a, ok := f.answers[m.String()]
	if !ok {
		return http.StatusInternalServerError, nil, errors.New("no answer set")
	}
	if a.status != http.StatusOK && a.err == nil {
		a.err = fmt.Errorf("upstream answered %d", a.status)
	}
	return a.status, []byte(a.body), a.err
}

func (f *fakeUpstream) takeAsked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.asked
	f.asked = nil
	return out
}

func infoJSON(version, hash string) string {
	b, _ := json.Marshal(map[string]any{"Version": version, "Time": "2024-01-02T03:04:05Z",
		"Origin": map[string]string{"VCS": "git", "URL": "https://example.com/repo", "Hash": hash, "Ref": "refs/tags/" + version}})
	return string(b)
}

// cache stores an artifact of m as an ingest would, and its upstream row.
func cache(t *testing.T, st Store, sc *Scanner, m module.Version, kind store.Kind, source, data string) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(data))
	if _, err := st.PutArtifact(ctx, &store.Artifact{Module: m, Kind: kind, SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(data)), Data: []byte(data), Upstream: source}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.RecordOrigin(ctx, m, source, []byte(data), kind, nil); err != nil {
		t.Fatal(err)
	}
}

const (
	hashX = "1111111111111111111111111111111111111111"
	hashY = "2222222222222222222222222222222222222222"
)

// TestRecheckFindings: a version the upstream now refuses is withdrawn (and
// audited, and posted to the webhook), and returned when served again; a
// 503 or a timeout is never a takedown however often it repeats; a moved
// tag is an origin change; direct versions are not asked; versions whose
// .info modgate never fetched are asked about their .mod; nothing else is
// asked.
func TestRecheckFindings(t *testing.T) {
	st := newStore(t)
	var posted []Notification
	var hookMu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n Notification
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook body: %v\n%s", err, body)
		}
		hookMu.Lock()
		posted = append(posted, n)
		hookMu.Unlock()
	}))
	defer hook.Close()
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sc, _ := newScanner(t, st, "file:///nonexistent", func(o *Options) {
		o.NotifyURL = hook.URL
		o.Now = func() time.Time { return clock }
	})
	const src = "https://proxy.example"
	a := module.Version{Path: "example.com/a", Version: "v1.0.0"}
	gone := module.Version{Path: "example.com/gone", Version: "v1.2.3"}
	flaky := module.Version{Path: "example.com/flaky", Version: "v0.1.0"}
	direct := module.Version{Path: "example.com/direct", Version: "v1.0.0"}
	moved := module.Version{Path: "example.com/moved", Version: "v1.2.3"}
	cache(t, st, sc, a, store.KindInfo, src, infoJSON("v1.0.0", hashX))
	cache(t, st, sc, gone, store.KindInfo, src, infoJSON("v1.2.3", hashX))
	cache(t, st, sc, flaky, store.KindMod, src, "module example.com/flaky\n")
	cache(t, st, sc, direct, store.KindInfo, "direct", infoJSON("v1.0.0", hashX))
	cache(t, st, sc, moved, store.KindInfo, src, infoJSON("v1.2.3", hashX))

	up := &fakeUpstream{answers: map[string]fakeAnswer{
		a.String():     {status: 200, body: infoJSON("v1.0.0", hashX)},
		gone.String():  {status: 410},
		flaky.String(): {status: 503},
		moved.String(): {status: 200, body: infoJSON("v1.2.3", hashY)},
	}}
	var audited []*store.AuditEvent
	opts := RecheckOptions{Upstream: up, Audit: func(e *store.AuditEvent) { audited = append(audited, e) },
		Wait: func(context.Context, time.Duration) error { return nil }}
	ctx := context.Background()
	res, err := sc.Recheck(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantAsked := []string{src + " example.com/a@v1.0.0.info", src + " example.com/flaky@v0.1.0.mod",
		src + " example.com/gone@v1.2.3.info", src + " example.com/moved@v1.2.3.info"}
	if diff := cmp.Diff(wantAsked, up.takeAsked()); diff != "" {
		t.Errorf("asked (-want +got):\n%s", diff)
	}
	if res.Asked != 4 || res.Served != 2 || res.Refused != 1 || res.Transient != 1 || res.Skipped != 1 ||
		res.Withdrawn != 1 || res.Moved != 1 || res.Returned != 0 || res.Aborted {
		t.Errorf("first pass: %+v", res)
	}
	stateOf := func(m module.Version) *store.UpstreamState {
		t.Helper()
		u, err := st.UpstreamState(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := stateOf(gone); !u.Withdrawn() || u.WithdrawnStatus != 410 || !u.WithdrawnAt.Equal(clock) {
		t.Errorf("gone after a 410: %+v", u)
	}
	if u := stateOf(flaky); u.Withdrawn() || u.Failures != 1 || u.LastStatus != 503 {
		t.Errorf("flaky after a 503: %+v", u)
	}
	if u := stateOf(moved); !u.OriginChanged() || u.Moved.Hash != hashY || u.Origin.Hash != hashX {
		t.Errorf("moved: %+v", u)
	}
	if u := stateOf(a); u.Withdrawn() || u.OriginChanged() || u.LastStatus != 200 {
		t.Errorf("a: %+v", u)
	}
	// The facts a decision reads carry the state.
	if err := st.PutFacts(ctx, &store.Facts{Module: gone, UpdatedAt: clock}); err != nil {
		t.Fatal(err)
	}
	if f, err := sc.Lookup(ctx, gone); err != nil || !f.Upstream.Withdrawn() {
		t.Errorf("Lookup(gone).Upstream = %+v, %v; want withdrawn", f.Upstream, err)
	}
	var decisions []string
	for _, e := range audited {
		decisions = append(decisions, e.Type+" "+e.Module+"@"+e.Version+" "+e.Decision)
	}
	if diff := cmp.Diff([]string{"upstream example.com/gone@v1.2.3 withdrawn", "upstream example.com/moved@v1.2.3 origin_changed"}, decisions); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}
	if !strings.Contains(audited[1].Reasons[0], "v1.2.3 (refs/tags/v1.2.3) now points to git revision "+hashY+"; it pointed to "+hashX) {
		t.Errorf("origin changed reason: %q", audited[1].Reasons)
	}
	hookMu.Lock()
	if len(posted) != 1 || len(posted[0].Findings) != 2 || posted[0].Findings[0].ID != "withdrawn-upstream" ||
		posted[0].Findings[0].Finding != FindingWithdrawn || posted[0].Findings[1].Module != "example.com/moved" {
		t.Errorf("webhook posts: %+v", posted)
	}
	posted = nil
	hookMu.Unlock()

	// Second pass: gone is back, a is taken down (404), flaky times out:
	// still not a takedown; moved is not reported again.
	clock = clock.Add(24 * time.Hour)
	audited = nil
	up.set(gone.String(), fakeAnswer{status: 200, body: infoJSON("v1.2.3", hashX)})
	up.set(a.String(), fakeAnswer{status: 404})
	up.set(flaky.String(), fakeAnswer{status: 0, err: errors.New("upstream timed out")})
	if res, err = sc.Recheck(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if res.Withdrawn != 1 || res.Returned != 1 || res.Moved != 0 || res.Transient != 1 {
		t.Errorf("second pass: %+v", res)
	}
	if u := stateOf(gone); u.Withdrawn() || !u.ReturnedAt.Equal(clock) {
		t.Errorf("gone after a 200: %+v", u)
	}
	if u := stateOf(flaky); u.Withdrawn() || u.Failures != 2 || u.LastStatus != 0 || u.LastError != "upstream timed out" {
		t.Errorf("flaky after a timeout: %+v", u)
	}
	if u := stateOf(a); !u.Withdrawn() || u.WithdrawnStatus != 404 {
		t.Errorf("a after a 404: %+v", u)
	}
	decisions = nil
	for _, e := range audited {
		decisions = append(decisions, e.Module+" "+e.Decision)
	}
	if diff := cmp.Diff([]string{"example.com/a withdrawn", "example.com/gone returned"}, decisions); diff != "" {
		t.Errorf("second pass audit records (-want +got):\n%s", diff)
	}
	if got, want := sc.RecheckCounts(), (RecheckCounts{Asked: 8, Transient: 2, Withdrawn: 2, Returned: 1, Changed: 1}); got != want {
		t.Errorf("RecheckCounts = %+v, want %+v", got, want)
	}
	// Skip leaves out versions rechecked recently.
	clock = clock.Add(time.Hour)
	opts.Skip = 12 * time.Hour
	if res, err = sc.Recheck(ctx, opts); err != nil || res.Asked != 0 || res.Skipped != 5 {
		t.Errorf("pass with Skip 12h an hour later: %+v, %v; want nothing asked", res, err)
	}
}

// TestRecheckPacing: requests are spaced at 1/Rate, and versions not asked
// (direct) cost no wait.
func TestRecheckPacing(t *testing.T) {
	st := newStore(t)
	sc, _ := newScanner(t, st, "file:///nonexistent", nil)
	up := &fakeUpstream{answers: map[string]fakeAnswer{}}
	for i := range 5 {
		m := module.Version{Path: fmt.Sprintf("example.com/m%d", i), Version: "v1.0.0"}
		src := "https://proxy.example"
		if i == 2 {
			src = "direct"
		}
		cache(t, st, sc, m, store.KindInfo, src, infoJSON("v1.0.0", hashX))
		up.set(m.String(), fakeAnswer{status: 200, body: infoJSON("v1.0.0", hashX)})
	}
	var waits []time.Duration
	asked := 0
	res, err := sc.Recheck(context.Background(), RecheckOptions{Upstream: up, Rate: 4,
		Wait: func(_ context.Context, d time.Duration) error {
			// Every wait comes after a request and before the next.
			if n := len(up.asked); n != asked+1 {
				t.Errorf("wait after %d requests, %d waits before", n, len(waits))
			}
			asked = len(up.asked)
			waits = append(waits, d)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}
	if diff := cmp.Diff(want, waits); diff != "" || res.Asked != 4 {
		t.Errorf("waits (-want +got):\n%s\nresult %+v", diff, res)
	}
	// A cancelled wait ends the pass with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	_, err = sc.Recheck(ctx, RecheckOptions{Upstream: up, Wait: func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Recheck with a cancelled wait: %v", err)
	}
}

// TestRecheckTransientEndsPass: an upstream failing MaxFailures times in a
// row ends the pass early, and makes no version withdrawn.
func TestRecheckTransientEndsPass(t *testing.T) {
	st := newStore(t)
	sc, _ := newScanner(t, st, "file:///nonexistent", nil)
	up := &fakeUpstream{answers: map[string]fakeAnswer{}}
	for i := range 6 {
		m := module.Version{Path: fmt.Sprintf("example.com/m%d", i), Version: "v1.0.0"}
		cache(t, st, sc, m, store.KindInfo, "https://proxy.example", infoJSON("v1.0.0", hashX))
		up.set(m.String(), fakeAnswer{status: 502})
	}
	res, err := sc.Recheck(context.Background(), RecheckOptions{Upstream: up, MaxFailures: 3,
		Wait: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Aborted || res.Asked != 3 || res.Transient != 3 || res.Withdrawn != 0 {
		t.Errorf("result %+v; want aborted after 3 transient failures, nothing withdrawn", res)
	}
	all, err := st.UpstreamFindings(context.Background(), 10)
	if err != nil || len(all) != 0 {
		t.Errorf("findings after transient failures: %+v, %v", all, err)
	}
}

// TestRecordOrigin: the first .info's Origin is kept; a later .info with
// another Hash is an origin change, reported once.
func TestRecordOrigin(t *testing.T) {
	st := newStore(t)
	sc, _ := newScanner(t, st, "file:///nonexistent", nil)
	ctx := context.Background()
	m := module.Version{Path: "example.com/m", Version: "v1.2.3"}
	var audited []*store.AuditEvent
	audit := func(e *store.AuditEvent) { audited = append(audited, e) }
	for i, tc := range []struct {
		info    string
		changed bool
	}{
		{infoJSON("v1.2.3", hashX), false},
		{infoJSON("v1.2.3", hashX), false},
		{`{"Version":"v1.2.3"}`, false},
		{infoJSON("v1.2.3", hashY), true},
		{infoJSON("v1.2.3", hashY), false},
	} {
		ev, err := sc.RecordOrigin(ctx, m, "https://proxy.example", []byte(tc.info), store.KindInfo, audit)
		if err != nil {
			t.Fatal(err)
		}
		if (ev != nil) != tc.changed {
			t.Errorf("step %d: event %+v, want changed %v", i, ev, tc.changed)
		}
	}
	u, err := st.UpstreamState(ctx, m)
	if err != nil || u.Origin.Hash != hashX || u.Moved.Hash != hashY || u.Origin.Ref != "refs/tags/v1.2.3" || u.Source != "https://proxy.example" {
		t.Errorf("state %+v, %v", u, err)
	}
	if len(audited) != 1 || audited[0].Decision != "origin_changed" {
		t.Errorf("audited %+v", audited)
	}
}

// signalUpstream tells a channel about every recheck.
type signalUpstream struct {
	fakeUpstream
	asked chan string
}

func (s *signalUpstream) Recheck(ctx context.Context, source string, m module.Version, kind store.Kind) (int, []byte, error) {
	st, body, err := s.fakeUpstream.Recheck(ctx, source, m, kind)
	select {
	case s.asked <- m.String():
	case <-ctx.Done():
	}
	return st, body, err
}

// TestRunRecheck: serve's loop rechecks by itself, again each interval, and
// stops when its context ends.
func TestRunRecheck(t *testing.T) {
	st := newStore(t)
	sc, _ := newScanner(t, st, "file:///nonexistent", nil)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	cache(t, st, sc, m, store.KindInfo, "https://proxy.example", infoJSON("v1.0.0", hashX))
	up := &signalUpstream{fakeUpstream: fakeUpstream{answers: map[string]fakeAnswer{m.String(): {status: 410}}}, asked: make(chan string, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		sc.RunRecheck(ctx, time.Millisecond, RecheckOptions{Upstream: up})
		close(done)
	}()
	for range 2 { // the first pass, and a later one
		if got := <-up.asked; got != m.String() {
			t.Errorf("asked about %s", got)
		}
	}
	cancel()
	<-done
	if u, err := st.UpstreamState(context.Background(), m); err != nil || !u.Withdrawn() {
		t.Errorf("after RunRecheck: %+v, %v; want withdrawn", u, err)
	}
}
