package dataset

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// AtomicFile is a buffered file that appears at its path only when Commit
// succeeds: it is written to a temporary file in the same directory and
// renamed over the target.
type AtomicFile struct {
	path string
	tmp  *os.File
	bw   *bufio.Writer
	err  error
	done bool
}

// CreateAtomic starts writing path. The parent directory is created if needed.
func CreateAtomic(path string) (*AtomicFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := CreateTemp(path)
	if err != nil {
		return nil, err
	}
	return &AtomicFile{path: path, tmp: tmp, bw: bufio.NewWriterSize(tmp, 256<<10)}, nil
}

// FileMode is the mode of every file this module writes (run files, embedding shards, indexes, pid files,
// checkpoints), whatever the umask: they are data to share, not secrets.
const FileMode os.FileMode = 0o644

// CreateTemp creates the temporary file that CommitTemp will rename to path: a fresh file in path's directory
// (which must exist), named ".<base>.tmp*". It is the one atomic-write primitive: AtomicFile and the writers of
// package retrieval use it. A path that is a directory fails here, before anything is written (the rename would
// fail only at the end of the work).
func CreateTemp(path string) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, &os.PathError{Op: "create", Path: path, Err: syscall.EISDIR}
	}
	return os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
}

// CommitTemp syncs and closes tmp (made by CreateTemp), gives it FileMode, renames it to path and syncs the
// directory. On error the temporary file is removed and path is left as it was.
func CommitTemp(tmp *os.File, path string) error {
	name := tmp.Name()
	err := tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	return commitName(name, path, err)
}

// CommitTempName is CommitTemp for a temporary file that was written by name (by C code) and is closed.
func CommitTempName(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	return CommitTemp(f, path)
}

func commitName(name, path string, err error) error {
	if err == nil {
		err = os.Chmod(name, FileMode)
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("%s: %w", path, err)
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Path is the final path of the file.
func (a *AtomicFile) Path() string { return a.path }

// Write buffers p. Errors are sticky: once a write fails, Commit fails too.
func (a *AtomicFile) Write(p []byte) (int, error) {
	if err := a.writable(); err != nil {
		return 0, err
	}
	return a.keep(a.bw.Write(p))
}

// WriteString buffers s.
func (a *AtomicFile) WriteString(s string) (int, error) {
	if err := a.writable(); err != nil {
		return 0, err
	}
	return a.keep(a.bw.WriteString(s))
}

// writable is the error a write gets before it starts: the file is closed, or an earlier write failed.
func (a *AtomicFile) writable() error {
	if a.done {
		return fmt.Errorf("%s: write after close", a.path)
	}
	return a.err
}

// keep records a write's error, which makes the later writes and Commit fail.
func (a *AtomicFile) keep(n int, err error) (int, error) {
	if err != nil {
		a.err = err
	}
	return n, err
}

// Commit flushes, syncs and renames the file into place. After an earlier
// write error it removes the temporary file and returns that error. Calling
// Commit or Abort again is a no-op.
func (a *AtomicFile) Commit() error {
	if a.done {
		return nil
	}
	if a.err != nil {
		a.Abort()
		return a.err
	}
	a.done = true
	if err := a.bw.Flush(); err != nil {
		a.tmp.Close()
		return commitName(a.tmp.Name(), a.path, err)
	}
	return CommitTemp(a.tmp, a.path)
}

// Abort discards the file. It is safe to call after Commit (it then does nothing).
func (a *AtomicFile) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	name := a.tmp.Name()
	a.tmp.Close()
	return os.Remove(name)
}

// WriteJSONAtomic writes v as indented JSON (two spaces, a final newline) to path, atomically.
func WriteJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, func(w *AtomicFile) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// WriteFileAtomic creates path with the bytes written by fill, atomically.
func WriteFileAtomic(path string, fill func(w *AtomicFile) error) error {
	a, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	if err := fill(a); err != nil {
		a.Abort()
		return err
	}
	return a.Commit()
}

// rowWriter writes the rows of an atomic file, one a line, with a sticky error:
// tab-separated rows (row), refusing fields that would break the format (a TAB,
// a newline or a carriage return inside a field), or lines encoded by the caller
// (line, for JSON lines). After an error Close discards the file.
type rowWriter struct {
	a    *AtomicFile
	rows int
	err  error
}

func createRows(path string) (*rowWriter, error) {
	a, err := CreateAtomic(path)
	if err != nil {
		return nil, err
	}
	return &rowWriter{a: a}, nil
}

var errClosed = errors.New("writer is closed")

func (w *rowWriter) row(fields ...string) error {
	if w.err != nil {
		return w.err
	}
	if w.a.done {
		return fmt.Errorf("%s: %w", w.a.path, errClosed)
	}
	for i, f := range fields {
		if strings.ContainsAny(f, "\t\n\r") {
			w.err = fmt.Errorf("%s: row %d, column %d: field contains a tab or newline: %q",
				w.a.path, w.rows+1, i+1, clip(f, 60))
			return w.err
		}
	}
	for i, f := range fields {
		if i > 0 {
			w.a.WriteString("\t")
		}
		w.a.WriteString(f)
	}
	return w.line(newline)
}

var newline = []byte("\n")

// line writes b, which ends a row, and counts the row.
func (w *rowWriter) line(b []byte) error {
	if _, err := w.a.Write(b); err != nil {
		w.err = err
		return err
	}
	w.rows++
	return nil
}

// fail records a refused row: the error is sticky, so Close discards the file.
func (w *rowWriter) fail(format string, a ...any) error {
	if w.err == nil {
		w.err = fmt.Errorf("%s: row %d: %s", w.a.path, w.rows+1, fmt.Sprintf(format, a...))
	}
	return w.err
}

// Rows is the number of rows written so far.
func (w *rowWriter) Rows() int { return w.rows }

// Close commits the file; after a failed Write it discards the file and
// returns that error. Safe to call twice.
func (w *rowWriter) Close() error {
	if w.err != nil {
		w.a.Abort()
		return w.err
	}
	return w.a.Commit()
}

// Abort discards the file.
func (w *rowWriter) Abort() error { return w.a.Abort() }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}
