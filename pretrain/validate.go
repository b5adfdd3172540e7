package pretrain

import (
	"fmt"

	"github.com/rocketqa-go/rocketqa/fielderr"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// Validate checks c before Run reads anything, as a *fielderr.Error naming the fields (cmd/rocketqa shows them
// as its flags): the loop's options (under "Train"), the model (Init, or Config with Vocab), the sequence length
// (also against the model's positions), the masking, and the collection.
func (c Config) Validate() error {
	spec := rocketqa.InitSpec{Init: c.Init, Config: c.Config, Vocab: c.Vocab}
	n := c.MaxLen
	if n == 0 {
		n = 128
	}
	err := fielderr.First(fielderr.In("Train", c.Train.Validate()), spec.Validate(),
		fielderr.Check("pretrain", n >= 8, fmt.Sprintf("{MaxLen} %d: must be at least 8", n),
			c.Masking == "" || c.Masking == WholeWord || c.Masking == Char, fmt.Sprintf("{Masking} %q: want wwm or char", c.Masking),
			c.MaskProb >= 0 && c.MaskProb < 1, fmt.Sprintf("{MaskProb} %g: must be in (0, 1)", c.MaskProb),
			c.Collection != "" || c.Passages != nil, "{Collection}: no passage collection"),
		fielderr.IsDir("pretrain", "Collection", c.Collection))
	if err != nil {
		return err
	}
	if maxPos, cfg, err := spec.MaxPositions(); err != nil {
		return err
	} else if maxPos > 0 && n > maxPos {
		return fielderr.New("pretrain", "{MaxLen} %d exceeds max_position_embeddings %d of %s", n, maxPos, cfg)
	}
	return nil
}
