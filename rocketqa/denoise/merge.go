package denoise

import (
	"errors"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// Merge concatenates dual.train.tsv files into out, in the order given: the official `cat de1 unlabel > de2`
// that joins the step-3 file with the augmented one for M_D(2). Every line is checked as it is read (six columns, a
// query and both passages non-empty, an integer label; dataset.OpenDualTrain) and written back in canonical form,
// so a line ending in CRLF comes out with LF. A bad line is an error naming its file and line, and leaves no file.
// out is written atomically, so it may also be one of the inputs.
func Merge(out string, inputs ...string) error {
	if len(inputs) == 0 {
		return errors.New("denoise: Merge: no input files")
	}
	w, err := dataset.CreateDualTrain(out)
	if err != nil {
		return fmt.Errorf("denoise: Merge: %w", err)
	}
	for _, in := range inputs {
		if err := copyDual(w, in); err != nil {
			return errors.Join(fmt.Errorf("denoise: Merge: %w", err), w.Abort())
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("denoise: Merge: %w", err)
	}
	return nil
}

func copyDual(w *dataset.DualWriter, path string) error {
	r, err := dataset.OpenDualTrain(path)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		if err := w.Write(r.Example()); err != nil {
			return err
		}
	}
	return r.Err()
}
