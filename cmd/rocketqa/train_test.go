package main

import (
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
