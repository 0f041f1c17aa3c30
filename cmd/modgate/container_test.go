package main

import (
	"bufio"
	"flag"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestContainerFilesSettings checks that every MODGATE_* setting the
// Dockerfile and compose.yaml give is a setting modgate has, with a value it
// accepts (there is no Docker engine on the build machine to try them).
func TestContainerFilesSettings(t *testing.T) {
	env := map[string]string{}
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inEnv := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "ENV ") {
			inEnv, line = true, strings.TrimPrefix(line, "ENV ")
		}
		if !inEnv {
			continue
		}
		for _, kv := range strings.Fields(strings.TrimSuffix(line, `\`)) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		inEnv = strings.HasSuffix(line, `\`)
	}
	if len(env) == 0 {
		t.Fatal("no ENV in the Dockerfile")
	}

	data, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Modgate struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"x-modgate"`
		Services map[string]yaml.Node `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if n := len(compose.Services); n != 4 {
		t.Errorf("compose.yaml has %d services, want 4 (two replicas, postgres, s3)", n)
	}
	if len(compose.Modgate.Environment) == 0 {
		t.Fatal("compose.yaml: no environment in x-modgate")
	}
	for k, v := range compose.Modgate.Environment {
		env[k] = v
	}

	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.register(fs)
	byEnv := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { byEnv[envName(f.Name)] = f.Name })
	for k, v := range env {
		if !strings.HasPrefix(k, "MODGATE_") {
			continue
		}
		name, ok := byEnv[k]
		if !ok {
			t.Errorf("%s=%s: no such setting", k, v)
			continue
		}
		if err := fs.Set(name, v); err != nil {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
