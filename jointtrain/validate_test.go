package jointtrain

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/fielderr"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	lists := filepath.Join(dir, "lists.tsv")
	require.NoError(t, os.WriteFile(lists, nil, 0o644))
	base := Presets["nq"]
	base.DE, base.CE, base.TrainFile, base.Train.OutDir = dir, dir, lists, "o"
	require.NoError(t, base.Validate())
	// the presets read rocketqa.V2Marco / V2NQ: the official values
	for name, want := range map[string][4]float64{"marco": {128, 2, 1e-5, 96}, "nq": {32, 3, 1e-5, 96}} {
		p := Presets[name]
		assert.Equal(t, want, [4]float64{float64(p.ListSize), float64(p.Train.Epochs), p.Train.LR, float64(p.Train.BatchSize)}, name)
		assert.Equal(t, [3]int{32, 128, 160}, [3]int{p.QMaxSeqLen, p.PMaxSeqLen, p.CEMaxSeqLen}, name)
		assert.Equal(t, 0.01, p.Train.WeightDecay, name)
	}
	cases := []struct {
		edit func(*Config)
		msg  string
		file bool
	}{
		{func(c *Config) { c.Variant = "kl" }, `jointtrain: Variant "kl": want official, seed, paper or static`, false},
		{func(c *Config) { c.CEHead = "v3" }, `jointtrain: CEHead "v3": want keep or v2`, false},
		{func(c *Config) { c.ListSize = 1 }, "jointtrain: ListSize 1: want at least 2", false},
		{func(c *Config) { c.ChunkSize = -1 }, "jointtrain: ChunkSize -1: must not be negative", false},
		{func(c *Config) { c.CEMaxSeqLen = -1 }, "jointtrain: CEMaxSeqLen -1: must not be negative", false},
		{func(c *Config) { c.CE = "" }, "jointtrain: DE, CE and TrainFile are required", false},
		{func(c *Config) { c.DE = filepath.Join(dir, "none") }, "jointtrain: DE " + filepath.Join(dir, "none") + ": no such file or directory", true},
		{func(c *Config) { c.TrainFile = dir }, "jointtrain: TrainFile " + dir + ": is a directory, want a file", true},
		{func(c *Config) { c.Train.BatchSize = 0 }, "train: Train.BatchSize 0: must be positive", false},
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
