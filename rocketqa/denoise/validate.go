package denoise

import (
	"fmt"

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
