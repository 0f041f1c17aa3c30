package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
)

// min_age counts only from a publication time no author can set; without
// one the version is held (min_age.unknown), and the reason says why and
// when to ask again.
func TestDecideMinAgeUnknown(t *testing.T) {
	m := mv("example.com/m", "v1.0.0")
	followed := synced
	followed.Index = store.IndexState{Since: now.Add(-10 * time.Minute), ReadAt: now.Add(-time.Minute), CaughtUp: true}
	lagging := synced
	lagging.Index = store.IndexState{Since: now.Add(-100 * time.Hour), AttemptedAt: now.Add(-time.Minute), LastError: "index: 503 Service Unavailable"}
	off := synced
	off.IndexOff = true
	never := synced
	never.Index = store.IndexState{AttemptedAt: now.Add(-2 * time.Minute), LastError: "index: dial tcp: connection refused"}
	backdated := &store.Facts{Published: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), PublishedSource: store.PublishedInfo}
	firstSeen := &store.Facts{Published: now.Add(-1000 * time.Hour), PublishedSource: store.PublishedFirstSeen}
	listed := &store.Facts{Published: now.Add(-100 * time.Hour), PublishedSource: store.PublishedIndex}
	tests := []struct {
		name   string
		policy string
		in     Input
		want   []Finding
	}{
		{"backdated .info time is no publication time", "min_age: 72h\n", Input{Module: m, Facts: backdated, Data: followed},
			[]Finding{{Rule: RuleMinAgeUnknown, Action: Block, Reason: "publication time unknown: the module index has not listed it yet (index followed up to 11:50 UTC); not before 2026-03-13 11:50 UTC"}}},
		{"first seen long ago is no publication time", "min_age: 72h\n", Input{Module: m, Facts: firstSeen, Data: lagging},
			[]Finding{{Rule: RuleMinAgeUnknown, Action: Block, Reason: "publication time unknown: the module index has not listed it yet (index followed up to 2026-03-06 08:00 UTC; last read 11:59 UTC: index: 503 Service Unavailable); retry in a few minutes"}}},
		{"index off", "min_age: 72h\n", Input{Module: m, Facts: firstSeen, Data: off},
			[]Finding{{Rule: RuleMinAgeUnknown, Action: Block, Reason: "publication time unknown: no Last-Modified upstream, no checksum database record dated it, and the module index is off (--index off)"}}},
		{"index never read", "min_age: {age: 72h, action: warn}\n", Input{Module: m, Facts: firstSeen, Data: never},
			[]Finding{{Rule: RuleMinAgeUnknown, Action: Warn, Reason: "publication time unknown: the module index was never read (last read 11:58 UTC: index: dial tcp: connection refused)"}}},
		{"unknown: warn opts out", "min_age: {age: 72h, unknown: warn}\n", Input{Module: m, Facts: backdated, Data: followed},
			[]Finding{{Rule: RuleMinAgeUnknown, Action: Warn, Reason: "publication time unknown: the module index has not listed it yet (index followed up to 11:50 UTC); not before 2026-03-13 11:50 UTC"}}},
		{"a zip without facts", "min_age: 72h\n", Input{Module: m, Zip: true, Capabilities: noCaps, ZipSize: 10, Data: followed},
			[]Finding{{Rule: RuleMinAgeUnknown, Action: Block, Reason: "publication time unknown: the module index has not listed it yet (index followed up to 11:50 UTC); not before 2026-03-13 11:50 UTC"}}},
		{"listed and old enough", "min_age: 72h\n", Input{Module: m, Facts: listed, Data: followed}, nil},
		{"excepted", "min_age: {age: 72h, except: [example.com/m]}\n", Input{Module: m, Facts: backdated, Data: followed}, nil},
		{"min_age off", "", Input{Module: m, Facts: backdated, Data: followed}, nil},
		{"never ingested, no zip", "min_age: 72h\n", Input{Module: m, Data: followed}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.Facts != nil {
				f := *in.Facts
				f.LicensesKnown = true
				in.Facts = &f
			}
			d := mustParse(t, tt.policy).Decide(in, now)
			var got []Finding
			for _, f := range d.Findings {
				if strings.HasPrefix(f.Rule, "min_age") {
					got = append(got, f)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("min_age findings (-want +got):\n%s", diff)
			}
			if len(tt.want) > 0 && tt.want[0].Action == Block && (!d.Blocked || !d.BlockedForData()) {
				t.Errorf("Blocked %v, BlockedForData %v; want both", d.Blocked, d.BlockedForData())
			}
		})
	}
	if _, err := Parse("p.yaml", []byte("min_age: {age: 72h, unknown: off}\n")); err == nil {
		t.Error("min_age.unknown: off accepted; a missing publication time must never pass silently")
	}
}

// The refusal for an unknown publication time fits the go command, says
// why and when, and offers the exemption of that rule.
func TestRefusalMinAgeUnknown(t *testing.T) {
	m := mv("github.com/siruspen/logrus", "v1.9.4")
	data := synced
	data.Index = store.IndexState{Since: now.Add(-10 * time.Minute)}
	d := mustParse(t, "min_age: 72h\n").Decide(Input{Module: m, Data: data, Zip: true, Capabilities: noCaps, ZipSize: 100,
		Facts: &store.Facts{Published: time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), PublishedSource: store.PublishedInfo, LicensesKnown: true, Licenses: []string{"MIT"}}}, now)
	r := Refusal{Module: m, Decision: d, Page: "https://modgate.example/ui/version/github.com/siruspen/logrus/@v/v1.9.4"}
	lines := r.Summary()
	if !Fits(lines) {
		t.Errorf("summary does not fit the go command:\n%s", strings.Join(lines, "\n"))
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"refused by modgate policy (min_age.unknown)", "publication time unknown", "not before 2026-03-13 11:50 UTC",
		"--rule min_age.unknown", r.Page} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
}

