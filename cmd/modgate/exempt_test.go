package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
)

// dataEnv is an environment that sets only MODGATE_DATA.
func dataEnv(data string) func(string) string {
	return func(k string) string {
		if k == "MODGATE_DATA" {
			return data
		}
		return ""
	}
}

// modgateIn returns a runner of modgate commands, in process, on the data
// directory data; it returns stdout, stderr and the error.
func modgateIn(t *testing.T, data string) func(args ...string) (string, string, error) {
	return func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, dataEnv(data), &out, &errb)
		return out.String(), errb.String(), err
	}
}

// logged adapts a runner to return stdout and the error, logging stderr when
// the command fails.
func logged(t *testing.T, run func(args ...string) (string, string, error)) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		out, errb, err := run(args...)
		if err != nil {
			t.Logf("modgate %s: stderr:\n%s", strings.Join(args, " "), errb)
		}
		return out, err
	}
}

func TestExemptCommands(t *testing.T) {
	data := t.TempDir()
	modgate := modgateIn(t, data)
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)

	adds := []struct {
		args []string
		want string // stdout
	}{
		{[]string{"--module", "example.com/m", "--versions", "v1.2.3", "--rule", "GHSA-p782-xgp4-8hr8",
			"--reason", "not reachable from our code", "--by", "alice", "--expires", future},
			"exemption 1 added: example.com/m v1.2.3, GHSA-p782-xgp4-8hr8, until " + future + "\n"},
		{[]string{"--module", "corp.example.com/*", "--rule", "min_age", "--reason", "our own modules", "--by", "bob", "--expires", "2099-01-01"},
			"exemption 2 added: corp.example.com/* every version, min_age, until 2099-01-01T00:00:00Z\n"},
	}
	for _, a := range adds {
		out, stderr, err := modgate(append([]string{"exempt", "add"}, a.args...)...)
		if err != nil {
			t.Fatalf("exempt add %v: %v\n%s", a.args, err, stderr)
		}
		if out != a.want {
			t.Errorf("exempt add %v printed %q, want %q", a.args, out, a.want)
		}
	}
	// An expired exemption (the command refuses to add one).
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddExemption(context.Background(), &store.Exemption{Module: "example.com/old", Versions: ">=v1.2.0,<v1.3.0",
		Reason: "migration\nunder way", GrantedBy: "carol", ExpiresAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, _, err := modgate("exempt", "list")
	if err != nil {
		t.Fatal(err)
	}
	want := "ID  MODULE              VERSIONS  RULE                 EXPIRES               BY     REASON\n" +
		"1   example.com/m       v1.2.3    GHSA-p782-xgp4-8hr8  " + future + "  alice  not reachable from our code\n" +
		"2   corp.example.com/*  *         min_age              2099-01-01T00:00:00Z  bob    our own modules\n" +
		"(1 expired exemptions not shown; --all shows them)\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("exempt list (-want +got):\n%s", diff)
	}
	out, _, err = modgate("exempt", "list", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "3   example.com/old") || !strings.Contains(out, "(expired)") || !strings.Contains(out, "migration under way") {
		t.Errorf("exempt list --all does not show the expired exemption on one line:\n%s", out)
	}

	out, _, err = modgate("exempt", "rm", "2")
	if err != nil {
		t.Fatal(err)
	}
	if want := "exemption 2 removed: corp.example.com/* every version, min_age\n"; out != want {
		t.Errorf("exempt rm printed %q, want %q", out, want)
	}
	if _, _, err := modgate("exempt", "rm", "2"); err == nil || !strings.Contains(err.Error(), "no exemption 2") {
		t.Errorf("exempt rm of a removed exemption: %v, want an error saying there is none", err)
	}

	// Every change left an audit record.
	st, err = sqlite.Open(context.Background(), filepath.Join(data, "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.AuditEvents(context.Background(), store.AuditQuery{Type: store.AuditAdmin})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Decision, Module, Version string
		Reasons                   []string
	}
	var got []rec
	for _, ev := range events {
		got = append(got, rec{ev.Decision, ev.Module, ev.Version, ev.Reasons})
	}
	wantRecs := []rec{
		{"exemption added", "example.com/m", "v1.2.3", []string{"rule: GHSA-p782-xgp4-8hr8", "reason: not reachable from our code", "by: alice", "expires: " + future, "id: 1"}},
		{"exemption added", "corp.example.com/*", "", []string{"rule: min_age", "reason: our own modules", "by: bob", "expires: 2099-01-01T00:00:00Z", "id: 2"}},
		{"exemption removed", "corp.example.com/*", "", []string{"rule: min_age", "reason: our own modules", "by: bob", "expires: 2099-01-01T00:00:00Z", "id: 2"}},
	}
	if diff := cmp.Diff(wantRecs, got); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}
	list, err := st.ListExemptions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != 1 || list[1].ID != 3 {
		t.Errorf("stored exemptions after rm: %+v", list)
	}
}

