// Package canceltest holds what the cancellation tests share: a check that a call returns within a time limit,
// contexts that end on cue, and FIFOs that block a reader in open(2) or in read(2) or feed it an endless line.
package canceltest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Within runs f and fails the test when it has not returned after limit; it returns how long f took. It waits 3x
// limit before it gives up on f, so that a hang is reported as a failure, not a stuck test.
func Within(t testing.TB, limit time.Duration, f func()) time.Duration {
	t.Helper()
	done := make(chan struct{})
	t0 := time.Now()
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(3 * limit):
		t.Fatalf("still running %s after the start (limit %s)", 3*limit, limit)
	}
	d := time.Since(t0)
	require.Less(t, d, limit)
	return d
}

// CancelAfter returns a context that is cancelled d from now (and at the end of the test).
func CancelAfter(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	time.AfterFunc(d, cancel)
	return ctx
}

// Cancelled returns a context that is already cancelled.
func Cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// FIFO makes a FIFO called name in a new temporary directory and returns its path. No one writes to it: a reader
// blocks in open(2).
func FIFO(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	return p
}

// SilentFIFO is a FIFO (see FIFO) whose writer opens it and writes nothing until the test ends: a reader's open
// succeeds and its read(2) blocks.
func SilentFIFO(t testing.TB, name string) string {
	t.Helper()
	p := FIFO(t, name)
	opened := make(chan *os.File, 1)
	go func() {
		if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			opened <- w
		}
	}()
	t.Cleanup(func() {
		select {
		case w := <-opened:
			w.Close()
		case <-time.After(time.Second):
		}
	})
	return p
}

// EndlessLineFIFO is a FIFO (see FIFO) fed one line that never ends, 4 KiB every 5 ms until the test ends or the
// reader goes: a reader is always in the middle of a line. It stands in for /dev/zero, which a fast machine reads
// to a reader's line-length limit (an error, not a cancellation) within the time a test waits before it cancels.
func EndlessLineFIFO(t testing.TB, name string) string {
	t.Helper()
	p := FIFO(t, name)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		chunk := bytes.Repeat([]byte{'q'}, 4096)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := w.Write(chunk); err != nil {
				return // the reader has gone
			}
		}
	}()
	return p
}

// OnceFIFO is a FIFO (see FIFO) that can be read once: its writer opens it, writes data and closes it, so the
// first reader reads data and then EOF, and a second open(2) for reading blocks, as a shell's <(...) does. When the
// test ends, a reader still blocked in open is let go (it then reads EOF at once).
func OnceFIFO(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := FIFO(t, name)
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		w.Write(data)
	}()
	t.Cleanup(func() {
		// a non-blocking open for writing fails at once when no reader waits, and lets a waiting one go
		if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	return p
}
