package blob

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHelperWriter is not a test: run as a child process by
// TestSweepTempRemovesDeadWritersFiles, it starts writing a blob and waits to
// be killed.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv("MODGATE_BLOB_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("half a zip"))
	os.Stdout.WriteString("writing\n")
	time.Sleep(time.Hour) // until killed
}

// startWriter starts a process that is writing a blob into dir.
func startWriter(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "MODGATE_BLOB_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "writing\n" {
		t.Fatalf("helper process: %q, %v", line, err)
	}
	return cmd
}

func tempFiles(t *testing.T, d *Dir) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(d.root, "tmp", tempPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSweepTempRemovesDeadWritersFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no file locks: only the minimum age applies")
	}
	root := t.TempDir()
	killed := startWriter(t, root)
	alive := startWriter(t, root)
	d, err := Open(root) // the next start
	if err != nil {
		t.Fatal(err)
	}
	own, _ := d.Create() // and a write of its own, in progress
	own.Write([]byte("mine"))
	defer own.Abort()
	if n := len(tempFiles(t, d)); n != 3 {
		t.Fatalf("%d temporary files, want 3 (two children and this process)", n)
	}
	// Every writer is alive: nothing goes, however old.
	if n, err := d.SweepTemp(0); n != 0 || err != nil {
		t.Fatalf("SweepTemp with live writers = %d, %v; want 0 removed", n, err)
	}
	killed.Process.Kill() // kill -9: no clean-up of its own
	killed.Wait()
	n, err := d.SweepTemp(time.Hour) // at once: the owner is known dead
	if n != 1 || err != nil {
		t.Fatalf("SweepTemp after a writer was killed = %d, %v; want its 1 file removed", n, err)
	}
	left := tempFiles(t, d)
	if len(left) != 2 || !contains(left, own.TempPath()) {
		t.Errorf("left %v, want the live child's and this process's files", left)
	}
	locks, _ := filepath.Glob(filepath.Join(root, "tmp", lockPrefix+"*"))
	if len(locks) != 2 {
		t.Errorf("lock files left: %v, want the two live owners'", locks)
	}
	// The dead owner's id is gone; the live one's file is still written to.
	if _, err := own.Write([]byte(" still")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := own.Commit(); err != nil {
		t.Errorf("Commit after a sweep: %v", err)
	}
	_ = alive
}

func TestSweepTempRemovesOldUnownedFiles(t *testing.T) {
	d, _ := Open(t.TempDir())
	old := filepath.Join(d.root, "tmp", "blob-123456") // an older version's name
	young := filepath.Join(d.root, "tmp", "blob-654321")
	for _, p := range []string{old, young} {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	long := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, long, long)
	if n, err := d.SweepTemp(time.Hour); n != 1 || err != nil {
		t.Fatalf("SweepTemp = %d, %v; want the old unowned file removed", n, err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young unowned file removed: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
