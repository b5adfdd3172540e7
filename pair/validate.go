package pair

import (
	"fmt"

	"github.com/rocketqa-go/rocketqa/fielderr"
	"github.com/rocketqa-go/rocketqa/train"
)

// Validate checks c before Train reads anything, as a *fielderr.Error naming the fields (cmd/rocketqa shows
// them as its flags): the stage, alpha, the optimizer choice, the dual-encoder settings (rocketqa.DualConfig's
// Validate, under "Dual"), then what Check adds about the model to start from.
func (c Config) Validate() error {
	_, err := ParseStage(string(c.Stage))
	return fielderr.First(fielderr.Check("pair",
		err == nil, fmt.Sprintf("{Stage} %q: want pretrain or finetune", c.Stage),
		c.Alpha >= 0 && c.Alpha <= 1, fmt.Sprintf("{Alpha} %v: must be in [0, 1]", c.Alpha),
		!c.LAMB || c.Dual.Train.Optimizer == "" || c.Dual.Train.Optimizer == train.LAMB,
		fmt.Sprintf("{LAMB} and {Dual.Train.Optimizer} %s: choose one", c.Dual.Train.Optimizer)),
		fielderr.In("Dual", c.Dual.Validate()), c.Check())
}
