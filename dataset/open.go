package dataset

import (
	"context"
	"errors"
	"fmt"
	"github.com/rocketqa-go/rocketqa/internal/ctxread"
	"io"
	"os"
	"time"
)

// cancelCheckEvery is how many lines (or 64 KiB fragments of one line) a reader reads between looks at its
// context.
const cancelCheckEvery = 1024

// inputFile is an opened input with its cancellation hook.
type inputFile struct {
	*os.File
	stop func() bool // detaches the context hook; nil without a context
}

// openInput opens path for reading. With a context that can be cancelled, the open of a FIFO that has no writer
// yet, and any later read that blocks (a FIFO or a terminal), end with the context's error when it is cancelled:
// a regular file never blocks, and the readers look at the context between lines.
func openInput(ctx context.Context, path string) (*inputFile, error) {
	if ctx == nil || ctx.Done() == nil {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		return &inputFile{File: f}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// open(2) of a FIFO blocks until a writer opens it: ctxread.Open returns at cancellation and releases the
	// abandoned open.
	f, err := ctxread.Open(ctx, path)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", path, ctx.Err())
		}
		return nil, err
	}
	in := &inputFile{File: f}
	// A pollable file (FIFO, socket, terminal) honours deadlines: a past deadline wakes a blocked read.
	in.stop = context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	return in, nil
}

// close detaches the context hook and closes the file.
func (in *inputFile) close() error {
	if in.stop != nil {
		in.stop()
	}
	return in.File.Close()
}

// readErr turns the error of a read cut short by a cancelled context into that context's error.
func readErr(ctx context.Context, err error) error {
	if err != nil && ctx != nil && errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// ctxReader is an io.Reader that fails with the context's error once it is cancelled (checked on every read),
// for readers that hand the stream to another decoder (encoding/json).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	return n, readErr(c.ctx, err)
}
