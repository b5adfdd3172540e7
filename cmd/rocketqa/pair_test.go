package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// TestTrainPair: the two stages through the command line; the result is a shared-tower dual encoder that encode
// uses; bad flags are usage errors naming the flag.
func TestTrainPair(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	common := []string{"--q-len", "16", "--p-len", "48", "--save-every", "0", "--threads", "1", "--lr", "1e-3", "--batch", "4", "--max-steps", "2"}
	s1 := filepath.Join(dir, "pair1")
	r := inproc(t, append([]string{"train-pair", "--stage", "pretrain", "--train", f.dualTrain, "--config", f.config, "--vocab", f.vocab, "--out", s1}, common...)...)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "stage pretrain (alpha 0.1)")
	assert.Contains(t, r.stderr, "8 candidates per query")
	s2 := filepath.Join(dir, "pair2")
	r = inproc(t, append([]string{"train-pair", "--stage", "finetune", "--train", f.dualTrain, "--init", filepath.Join(s1, "final"), "--out", s2}, common...)...)
	require.Equal(t, 0, r.code, "%s", r)
	m, err := rocketqa.Load(filepath.Join(s2, "final"), rocketqa.LoadOptions{})
	require.NoError(t, err)
	require.True(t, m.Dual.Shared)
	m.Close()
	ok(t, "encode", "--model", filepath.Join(s2, "final"), "--collection", f.coll, "--out", filepath.Join(dir, "emb"))

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--stage", "both"}, "--stage \"both\""},
		{[]string{"--stage", "pretrain", "--alpha", "-1"}, "--alpha -1"},
		{[]string{"--stage", "pretrain", "--lamb", "--optimizer", "adamw"}, "--lamb and --optimizer adamw: choose one"},
	} {
		args := append([]string{"train-pair", "--train", f.dualTrain, "--config", f.config, "--vocab", f.vocab, "--out", filepath.Join(dir, "bad"), "--q-len", "16", "--p-len", "48"}, c.args...)
		r := inproc(t, args...)
		assert.NotEqual(t, 0, r.code)
		assert.Contains(t, r.stderr, c.want)
	}
}

// TestTrainPairNoResume: --no-resume starts a stage over in an --out that holds a run of other settings (stage,
// alpha, training file), moving the earlier run aside, as it does for the other training commands. Before, the
// earlier run's pair.json refused it ("holds a run with other settings").
func TestTrainPairNoResume(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	out := filepath.Join(dir, "pair")
	args := func(stage string, extra ...string) []string {
		return append([]string{"train-pair", "--stage", stage, "--train", f.dualTrain, "--config", f.config, "--vocab", f.vocab,
			"--out", out, "--q-len", "16", "--p-len", "32", "--threads", "1", "--batch", "4", "--max-steps", "2"}, extra...)
	}
	r := inproc(t, args("finetune")...)
	require.Equal(t, 0, r.code, "%s", r)
	r = inproc(t, args("pretrain")...)
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "other settings")
	r = inproc(t, args("pretrain", "--no-resume")...)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "moved the earlier run's checkpoints")
	r = inproc(t, args("pretrain")...)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "resumed at step 2")
	r = inproc(t, args("finetune")...)
	assert.Equal(t, 1, r.code, "%s", r)
}
