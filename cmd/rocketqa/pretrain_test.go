package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPretrainCommand: pretrain on the tiny collection writes a resumable run and a BertForMaskedLM directory that
// train-de takes as --init; bad flags are usage errors naming the flag.
func TestPretrainCommand(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	out := filepath.Join(dir, "mlm")
	r := ok(t, "pretrain", "--collection", f.coll, "--config", f.config, "--vocab", f.vocab, "--out", out,
		"--max-len", "32", "--batch", "4", "--max-steps", "4", "--lr", "1e-3", "--threads", "1", "--save-every", "2")
	assert.Contains(t, r.stderr, "masking wwm 15%")
	assert.Contains(t, r.stdout, "final\t"+filepath.Join(out, "final")+"\n")
	for _, name := range []string{"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"} {
		_, err := os.Stat(filepath.Join(out, "final", name))
		require.NoError(t, err, name)
	}
	// a rerun of the same run resumes from its last checkpoint (step 4); one with other settings is refused
	r = ok(t, "pretrain", "--collection", f.coll, "--config", f.config, "--vocab", f.vocab, "--out", out,
		"--max-len", "32", "--batch", "4", "--max-steps", "4", "--lr", "1e-3", "--threads", "1")
	assert.Contains(t, r.stderr, "resumed at step 4")
	r = inproc(t, "pretrain", "--collection", f.coll, "--config", f.config, "--vocab", f.vocab, "--out", out,
		"--max-len", "32", "--batch", "4", "--max-steps", "6", "--lr", "1e-3", "--threads", "1")
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "belongs to another run")

	de := filepath.Join(dir, "de")
	ok(t, "train-de", "--train", f.dualTrain, "--init", filepath.Join(out, "final"), "--out", de, "--max-steps", "2",
		"--batch", "4", "--q-len", "16", "--p-len", "32", "--threads", "1", "--save-every", "0")
	ce := filepath.Join(dir, "ce")
	ok(t, "train-ce", "--train", f.crossTrain, "--init", filepath.Join(out, "final"), "--out", ce, "--max-steps", "2",
		"--batch", "4", "--max-len", "48", "--threads", "1", "--save-every", "0")

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--masking", "span"}, `--masking "span": want wwm or char`},
		{[]string{"--mask-prob", "0"}, "--mask-prob 0: must be in (0, 1)"},
		{[]string{"--max-len", "4"}, "--max-len 4: must be at least 8"},
		{[]string{"--max-len", "100"}, "--max-len 100"},
	} {
		args := append([]string{"pretrain", "--collection", f.coll, "--config", f.config, "--vocab", f.vocab, "--out", filepath.Join(dir, "x")}, c.args...)
		r := inproc(t, args...)
		assert.NotEqual(t, 0, r.code, "%v", c.args)
		assert.Contains(t, r.stderr, c.msg, "%v", c.args)
	}
	r = inproc(t, "pretrain", "--collection", filepath.Join(dir, "missing"), "--config", f.config, "--vocab", f.vocab, "--out", filepath.Join(dir, "x"))
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--collection "+filepath.Join(dir, "missing"))
}
