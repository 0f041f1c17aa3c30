package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseForTest(t *testing.T, args []string, env map[string]string) (config, error) {
	t.Helper()
	var c config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.register(fs)
	_, err := parseConfig(fs, &c, args, func(k string) string { return env[k] })
	return c, err
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "modgate.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "listen: file:1\nupstream: https://file.example\nlist-ttl: 5m\nprivate:\n  - corp.example.com\n  - '*.internal'\nlog_level: debug\n")
	env := map[string]string{
		"MODGATE_CONFIG":   file,
		"MODGATE_LISTEN":   "env:2",
		"MODGATE_UPSTREAM": "https://env.example",
	}
	c, err := parseForTest(t, []string{"--listen", "flag:3"}, env)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"flag wins over env and file", c.Listen, "flag:3"},
		{"env wins over file", c.Upstream, "https://env.example"},
		{"file fills the rest", c.ListTTL.String(), (5 * time.Minute).String()},
		{"file list joined with commas", c.Private, "corp.example.com,*.internal"},
		{"underscore keys accepted", c.LogLevel, "debug"},
		{"default where nothing is set", c.PrivateUpstream, "direct"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %q, want %q", ck.name, ck.got, ck.want)
		}
	}
	if !filepath.IsAbs(c.Data) {
		t.Errorf("--data %q was not made absolute", c.Data)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		wantErr string
	}{
		{name: "unknown key names the line", file: "listen: x\nlisen: y\n", wantErr: ":2: unknown setting \"lisen\""},
		{name: "bad duration in file names the line", file: "\n\nlist-ttl: soon\n", wantErr: ":3: list-ttl"},
		{name: "nested value", file: "listen:\n  a: b\n", wantErr: "expected a string"},
		{name: "not a mapping", file: "- a\n- b\n", wantErr: "expected a mapping"},
		{name: "bad env", env: map[string]string{"MODGATE_FETCH_TIMEOUT": "-"}, wantErr: "MODGATE_FETCH_TIMEOUT"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "bad database", args: []string{"--database", "mysql://x"}, wantErr: "--database"},
		{name: "bad sumdb", args: []string{"--sumdb", "nonsense.example"}, wantErr: "--sumdb"},
		{name: "zero timeout", args: []string{"--fetch-timeout", "0s"}, wantErr: "--fetch-timeout"},
		{name: "negative blob verify ttl", args: []string{"--blob-verify-ttl", "-1m"}, wantErr: "--blob-verify-ttl"},
		{name: "blob store with credentials", args: []string{"--blob-store", "s3://AKIA:secret@bucket/p"}, wantErr: "--blob-store: the URL holds credentials"},
		{name: "blob store scheme", args: []string{"--blob-store", "gs://bucket"}, wantErr: `--blob-store: unknown scheme "gs"`},
		{name: "blob redirect needs s3", args: []string{"--blob-redirect"}, wantErr: "--blob-redirect needs an s3:// --blob-store"},
		{name: "missing file", args: []string{"--config", "/nonexistent/modgate.yaml"}, wantErr: "no such file"},
		{name: "negative advisories interval", args: []string{"--advisories-interval", "-1m"}, wantErr: "--advisories-interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			_, err := parseForTest(t, args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	if got := envName("private-upstream"); got != "MODGATE_PRIVATE_UPSTREAM" {
		t.Errorf("envName = %q", got)
	}
}

func TestRedactList(t *testing.T) {
	got := redactList("https://user:s3cret@corp.example.com/proxy|https://proxy.golang.org,direct")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "user") || !strings.Contains(got, "corp.example.com") || !strings.HasSuffix(got, "|https://proxy.golang.org,direct") {
		t.Errorf("redactList = %q", got)
	}
}

// --advisories-interval syncs the feeds on their own clock; unset, they follow
// --vulndb-interval (flag, environment and file alike).
func TestAdvisoriesInterval(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		file string
		want time.Duration
	}{
		{"default: as --vulndb-interval", []string{"--vulndb-interval", "2h"}, nil, "", 2 * time.Hour},
		{"flag", []string{"--advisories-interval", "10m"}, nil, "", 10 * time.Minute},
		{"environment", nil, map[string]string{"MODGATE_ADVISORIES_INTERVAL": "15m"}, "", 15 * time.Minute},
		{"file", nil, nil, "advisories-interval: 20m\n", 20 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append([]string{"--config", writeFile(t, c.file)}, args...)
			}
			cfg, err := parseForTest(t, args, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.advisoriesInterval(); got != c.want {
				t.Errorf("advisoriesInterval() = %v, want %v", got, c.want)
			}
		})
	}
}

// --read-ahead is a mode and still a boolean flag: its old spellings keep
// their meaning, and the environment and the file set it too.
func TestReadAheadMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want readAheadMode
	}{
		{"default", nil, nil, readAheadAll},
		{"bare flag", []string{"--read-ahead"}, nil, readAheadAll},
		{"true", []string{"--read-ahead=true"}, nil, readAheadAll},
		{"false", []string{"--read-ahead=false"}, nil, readAheadOff},
		{"boolean 0", []string{"--read-ahead=0"}, nil, readAheadOff},
		{"boolean T", []string{"--read-ahead=T"}, nil, readAheadAll},
		{"off", []string{"--read-ahead=off"}, nil, readAheadOff},
		{"mods", []string{"--read-ahead=mods"}, nil, readAheadMods},
		{"upper case", []string{"--read-ahead=MODS"}, nil, readAheadMods},
		{"environment", nil, map[string]string{"MODGATE_READ_AHEAD": "mods"}, readAheadMods},
		{"file", nil, map[string]string{"MODGATE_CONFIG": writeFile(t, "read-ahead: off\n")}, readAheadOff},
		{"file boolean", nil, map[string]string{"MODGATE_CONFIG": writeFile(t, "read-ahead: false\n")}, readAheadOff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseForTest(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.ReadAhead != tc.want {
				t.Errorf("read-ahead = %q, want %q", c.ReadAhead, tc.want)
			}
		})
	}
	_, err := parseForTest(t, []string{"--read-ahead=zips"}, nil)
	if err == nil || !strings.Contains(err.Error(), "all, mods or off") {
		t.Errorf("--read-ahead=zips: err = %v, want one naming the modes", err)
	}
}
