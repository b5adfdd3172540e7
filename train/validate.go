package train

import (
	"fmt"
	"math"

	"github.com/rocketqa-go/rocketqa/fielderr"
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Validate reports the first setting Run would refuse or misread, as a *fielderr.Error naming the field
// ("{LR} -1: must be a positive number"). Zero values that take a default pass; OutDir is not checked (Run
// creates it).
func (o Options) Validate() error {
	return fielderr.Check("train",
		o.BatchSize > 0, fmt.Sprintf("{BatchSize} %d: must be positive", o.BatchSize),
		o.Epochs >= 0, fmt.Sprintf("{Epochs} %d: must be positive", o.Epochs),
		o.MaxSteps >= 0, fmt.Sprintf("{MaxSteps} %d: must not be negative", o.MaxSteps),
		o.LR > 0 && finite(o.LR), fmt.Sprintf("{LR} %g: must be a positive number", o.LR),
		o.WarmupProportion >= 0 && o.WarmupProportion < 1, fmt.Sprintf("{WarmupProportion} %g: must be in [0, 1)", o.WarmupProportion),
		o.WeightDecay >= 0 && finite(o.WeightDecay), fmt.Sprintf("{WeightDecay} %g: must be a number, not negative", o.WeightDecay),
		finite(o.MaxGradNorm), fmt.Sprintf("{MaxGradNorm} %g: must be a number (negative disables clipping)", o.MaxGradNorm),
		o.Optimizer == "" || o.Optimizer == AdamW || o.Optimizer == LAMB, fmt.Sprintf("{Optimizer} %q: want adamw or lamb", o.Optimizer),
		o.Schedule == "" || o.Schedule == Paddle || o.Schedule == Linear || o.Schedule == Constant,
		fmt.Sprintf("{Schedule} %q: want paddle, linear or constant", o.Schedule),
		o.SaveEvery >= 0, fmt.Sprintf("{SaveEvery} %d: must not be negative", o.SaveEvery),
		o.KeepCheckpoints >= 0, fmt.Sprintf("{KeepCheckpoints} %d: must be positive", o.KeepCheckpoints),
		o.EvalEvery >= 0, fmt.Sprintf("{EvalEvery} %d: must not be negative", o.EvalEvery),
		o.LogEvery >= 0, fmt.Sprintf("{LogEvery} %d: must be positive", o.LogEvery))
}
