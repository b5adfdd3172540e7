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
	assert.Equal(t, 128, Presets["marco"].ListSize)
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
