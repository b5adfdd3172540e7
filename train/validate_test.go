package train

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOptionsValidate(t *testing.T) {
	ok := Options{OutDir: "o", BatchSize: 8, LR: 1e-5}
	assert.NoError(t, ok.Validate(), "zero values take the defaults")
	cases := []struct {
		edit func(*Options)
		msg  string
	}{
		{func(o *Options) { o.BatchSize = 0 }, "train: BatchSize 0: must be positive"},
		{func(o *Options) { o.Epochs = -1 }, "train: Epochs -1: must be positive"},
		{func(o *Options) { o.MaxSteps = -1 }, "train: MaxSteps -1: must not be negative"},
		{func(o *Options) { o.LR = math.Inf(1) }, "train: LR +Inf: must be a positive number"},
		{func(o *Options) { o.WarmupProportion = 1 }, "train: WarmupProportion 1: must be in [0, 1)"},
		{func(o *Options) { o.WeightDecay = math.NaN() }, "train: WeightDecay NaN: must be a number, not negative"},
		{func(o *Options) { o.MaxGradNorm = math.Inf(-1) }, "train: MaxGradNorm -Inf: must be a number (negative disables clipping)"},
		{func(o *Options) { o.Optimizer = "sgd" }, `train: Optimizer "sgd": want adamw or lamb`},
		{func(o *Options) { o.Schedule = "cosine" }, `train: Schedule "cosine": want paddle, linear or constant`},
		{func(o *Options) { o.SaveEvery = -1 }, "train: SaveEvery -1: must not be negative"},
		{func(o *Options) { o.KeepCheckpoints = -1 }, "train: KeepCheckpoints -1: must be positive"},
		{func(o *Options) { o.LogEvery = -1 }, "train: LogEvery -1: must be positive"},
	}
	for _, c := range cases {
		o := ok
		c.edit(&o)
		assert.EqualError(t, o.Validate(), c.msg)
	}
	o := ok
	o.MaxGradNorm, o.Optimizer, o.Schedule = -1, LAMB, Paddle
	assert.NoError(t, o.Validate(), "a negative clip disables clipping")
}
