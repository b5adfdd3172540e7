package ctxread

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/stretchr/testify/require"
)

func TestOpenFIFOWithoutWriterReturnsOnCancel(t *testing.T) {
	p := canceltest.FIFO(t, "fifo")
	ctx := canceltest.CancelAfter(t, 100*time.Millisecond)
	var f *os.File
	var err error
	canceltest.Within(t, time.Second, func() { f, err = Open(ctx, p) })
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, f)
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
	_, err = Open(canceltest.Cancelled(), p)
	require.ErrorIs(t, err, context.Canceled)
}

// Do returns on cancellation while its read is blocked in open(2) of a FIFO, and releases that read.
func TestDoFIFOWithoutWriter(t *testing.T) {
	p := canceltest.FIFO(t, "fifo")
	finished := make(chan error, 1)
	ctx := canceltest.CancelAfter(t, 100*time.Millisecond)
	var err error
	canceltest.Within(t, time.Second, func() {
		err = Do(ctx, p, func() error {
			_, err := os.ReadFile(p)
			finished <- err
			return err
		})
	})
	require.ErrorIs(t, err, context.Canceled)
	select {
	case err := <-finished:
		require.NoError(t, err, "the released read sees an empty FIFO")
	case <-time.After(2 * time.Second):
		t.Fatal("the read blocked in open(2) was not released")
	}
}

// A writer that holds the FIFO open but writes nothing: Do still returns at once.
func TestDoFIFOSilentWriter(t *testing.T) {
	p := canceltest.SilentFIFO(t, "fifo")
	ctx := canceltest.CancelAfter(t, 200*time.Millisecond)
	var err error
	canceltest.Within(t, time.Second, func() {
		err = Do(ctx, p, func() error { _, err := os.ReadFile(p); return err })
	})
	require.ErrorIs(t, err, context.Canceled)
}

// OpenCloser closes the file on cancellation, which ends a read blocked on a silent writer.
func TestOpenCloserEndsBlockedRead(t *testing.T) {
	p := canceltest.FIFO(t, "fifo")
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			time.Sleep(3 * time.Second)
			w.Close()
		}
	}()
	ctx := canceltest.CancelAfter(t, 200*time.Millisecond)
	f, stop, err := OpenCloser(ctx, p)
	require.NoError(t, err)
	defer stop()
	defer f.Close()
	canceltest.Within(t, time.Second, func() { _, err = io.ReadAll(f) })
	require.ErrorIs(t, Err(ctx, err), context.Canceled)
}

func TestDoPassesResult(t *testing.T) {
	require.NoError(t, Do(context.Background(), "/nonexistent", func() error { return nil }))
	require.ErrorIs(t, Do(context.Background(), "/nonexistent", func() error { return io.ErrUnexpectedEOF }), io.ErrUnexpectedEOF)
}

// Once the abandoned read's open(2) has returned, Do stops poking the FIFO: a later reader of the same FIFO must
// not be handed an end of file by the first call's clean-up.
func TestDoDoesNotReleaseLaterReaders(t *testing.T) {
	p := canceltest.FIFO(t, "fifo")
	ctx := canceltest.CancelAfter(t, 50*time.Millisecond)
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
