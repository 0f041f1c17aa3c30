package scanner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/scanner/lookalike"
)

// humanizeZip is the real zip of github.com/dustin/go-humanize v1.1.0 the
// end-to-end clone test serves (cmd/modgate/testdata/origins/README.md).
const humanizeZip = "../cmd/modgate/testdata/origins/github.com_dustin_go-humanize@v1.1.0.zip"

// humanizeContents reads the files of the real go-humanize zip by their
// names in the module.
func humanizeContents(t *testing.T) map[string]string {
	t.Helper()
	return testkit.ZipContents(t, humanizeZip)
}

// copyOf is the zip of module path made of contents (the original's files,
// its go.mod's module line renamed), with extra files added; mark, when
// not empty, is appended to every Go file (a distinct original per mark).
func copyOf(contents map[string]string, path, mark string, extra map[string]string) (mod []byte, files []store.ZipFile) {
	for name, data := range contents {
		switch {
		case name == "go.mod":
			data = strings.Replace(data, "module github.com/dustin/go-humanize", "module "+path, 1)
			mod = []byte(data)
		case mark != "" && strings.HasSuffix(name, ".go"):
			data += "// " + mark + "\n"
		}
		files = append(files, zf(name, data))
	}
	for name, data := range extra {
		files = append(files, zf(name, data))
	}
	return mod, files
}

// loader is the shape of a typosquat's added file.
const loader = "package humanize\n\nimport \"os/exec\"\n\nfunc init() { exec.Command(\"/bin/sh\", \"-c\", \"id\").Start() }\n"

// TestCheckZipDeferred: the check is made before its record is written:
// Of answers with it at once, and a copy checked meanwhile is compared with
// the original's files from memory; the record writes both. With a store
// shared by replicas (OneProcess unset), the original's files are in the
// index before its check reads it.
func TestCheckZipDeferred(t *testing.T) {
	contents := humanizeContents(t)
	for _, oneProcess := range []bool{true, false} {
		t.Run(fmt.Sprintf("OneProcess=%v", oneProcess), func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			o := NewResemblance(ResemblanceOptions{Store: st, Known: []lookalike.Known{}, OneProcess: oneProcess})
			orig := module.Version{Path: "github.com/dustin/go-humanize", Version: "v1.1.0"}
			origMod, origFiles := copyOf(contents, orig.Path, "", nil)
			c, recordOrig, err := o.CheckZipDeferred(ctx, orig, origMod, "", origFiles)
			if err != nil || c.Original.Path != "" {
				t.Fatalf("CheckZipDeferred of the original = %+v, %v; want no original", c, err)
			}
			if _, got, err := o.Of(ctx, orig); err != nil || got != c {
				t.Errorf("Of(original) before its record = %+v, %v; want the check made", got, err)
			}
			_, err = st.ZipFiles(ctx, orig)
			if indexed := err == nil; indexed != !oneProcess {
				t.Errorf("the original's files in the index before its record: %v, want %v", indexed, !oneProcess)
			}

			// The copy, checked before the original's record is written.
			cp := module.Version{Path: "github.com/humanize-tools/go-humanize", Version: "v1.1.1"}
			cpMod, cpFiles := copyOf(contents, cp.Path, "", map[string]string{"loader.go": loader})
			cc, recordCopy, err := o.CheckZipDeferred(ctx, cp, cpMod, "", cpFiles)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Original != orig || cc.Similarity < CloneShare || strings.Join(cc.Added, " ") != "loader.go" {
				t.Errorf("check of the copy = %+v; want a clone of %v with loader.go added", cc, orig)
			}
			if _, got, err := o.Of(ctx, cp); err != nil || got != cc {
				t.Errorf("Of(copy) before its record = %+v, %v; want the check made", got, err)
			}
			if _, err := st.Clone(ctx, cp); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the copy's check stored before its record: %v", err)
			}

			for _, r := range []func(context.Context) error{recordCopy, recordOrig} {
				if err := r(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range []*store.Clone{c, cc} {
				got, err := st.Clone(ctx, want.Module)
				if err != nil || got.Original != want.Original || got.Similarity != want.Similarity {
					t.Errorf("stored check of %v = %+v, %v; want %+v", want.Module, got, err, want)
				}
				files, err := st.ZipFiles(ctx, want.Module)
				if err != nil || len(files) == 0 {
					t.Errorf("stored files of %v: %d, %v", want.Module, len(files), err)
				}
			}
			// Recorded: read from the store now.
			if _, got, err := o.Of(ctx, cp); err != nil || got == cc || got.Original != orig {
				t.Errorf("Of(copy) after its record = %+v, %v; want the stored check", got, err)
			}
			if len(o.pending) != 0 {
				t.Errorf("%d checks still pending after their records", len(o.pending))
			}
		})
	}
}

