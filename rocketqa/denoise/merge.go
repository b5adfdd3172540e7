package denoise

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/internal/ctxread"
)

// Merge concatenates dual.train.tsv files into out, in the order given: the official `cat de1 unlabel > de2`
// that joins the step-3 file with the augmented one for M_D(2). Every line is checked as it is read (six columns, a
// query and both passages non-empty, an integer label; dataset.OpenDualTrain) and written back in canonical form,
// so a line ending in CRLF comes out with LF. A bad line is an error naming its file and line, and leaves no file.
// out is written atomically, so it may also be one of the inputs. When ctx ends, Merge returns ctx.Err() within a
// second, also while a read is blocked (an input that is a FIFO), and leaves no file.
func Merge(ctx context.Context, out string, inputs ...string) error {
	if len(inputs) == 0 {
		return errors.New("denoise: Merge: no input files")
	}
	w, err := dataset.CreateDualTrain(out)
	if err != nil {
		return fmt.Errorf("denoise: Merge: %w", err)
	}
	// The reads run in a goroutine (ctxread.Do) that may outlive a cancelled Merge: mu keeps it from writing
	// once Merge has given up and aborts the output.
	var mu sync.Mutex
	for _, in := range inputs {
		err := ctxread.Do(ctx, in, func() error { return copyDual(ctx, &mu, w, in) })
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			if ctx.Err() != nil {
				return errors.Join(ctx.Err(), w.Abort())
			}
			return errors.Join(fmt.Errorf("denoise: Merge: %w", err), w.Abort())
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("denoise: Merge: %w", err)
	}
	return nil
}

// copyDual appends the lines of path to w, each under mu and only while ctx has not ended.
func copyDual(ctx context.Context, mu *sync.Mutex, w *dataset.DualWriter, path string) error {
	r, err := dataset.OpenDualTrain(path, dataset.Options{Context: ctx})
	if err != nil {
		return err
	}
	defer r.Close()
	write := func(ex dataset.DualExample) error {
		mu.Lock()
		defer mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
		return w.Write(ex)
	}
	for r.Next() {
		if err := write(r.Example()); err != nil {
			return err
		}
	}
	return r.Err()
}
