package main

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modgate/modgate/internal/testkit"
)

// TestEndToEndStreamedZipCut drives the real go command at a zip that modgate
// streams as it downloads it and that then fails its check against the
// checksum database: the go command must reject the cut download and keep
// nothing of it in its module cache; asking again gets modgate's 403 with
// the mismatch. A good zip streamed the same way is accepted.
func TestEndToEndStreamedZipCut(t *testing.T) {
	random := make([]byte, 512<<10) // far more than the end held back
	rand.New(rand.NewSource(1)).Read(random)
	files := map[string]string{"data.bin": string(random), "a.go": "package big\n"}
	good := testkit.Build(t, testkit.Module{Path: "example.com/big", Version: "v1.0.0", Files: files})
	evilFiles := map[string]string{"evil.go": "package big\n\nfunc init() { println(\"pwned\") }\n"}
	for k, v := range files {
		evilFiles[k] = v
	}
	evil := testkit.Build(t, testkit.Module{Path: "example.com/big", Version: "v1.0.0", Files: evilFiles})
	fine := testkit.Build(t, testkit.Module{Path: "example.com/fine", Version: "v1.0.0", Files: files})

	skey, vkey := testkit.NewSumDBKey(t, "sum.modgate.test")
	db := testkit.NewSumDBSigned(t, skey, vkey, good, fine)
	up := testkit.NewUpstream(t, evil, fine)
	data := t.TempDir()
	mg := startModgate(t, "--data", data, "--sumdb", vkey+" "+db.URL, "--upstream", up.URL)

	work := t.TempDir()
	home := filepath.Join(work, "home")
	env := testkit.GoEnv(t, home, mg.URL, "GOSUMDB="+vkey)
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	out := testkit.RunGo(t, app, env, true, "mod", "download", "example.com/big@v1.0.0")
	t.Logf("the go command on the cut download:\n%s", out)
	if strings.Contains(out, "403") {
		t.Errorf("the first download was refused before streaming; want a cut download:\n%s", out)
	}
	cache := filepath.Join(home, "modcache")
	for _, p := range []string{
		filepath.Join(cache, "example.com", "big@v1.0.0"),
		filepath.Join(cache, "cache", "download", "example.com", "big", "@v", "v1.0.0.zip"),
		filepath.Join(cache, "cache", "download", "example.com", "big", "@v", "v1.0.0.ziphash"),
	} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the go command kept %s of a cut download", p)
		}
	}
	out = testkit.RunGo(t, app, env, true, "mod", "download", "example.com/big@v1.0.0")
	for _, want := range []string{"403 Forbidden", "checksum mismatch", good.Hash} {
		if !strings.Contains(out, want) {
			t.Errorf("asking again: output lacks %q:\n%s", want, out)
		}
	}
	blobs, _ := filepath.Glob(filepath.Join(data, "blobs", "??", "*"))
	if len(blobs) != 0 {
		t.Errorf("blobs stored: %v", blobs)
	}

	testkit.RunGo(t, app, env, false, "mod", "download", "example.com/fine@v1.0.0")
	if _, err := os.Stat(filepath.Join(cache, "example.com", "fine@v1.0.0", "data.bin")); err != nil {
		t.Errorf("the streamed good zip was not extracted: %v", err)
	}
}