// TestCheckZipCopiesAtOnce: an original and its copy checked at the same
// moment (eight such pairs at once, each check recorded as soon as it is
// made): of each pair, at least one check sees the other zip, as when each
// zip's files were written before its check read the index.
func TestCheckZipCopiesAtOnce(t *testing.T) {
	contents := humanizeContents(t)
	for _, oneProcess := range []bool{true, false} {
		t.Run(fmt.Sprintf("OneProcess=%v", oneProcess), func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			o := NewResemblance(ResemblanceOptions{Store: st, Known: []lookalike.Known{}, OneProcess: oneProcess})
			type zipOf struct {
				m     module.Version
				mod   []byte
				files []store.ZipFile
			}
			const pairs = 8
			var zips [2 * pairs]zipOf
			for i := range pairs {
				// Each pair its own contents: a pair matches no other.
				mark := fmt.Sprintf("pair %d", i)
				orig := module.Version{Path: fmt.Sprintf("github.com/owner%d/go-humanize", i), Version: "v1.1.0"}
				cp := module.Version{Path: fmt.Sprintf("github.com/copier%d/go-humanize", i), Version: "v1.1.1"}
				zips[2*i].m, zips[2*i+1].m = orig, cp
				zips[2*i].mod, zips[2*i].files = copyOf(contents, orig.Path, mark, nil)
				zips[2*i+1].mod, zips[2*i+1].files = copyOf(contents, cp.Path, mark, map[string]string{"loader.go": loader})
			}
			var checks [2 * pairs]*store.Clone
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, len(zips))
			for i, z := range zips {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					c, record, err := o.CheckZipDeferred(ctx, z.m, z.mod, "", z.files)
					if err == nil {
						err = record(ctx)
					}
					checks[i] = c
					errs <- err
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for i := range pairs {
				a, b := checks[2*i], checks[2*i+1]
				if a.Original != b.Module && b.Original != a.Module {
					t.Errorf("pair %d: neither check names the other zip: %v (original %v), %v (original %v)",
						i, a.Module, a.Original, b.Module, b.Original)
				}
				for _, c := range []*store.Clone{a, b} {
					if c.Original.Path != "" && c.Original != a.Module && c.Original != b.Module {
						t.Errorf("%v named %v, of another pair", c.Module, c.Original)
					}
					stored, err := st.Clone(ctx, c.Module)
					if err != nil || stored.Original != c.Original {
						t.Errorf("stored check of %v = %+v, %v; want original %v", c.Module, stored, err, c.Original)
					}
				}
			}
		})
	}
}

// failingRecords is a store whose writes of clone checks fail.
type failingRecords struct{ ResemblanceStore }

var errWrite = errors.New("disk I/O error")

func (failingRecords) PutZipCheck(context.Context, []store.ZipFile, *store.Clone) error {
	return errWrite
}
func (failingRecords) PutClone(context.Context, *store.Clone) error { return errWrite }

// TestCheckZipRecordFails: a check whose record cannot be written holds in
// this process: Of answers with it (a decision never finds the zip
// unchecked), and a copy checked later is compared with its files.
func TestCheckZipRecordFails(t *testing.T) {
	contents := humanizeContents(t)
	for _, oneProcess := range []bool{true, false} {
		t.Run(fmt.Sprintf("OneProcess=%v", oneProcess), func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			o := NewResemblance(ResemblanceOptions{Store: failingRecords{st}, Known: []lookalike.Known{}, OneProcess: oneProcess})
			orig := module.Version{Path: "github.com/dustin/go-humanize", Version: "v1.1.0"}
			origMod, origFiles := copyOf(contents, orig.Path, "", nil)
			if _, err := o.CheckZip(ctx, orig, origMod, "", origFiles); !errors.Is(err, errWrite) {
				t.Fatalf("CheckZip with a failing write = %v, want %v", err, errWrite)
			}
			if _, c, err := o.Of(ctx, orig); err != nil || c == nil || c.Original.Path != "" {
				t.Errorf("Of(original) after its record failed = %+v, %v; want its check", c, err)
			}
			cp := module.Version{Path: "github.com/humanize-tools/go-humanize", Version: "v1.1.1"}
			cpMod, cpFiles := copyOf(contents, cp.Path, "", map[string]string{"loader.go": loader})
			c, _, err := o.CheckZipDeferred(ctx, cp, cpMod, "", cpFiles)
			if err != nil || c.Original != orig {
				t.Errorf("check of a copy of the unrecorded original = %+v, %v; want a clone of %v", c, err, orig)
			}
		})
	}
}