// The fast lane turns min_age and min_age.unknown blocks into warnings that
// say why, only with fixes: allow and a fetched version the version fixes.
func TestDecideMinAgeFastLane(t *testing.T) {
	m := mv("golang.org/x/text", "v0.3.8")
	fixes := []store.Finding{{Module: mv("golang.org/x/text", "v0.3.5"), VulnID: "GO-2022-1059", Fixed: "v0.3.8"},
		{Module: mv("golang.org/x/text", "v0.3.6"), VulnID: "GO-2022-1059", Fixed: "v0.3.8"}}
	young := &store.Facts{Published: now.Add(-time.Hour), PublishedSource: store.PublishedIndex, LicensesKnown: true, Licenses: []string{"BSD-3-Clause"}}
	undated := &store.Facts{LicensesKnown: true, Licenses: []string{"BSD-3-Clause"}}
	for _, tc := range []struct {
		name, policy string
		facts        *store.Facts
		fixes        []store.Finding
		want         Action
	}{
		{"young fix", "min_age: {age: 72h, fixes: allow}\n", young, fixes, Warn},
		{"undated fix", "min_age: {age: 72h, fixes: allow}\n", undated, fixes, Warn},
		{"fixes nothing fetched", "min_age: {age: 72h, fixes: allow}\n", young, nil, Block},
		{"hold", "min_age: {age: 72h, fixes: hold}\n", young, fixes, Block},
		{"default holds", "min_age: 72h\n", young, fixes, Block},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.policy)
			d := p.Decide(Input{Module: m, Facts: tc.facts, Fixes: tc.fixes, Data: synced}, now)
			if len(d.Findings) != 1 || d.Findings[0].Action != tc.want || d.Blocked != (tc.want == Block) || d.HeldForAge() != (tc.want == Block) {
				t.Fatalf("decision = %+v, want one min_age finding, %s", d, tc.want)
			}
			if tc.want == Warn && !strings.Contains(d.Findings[0].Reason, "passed early (min_age.fixes: allow): fixes GO-2022-1059 in golang.org/x/text@v0.3.5, fetched here (and 1 more)") {
				t.Errorf("reason = %q", d.Findings[0].Reason)
			}
		})
	}
	if _, err := Parse("p.yaml", []byte("min_age: {age: 72h, fixes: yes}\n")); err == nil {
		t.Error("min_age.fixes: yes accepted")
	}
}

// The exemption the refusal suggests for an unknown publication time is
// one modgate exempt accepts, and it unblocks the version.
func TestMinAgeUnknownExemptionSuggested(t *testing.T) {
	m := mv("example.com/m", "v1.0.0")
	p := mustParse(t, "min_age: 72h\n")
	in := Input{Module: m, Data: synced, Facts: &store.Facts{Published: now, PublishedSource: store.PublishedFirstSeen}}
	d := p.Decide(in, now)
	cmd := ""
	for _, l := range (Refusal{Module: m, Decision: d}).Summary() {
		if strings.Contains(l, "modgate exempt add") {
			cmd = l
		}
	}
	_, rest, ok := strings.Cut(cmd, " --rule ")
	if !ok {
		t.Fatalf("no --rule in the suggested exemption %q", cmd)
	}
	rule, _, _ := strings.Cut(rest, " ")
	e := store.Exemption{ID: 7, Module: m.Path, Versions: m.Version, Rule: rule, Reason: "private mirror", GrantedBy: "alice", ExpiresAt: now.Add(time.Hour)}
	if err := CheckExemption(&e); err != nil {
		t.Fatalf("the suggested exemption --rule %s is refused: %v", rule, err)
	}
	in.Exemptions = []store.Exemption{e}
	if d := p.Decide(in, now); d.Blocked {
		t.Errorf("still blocked with the suggested exemption: %+v", d)
	}
}

// The checksum database dates a version from above (its record was in a tree
// head first seen then): a trusted time min_age counts from, and the reason
// says it is an upper bound.
func TestDecideMinAgeSumDB(t *testing.T) {
	m := mv("example.com/m", "v1.0.0")
	young := &store.Facts{Published: now.Add(-2 * time.Hour), PublishedSource: store.PublishedSumDB, LicensesKnown: true, Licenses: []string{"MIT"}}
	old := &store.Facts{Published: now.Add(-100 * time.Hour), PublishedSource: store.PublishedSumDB, LicensesKnown: true, Licenses: []string{"MIT"}}
	p := mustParse(t, "min_age: 72h\n")
	d := p.Decide(Input{Module: m, Facts: young, Data: synced}, now)
	want := []Finding{{Rule: RuleMinAge, Action: Block, Until: now.Add(70 * time.Hour),
		Reason: "published 2026-03-10T10:00:00Z at the latest (2h ago, checksum database), not known to be older than min_age 72h: allowed from 2026-03-13T10:00:00Z"}}
	if diff := cmp.Diff(want, d.Findings); diff != "" {
		t.Errorf("young (-want +got):\n%s", diff)
	}
	if d := p.Decide(Input{Module: m, Facts: old, Data: synced}, now); len(d.Findings) != 0 {
		t.Errorf("dated 100h ago by the checksum database: %+v, want allowed", d.Findings)
	}
}