func TestExemptErrors(t *testing.T) {
	data := t.TempDir()
	modgate := modgateIn(t, data)
	valid := []string{"--module", "example.com/m", "--reason", "r", "--by", "alice", "--expires", "30d"}
	with := func(name, value string) []string {
		args := []string{"exempt", "add"}
		replaced := false
		for i := 0; i < len(valid); i += 2 {
			if valid[i] == "--"+name {
				replaced = true
				if value == "" {
					continue
				}
				args = append(args, valid[i], value)
				continue
			}
			args = append(args, valid[i], valid[i+1])
		}
		if !replaced {
			args = append(args, "--"+name, value)
		}
		return args
	}
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no module", with("module", ""), "--module is required"},
		{"no reason", with("reason", ""), "--reason is required"},
		{"no grantor", with("by", ""), "--by is required"},
		{"no expiry", with("expires", ""), "--expires is required"},
		{"expiry in the past", with("expires", "2020-01-01"), `--expires "2020-01-01": 2020-01-01T00:00:00Z is not in the future`},
		{"negative duration", with("expires", "-1h"), "is not in the future"},
		{"bad expiry", with("expires", "soon"), `--expires "soon": want a duration from now (720h, 30d) or a time`},
		{"bad module", with("module", "not a path"), `module path pattern "not a path"`},
		{"module with version", with("module", "example.com/m@v1.0.0"), `module path pattern "example.com/m@v1.0.0"`},
		{"bad versions", with("versions", "<1.4"), `version constraint "<1.4"`},
		{"bad rule", with("rule", "vulns"), `rule "vulns": want a rule`},
		{"list flag on add", with("all", "true"), "exempt add does not take --all"},
		{"add flag on list", []string{"exempt", "list", "--module", "example.com/m"}, "exempt list does not take --module"},
		{"rm without ID", []string{"exempt", "rm"}, "usage:"},
		{"rm bad ID", []string{"exempt", "rm", "one"}, `exempt rm "one": want an exemption ID`},
		{"unknown command", []string{"exempt", "grant"}, `unknown exempt command "grant"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := modgate(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("modgate %q: error %v, want one containing %q", tt.args, err, tt.want)
			}
			if tt.name != "rm bad ID" && exitCode(err) != 2 {
				t.Errorf("exit code %d, want 2 (usage)", exitCode(err))
			}
		})
	}
	out, _, err := modgate("exempt", "list")
	if err != nil {
		t.Fatal(err)
	}
	if out != "ID  MODULE  VERSIONS  RULE  EXPIRES  BY  REASON\n" {
		t.Errorf("a refused exempt add stored something:\n%s", out)
	}
	before := time.Now()
	if _, _, err := modgate(append([]string{"exempt", "add"}, valid...)...); err != nil {
		t.Fatalf("exempt add %q: %v", valid, err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(data, "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.ListExemptions(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListExemptions = %v, %v", list, err)
	}
	if d := list[0].ExpiresAt.Sub(before); d < 30*24*time.Hour || d > 30*24*time.Hour+time.Minute {
		t.Errorf("--expires 30d stored %v, %v from now", list[0].ExpiresAt, d)
	}
}
