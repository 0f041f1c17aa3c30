package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
)

// A write refused because the disk is full is reported as store.ErrNoSpace
// (the proxy answers 507, not an upstream's fault nor a 500).
func TestDiskFullIsErrNoSpace(t *testing.T) {
	mnt := testkit.TmpFS(t, 4<<20)
	s, err := sqlite.Open(context.Background(), filepath.Join(mnt, "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	filler := testkit.FillDisk(t, mnt)
	data := make([]byte, 1<<20) // more pages than the database and its log can have free
	rand.New(rand.NewSource(1)).Read(data)
	sum := sha256.Sum256(data)
	a := &store.Artifact{Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}, Kind: store.KindMod,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Data: data}
	_, err = s.PutArtifact(context.Background(), a)
	if !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("PutArtifact on a full disk = %v, want store.ErrNoSpace", err)
	}
	os.Remove(filler)
	if _, err := s.PutArtifact(context.Background(), a); err != nil {
		t.Errorf("PutArtifact once space was freed: %v", err)
	}
}
