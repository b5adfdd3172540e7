package denoise

import (
	"context"
	"fmt"

	"github.com/rocketqa-go/rocketqa/dataset"

	"github.com/rocketqa-go/rocketqa/fielderr"
)

// Validate checks o as Mine reads it (zero values take their defaults; a negative FillFrom disables the random
// fill), as a *fielderr.Error naming the fields (cmd/rocketqa shows them as its flags).
func (o MineOptions) Validate() error {
	d := o.withDefaults()
	from := fmt.Sprintf("{FillFrom} %d", d.FillFrom)
	if o.FillFrom == 0 {
		from = fmt.Sprintf("{FillFrom} (default {TopK} + 1 = %d)", d.FillFrom)
	}
	return fielderr.Check("denoise",
		o.NegPerPos >= 0, fmt.Sprintf("{NegPerPos} %d: must be positive", o.NegPerPos),
		o.TopK >= 0, fmt.Sprintf("{TopK} %d: must be positive", o.TopK),
		o.FillTo >= 0, fmt.Sprintf("{FillTo} %d: must be positive", o.FillTo),
		!d.fill() || d.FillFrom > d.TopK, fmt.Sprintf("{FillFrom} %d must be above {TopK} %d (the random fill must not take ranks the CE filter examined); raise {FillFrom} or lower {TopK}", d.FillFrom, d.TopK),
		!d.fill() || d.FillTo >= d.FillFrom, fmt.Sprintf("{FillTo} %d is below %s; raise {FillTo}, or disable the fill (a negative {FillFrom})", d.FillTo, from))
}

// Validate checks o as Augment reads it (zero values take their defaults), naming the fields.
func (o AugmentOptions) Validate() error {
	d := o.withDefaults()
	return fielderr.Check("denoise",
		o.NegCount >= 0, fmt.Sprintf("{NegCount} %d: must be positive", o.NegCount),
		o.TopK >= 0, fmt.Sprintf("{TopK} %d: must be positive", o.TopK),
		d.PosThreshold >= d.NegThreshold, fmt.Sprintf("{PosThreshold} %g is below {NegThreshold} %g", d.PosThreshold, d.NegThreshold))
}

// Validate checks that the candidate files (DERun, CERun, Queries) are files, and that Collection (when set)
// exists.
func (f Files) Validate() error {
	return fielderr.First(fielderr.IsFile("denoise", "DERun", f.DERun), fielderr.IsFile("denoise", "CERun", f.CERun),
		fielderr.IsFile("denoise", "Queries", f.Queries), fielderr.Exists("denoise", "Collection", f.Collection))
}

// LoadLabelled is LoadInput for labelled queries, the input of Mine and of jointtrain.BuildLists: it checks the
// files (f, and the fields Qrels and Additional), reads the positives (a qrels TSV or dev.json) and the optional
// additional positives that are never used as negatives, and loads the candidates, queries and passages.
func LoadLabelled(ctx context.Context, f Files, qrels, additional string) (MineInput, error) {
	var in MineInput
	err := fielderr.First(fielderr.IsFile("denoise", "Qrels", qrels), fielderr.IsFile("denoise", "Additional", additional), f.Validate())
	if err != nil {
		return in, err
	}
	ro := dataset.Options{Context: ctx}
	pos, err := dataset.ReadPositives(qrels, ro)
	if err != nil {
		return in, err
	}
	var add map[string][]string
	if additional != "" {
		if add, err = dataset.ReadPositives(additional, ro); err != nil {
			return in, err
		}
	}
	if in, err = LoadInput(ctx, f, pos); err != nil {
		return in, err
	}
	in.Positives, in.Additional = pos, add
	return in, nil
}
