package ctxread

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	return p
}

// cancelAfter returns a context cancelled d from now.
func cancelAfter(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	time.AfterFunc(d, cancel)
	return ctx
}

func TestOpenFIFOWithoutWriterReturnsOnCancel(t *testing.T) {
	p := mkfifo(t)
	ctx := cancelAfter(t, 100*time.Millisecond)
	t0 := time.Now()
	f, err := Open(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, f)
	require.Less(t, time.Since(t0), time.Second)
}

func TestOpenRegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, []byte("x\n"), 0o600))
	f, err := Open(context.Background(), p)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	require.Equal(t, "x\n", string(b))
	f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Open(ctx, p)
	require.ErrorIs(t, err, context.Canceled)
}

// Do returns on cancellation while its read is blocked in open(2) of a FIFO, and releases that read.
func TestDoFIFOWithoutWriter(t *testing.T) {
	p := mkfifo(t)
	finished := make(chan error, 1)
	ctx := cancelAfter(t, 100*time.Millisecond)
	t0 := time.Now()
	err := Do(ctx, p, func() error {
		_, err := os.ReadFile(p)
		finished <- err
		return err
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(t0), time.Second)
	select {
	case err := <-finished:
		require.NoError(t, err, "the released read sees an empty FIFO")
	case <-time.After(2 * time.Second):
		t.Fatal("the read blocked in open(2) was not released")
	}
}

// A writer that holds the FIFO open but writes nothing: Do still returns at once.
func TestDoFIFOSilentWriter(t *testing.T) {
	p := mkfifo(t)
	opened := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
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
	ctx := cancelAfter(t, 200*time.Millisecond)
	t0 := time.Now()
	err := Do(ctx, p, func() error { _, err := os.ReadFile(p); return err })
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(t0), time.Second)
}

// OpenCloser closes the file on cancellation, which ends a read blocked on a silent writer.
func TestOpenCloserEndsBlockedRead(t *testing.T) {
	p := mkfifo(t)
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			time.Sleep(3 * time.Second)
			w.Close()
		}
	}()
	ctx := cancelAfter(t, 200*time.Millisecond)
	f, stop, err := OpenCloser(ctx, p)
	require.NoError(t, err)
	defer stop()
	defer f.Close()
	t0 := time.Now()
	_, err = io.ReadAll(f)
	require.ErrorIs(t, Err(ctx, err), context.Canceled)
	require.Less(t, time.Since(t0), time.Second)
}

func TestDoPassesResult(t *testing.T) {
	require.NoError(t, Do(context.Background(), "/nonexistent", func() error { return nil }))
	require.ErrorIs(t, Do(context.Background(), "/nonexistent", func() error { return io.ErrUnexpectedEOF }), io.ErrUnexpectedEOF)
}

// Once the abandoned read's open(2) has returned, Do stops poking the FIFO: a later reader of the same FIFO must
// not be handed an end of file by the first call's clean-up.
func TestDoDoesNotReleaseLaterReaders(t *testing.T) {
	p := mkfifo(t)
	ctx := cancelAfter(t, 50*time.Millisecond)
	require.ErrorIs(t, Do(ctx, p, func() error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // a read still going on after its open was released
		return f.Close()
	}), context.Canceled)
	time.Sleep(50 * time.Millisecond) // the first open is released
	got := make(chan error, 1)
	go func() { _, err := os.ReadFile(p); got <- err }()
	select {
	case err := <-got:
		t.Fatalf("a later reader was released (%v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	w, err := os.OpenFile(p, os.O_WRONLY, 0) // release it for the clean-up
	require.NoError(t, err)
	w.Close()
	require.NoError(t, <-got)
}
