package pair_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/fielderr"
	"github.com/rocketqa-go/rocketqa/pair"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/train"
)

func TestConfigValidate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "dual.train.tsv")
	require.NoError(t, os.WriteFile(f, []byte("q\t\tp\t\tn\t0\n"), 0o644))
	base := func() pair.Config {
		return pair.Config{Stage: pair.Pretrain, Alpha: 0.1, Dual: rocketqa.DualConfig{
			InitSpec: rocketqa.InitSpec{Init: filepath.Join("..", "encoder", "testdata", "tiny_bert")}, TrainFile: f,
			QMaxLen: 16, PMaxLen: 32, Train: train.Options{OutDir: "o", BatchSize: 2, LR: 1e-3}}}
	}
	require.NoError(t, base().Validate())
	cases := []struct {
		edit   func(*pair.Config)
		msg    string
		fields []string
	}{
		{func(c *pair.Config) { c.Stage = "both" }, `pair: Stage "both": want pretrain or finetune`, []string{"Stage"}},
		{func(c *pair.Config) { c.Alpha = -1 }, "pair: Alpha -1: must be in [0, 1]", []string{"Alpha"}},
		{func(c *pair.Config) { c.LAMB, c.Dual.Train.Optimizer = true, train.AdamW }, "pair: LAMB and Dual.Train.Optimizer adamw: choose one", []string{"LAMB", "Dual.Train.Optimizer"}},
		{func(c *pair.Config) { c.Dual.QMaxLen = 2 }, "rocketqa: Dual.QMaxLen 2 / Dual.PMaxLen 32: must be at least 3", []string{"Dual.QMaxLen", "Dual.PMaxLen"}},
		{func(c *pair.Config) { c.Dual.Train.LR = 0 }, "train: Dual.Train.LR 0: must be a positive number", []string{"Dual.Train.LR"}},
	}
	for _, c := range cases {
		cfg := base()
		c.edit(&cfg)
		var fe *fielderr.Error
		require.ErrorAs(t, cfg.Validate(), &fe, c.msg)
		assert.Equal(t, c.msg, fe.Error())
		assert.Equal(t, c.fields, fe.Fields())
	}
	cfg := base()
	cfg.LAMB, cfg.Dual.Train.Optimizer = true, train.LAMB
	assert.NoError(t, cfg.Validate())
}

// TestPresetsReadRocketqaPresets: the official presets take rocketqa.PAIRMarco's values.
func TestPresetsReadRocketqaPresets(t *testing.T) {
	for _, c := range []struct {
		cfg   pair.Config
		batch int
		wd    float64
	}{{pair.MarcoPretrain, 512 * 8, 0.01}, {pair.MarcoFinetune, 512 * 8, 0.01}, {pair.NQPretrain, 512 * 8, 0}, {pair.NQFinetune, 512, 0}} {
		d := c.cfg.Dual
		assert.Equal(t, [2]int{32, 128}, [2]int{d.QMaxLen, d.PMaxLen})
		assert.Equal(t, train.Options{Epochs: 10, BatchSize: c.batch, LR: 3e-5, WarmupProportion: 0.1, Seed: 1, WeightDecay: c.wd}, d.Train)
	}
}
