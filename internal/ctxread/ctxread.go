// Package ctxread makes the reading of input files stop when a context ends, also when the read is blocked in the
// kernel: a FIFO without a writer blocks open(2), a FIFO whose writer is silent blocks read(2), and /dev/zero or a
// huge file without newlines never ends a line.
package ctxread

import (
	"context"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// pokeEvery is how often a FIFO is opened for writing to release a reader blocked in open(2), and pokeFor how long
// that goes on at most after the context ended.
const (
	pokeEvery = 20 * time.Millisecond
	pokeFor   = time.Minute
)

// Open opens path for reading like os.Open. When ctx ends first (a FIFO with no writer blocks open(2)), it returns
// ctx.Err() at once; the file opened later is closed. The FIFO's open is released by opening the FIFO for writing
// and closing it again, so the reading goroutine does not stay behind.
func Open(ctx context.Context, path string) (*os.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !isFIFO(path) {
		return os.Open(path) // regular files and devices do not block in open(2)
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-ctx.Done():
	}
	go func() {
		o := releaseFIFO(path, ch)
		if o.f != nil {
			o.f.Close()
		}
	}()
	return nil, ctx.Err()
}

// OpenCloser opens path with Open and closes the file when ctx ends, so that a read blocked on it returns (with
// an error the caller should replace by ctx.Err()). stop ends the watch; the caller still closes the file.
func OpenCloser(ctx context.Context, path string) (f *os.File, stop func() bool, err error) {
	f, err = Open(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	return f, context.AfterFunc(ctx, func() { f.Close() }), nil
}

// Do runs read (which opens and reads path itself, and should check ctx between records) in a goroutine and waits
// for it or for ctx. When ctx ends first, Do returns ctx.Err() at once and leaves read to finish on its own: if
// path is a FIFO, Do releases a read blocked in open(2) by opening the FIFO for writing and closing it again (the
// reader then sees the end of the file). A read blocked in read(2) on a FIFO whose writer keeps it open but writes
// nothing goes on in the background until the writer writes or closes; its result is dropped.
func Do(ctx context.Context, path string, read func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	case <-ctx.Done():
	}
	if isFIFO(path) {
		go releaseFIFO(path, done)
	}
	return ctx.Err()
}

// releaseFIFO opens the FIFO at path for writing (non-blocking, so it succeeds only while a reader has it open) and
// closes it again, every pokeEvery, until one such open succeeds, ch delivers or pokeFor has passed; it returns what
// ch delivered. It pokes only while this process holds no descriptor of the FIFO, that is while the abandoned read
// is still in open(2), and stops after the first poke that found a reader: later pokes would only hand an early end
// of file to another reader of the FIFO.
func releaseFIFO[T any](path string, ch <-chan T) T {
	tick := time.NewTicker(pokeEvery)
	defer tick.Stop()
	deadline := time.After(pokeFor)
	st, err := os.Stat(path)
	poke := err == nil
	for {
		if poke && !holding(st) {
			if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
				poke = false
			}
		}
		select {
		case v := <-ch:
			return v
		case <-tick.C:
		case <-deadline:
			var zero T
			return zero
		}
	}
}

// holding reports whether this process has a descriptor open on the file st describes.
func holding(st fs.FileInfo) bool {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if fi, err := os.Stat("/proc/self/fd/" + e.Name()); err == nil && os.SameFile(fi, st) {
			return true
		}
	}
	return false
}

func isFIFO(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&fs.ModeNamedPipe != 0
}

// Err returns ctx.Err() when ctx has ended and err is not nil, else err: a read that failed because OpenCloser's
// cancellation closed its file reports the cancellation, not "file already closed".
func Err(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
