// Package dirlock takes exclusive advisory locks on output directories, so that two runs cannot write into one
// folder at once (training, encoding, indexing). The lock is flock(2) on DIR/.lock: the kernel releases it when the
// holder exits, however it exits, so a killed run never leaves a stale lock behind. The file records who holds it,
// and a second run fails at once naming the holder.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// FileName is the lock file created inside a locked directory.
const FileName = ".lock"

// Lock is a held directory lock. Release it with Release (safe to call twice).
type Lock struct {
	f   *os.File
	dir string
}

// ErrLocked is wrapped by the error Acquire returns when another process holds the lock.
var ErrLocked = errors.New("directory is in use by another run")

// Acquire creates dir if needed and takes its exclusive lock without waiting. what says what the holder does
// ("train-de", "encode", ...) and is shown to a second run that finds the directory locked.
func Acquire(dir, what string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			h := strings.TrimSpace(string(holder))
			if h == "" {
				h = "unknown holder"
			}
			return nil, fmt.Errorf("%s: %w (%s); wait for it to finish or use another output directory", dir, ErrLocked, h)
		}
		return nil, fmt.Errorf("dirlock: %s: %w", path, err)
	}
	exe, _ := os.Executable()
	info := fmt.Sprintf("pid %d, %s (%s), since %s\n", os.Getpid(), what, filepath.Base(exe), time.Now().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(info), 0)
	}
	return &Lock{f: f, dir: dir}, nil
}

// Dir is the locked directory.
func (l *Lock) Dir() string { return l.dir }

// Release drops the lock. It is safe to call on a nil Lock and more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
