package pretrain

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/fielderr"
	"github.com/rocketqa-go/rocketqa/train"
)

func TestConfigValidate(t *testing.T) {
	tiny := filepath.Join("..", "encoder", "testdata", "tiny_bert") // 40 positions
	base := Config{Collection: t.TempDir(), Init: tiny, MaxLen: 32, Train: train.Options{OutDir: "o", BatchSize: 2, LR: 1e-3}}
	require.NoError(t, base.Validate())
	cases := []struct {
		edit func(*Config)
		msg  string
		file bool
	}{
		{func(c *Config) { c.MaxLen = 4 }, "pretrain: MaxLen 4: must be at least 8", false},
		{func(c *Config) { c.MaxLen = 41 }, "pretrain: MaxLen 41 exceeds max_position_embeddings 40 of " + filepath.Join(tiny, "config.json"), false},
		{func(c *Config) { c.Masking = "span" }, `pretrain: Masking "span": want wwm or char`, false},
		{func(c *Config) { c.MaskProb = 1 }, "pretrain: MaskProb 1: must be in (0, 1)", false},
		{func(c *Config) { c.Collection = "" }, "pretrain: Collection: no passage collection", false},
		{func(c *Config) { c.Collection = "nodir" }, "pretrain: Collection nodir: no such file or directory", true},
		{func(c *Config) { c.Init = "" }, "rocketqa: give Init DIR (pretrained model) or Config config.json with Vocab vocab.txt", false},
		{func(c *Config) { c.Train.WarmupProportion = -0.5 }, "train: Train.WarmupProportion -0.5: must be in [0, 1)", false},
	}
	for _, c := range cases {
		cfg := base
		c.edit(&cfg)
		var fe *fielderr.Error
		require.ErrorAs(t, cfg.Validate(), &fe, c.msg)
		assert.Equal(t, c.msg, fe.Error())
		assert.Equal(t, c.file, fe.File, c.msg)
	}
}
