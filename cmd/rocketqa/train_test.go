package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrainRunIdentity: a checkpoint belongs to one run. Rerunning a finished run with fewer steps or on an edited
// training file fails (exit 1) naming the difference instead of exiting 0 with the old model; --no-resume starts
// clean and keeps the earlier run under --out/previous/.
func TestTrainRunIdentity(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	out := filepath.Join(dir, "de")
	args := func(steps string, extra ...string) []string {
		return append([]string{"train-de", "--train", f.dualTrain, "--out", out, "--max-steps", steps, "--batch", "4",
			"--config", f.config, "--vocab", f.vocab, "--q-len", "16", "--p-len", "32", "--threads", "1"}, extra...)
	}
	r := inproc(t, args("3")...)
	require.Equal(t, 0, r.code, "%s", r)

	r = inproc(t, args("2")...)
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "belongs to another run")
	assert.Contains(t, r.stderr, `total_steps "3" there, "2" here`)
	assert.Empty(t, r.stdout)

	b, err := os.ReadFile(f.dualTrain)
	require.NoError(t, err)
	edited := filepath.Join(dir, "edited.tsv")
	require.NoError(t, os.WriteFile(edited, append(b, b...), 0o644))
	require.NoError(t, os.Rename(edited, f.dualTrain)) // same path, other content
	r = inproc(t, args("3")...)
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "train \"")

	// --optimizer reaches the loop (LAMB with its 0.01 default decay is another run)
	r = inproc(t, args("2", "--optimizer", "lamb")...)
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, `optimizer "adamw" there, "lamb" here`)
	assert.Contains(t, r.stderr, `weight_decay "0" there, "0.01" here`)

	r = inproc(t, args("2", "--no-resume", "--optimizer", "lamb")...)
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "moved the earlier run's checkpoints")
	prev, _ := filepath.Glob(filepath.Join(out, "previous", "*", "checkpoints", "step-00000003"))
	assert.Len(t, prev, 1)
	_, err = os.Stat(filepath.Join(out, "checkpoints", "step-00000003"))
	assert.True(t, os.IsNotExist(err))
}

// TestTrainDevIsRunIdentity: the --dev set is part of a run's identity (its best model is the best on that set), so
// a resume evaluating on another dev set (or on none) is refused; the same --dev resumes. Before, the resume went
// on and compared the new set's scores with the best of the old one.
func TestTrainDevIsRunIdentity(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	other := filepath.Join(dir, "other-dev")
	require.NoError(t, os.CopyFS(other, os.DirFS(f.data)))
	for _, cmd := range [][]string{{"train-de"}, {"train-pair", "--stage", "finetune"}} {
		out := filepath.Join(dir, cmd[0])
		args := func(dev string) []string {
			return append(cmd, "--train", f.dualTrain, "--out", out, "--max-steps", "2", "--batch", "4", "--dev", dev,
				"--config", f.config, "--vocab", f.vocab, "--q-len", "16", "--p-len", "32", "--threads", "1")
		}
		r := inproc(t, args(f.data)...)
		require.Equal(t, 0, r.code, "%s", r)
		r = inproc(t, args(other)...)
		assert.Equal(t, 1, r.code, "%s", r)
		assert.Contains(t, r.stderr, fmt.Sprintf("dev %q there, %q here", f.data, other), cmd[0])
		r = inproc(t, args(f.data)...)
		require.Equal(t, 0, r.code, "%s", r)
		assert.Contains(t, r.stderr, "resumed at step 2", cmd[0])
	}
}

// TestTrainChunkIsRunIdentity: --chunk and --grad-cache change a dual-encoder run's weights (dropout and padding
// follow the chunks), so a resume with others is refused naming them. Before, train-de and train-pair resumed the
// checkpoint with the new chunking and mixed two runs.
func TestTrainChunkIsRunIdentity(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	for _, cmd := range [][]string{{"train-de"}, {"train-pair", "--stage", "finetune"}} {
		out := filepath.Join(dir, cmd[0])
		args := func(extra ...string) []string {
			return append(append(cmd, "--train", f.dualTrain, "--out", out, "--max-steps", "2", "--batch", "4",
				"--config", f.config, "--vocab", f.vocab, "--q-len", "16", "--p-len", "32", "--threads", "1"), extra...)
		}
		r := inproc(t, args()...)
		require.Equal(t, 0, r.code, "%s", r)
		r = inproc(t, args("--chunk", "2")...)
		assert.Equal(t, 1, r.code, "%s", r)
		assert.Contains(t, r.stderr, `chunk_size "0" there, "2" here`, cmd[0])
		r = inproc(t, args("--grad-cache")...)
		assert.Equal(t, 1, r.code, "%s", r)
		assert.Contains(t, r.stderr, `grad_cache "false" there, "true" here`, cmd[0])
		r = inproc(t, args()...)
		require.Equal(t, 0, r.code, "%s", r)
		assert.Contains(t, r.stderr, "resumed at step 2", cmd[0])
	}
}
