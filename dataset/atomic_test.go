package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestCreateAtomicOverDirectory: an output path that is a directory fails when the writer is made, naming the
// path, and leaves no temporary file. Before, the writer wrote everything and only the final rename failed
// ("rename .../.out.tmp123 .../out: file exists"), after the whole work of the command.
func TestCreateAtomicOverDirectory(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateAtomic(out); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("CreateAtomic over a directory: got %v, want an EISDIR error", err)
	} else if want := "create " + out + ": is a directory"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	err := WriteFileAtomic(out, func(w *AtomicFile) error {
		t.Fatal("WriteFileAtomic ran its fill function for a directory path")
		return nil
	})
	if !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("WriteFileAtomic over a directory: got %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("left in %s: %v", dir, entries)
	}
}
