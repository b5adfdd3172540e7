package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
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

// TestICTCommand: ict writes dual.train.tsv lines from the collection alone that train-de trains on; the model it
// gives starts a dual encoder and a cross-encoder; bad flags are usage errors naming the flag.
func TestICTCommand(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	// the fixture's passages are one sentence each: a collection of two-sentence passages (i and i+1)
	coll := filepath.Join(dir, "ict-collection")
	require.NoError(t, os.MkdirAll(coll, 0o755))
	var part strings.Builder
	idmap := map[string]string{}
	for i := range fixturePassages {
		fmt.Fprintf(&part, "-\t\t%s%s\t0\n", fixturePassages[i], fixturePassages[(i+1)%len(fixturePassages)])
		idmap[fmt.Sprint(i)] = fixturePID(i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(coll, "part-00"), []byte(part.String()), 0o644))
	js, err := json.Marshal(idmap)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(coll, "passage2id.map.json"), js, 0o644))
	lines := filepath.Join(dir, "ict.tsv")
	r := ok(t, "ict", "--collection", coll, "--out", lines, "--per-passage", "3")
	rd, err := dataset.OpenDualTrain(lines)
	require.NoError(t, err)
	exs, err := rd.All()
	rd.Close()
	require.NoError(t, err)
	require.NotEmpty(t, exs)
	assert.Contains(t, r.stdout, fmt.Sprintf("%s: %d lines from ", lines, len(exs)))
	assert.Len(t, exs, 3*len(fixturePassages), "3 lines per passage")

	pre := filepath.Join(dir, "ict")
	ok(t, "train-de", "--train", lines, "--config", f.config, "--vocab", f.vocab, "--shared", "--out", pre, "--max-steps", "2",
		"--batch", "4", "--q-len", "16", "--p-len", "32", "--threads", "1", "--save-every", "0")
	ok(t, "train-de", "--train", f.dualTrain, "--init", filepath.Join(pre, "final"), "--out", filepath.Join(dir, "de"), "--max-steps", "2",
		"--batch", "4", "--q-len", "16", "--p-len", "32", "--threads", "1", "--save-every", "0")
	ok(t, "train-ce", "--train", f.crossTrain, "--init", filepath.Join(pre, "final"), "--out", filepath.Join(dir, "ce"), "--max-steps", "2",
		"--batch", "4", "--max-len", "48", "--threads", "1", "--save-every", "0")

	for _, c := range []struct {
		args []string
		msg  string
		code int
	}{
		{[]string{"--keep", "1.5"}, "rocketqa ict: --keep 1.5: must be in [0, 1]", 2},
		{[]string{"--min-chars", "10", "--max-chars", "9"}, "rocketqa ict: --max-chars 9: must be at least --min-chars (10)", 2},
		{[]string{"--per-passage", "0"}, "--per-passage", 2},
		{[]string{"--min-chars", "500", "--max-chars", "600"}, "no ICT line", 1},
	} {
		r := inproc(t, append([]string{"ict", "--collection", coll, "--out", filepath.Join(dir, "x.tsv")}, c.args...)...)
		assert.Equal(t, c.code, r.code, "%v: %s", c.args, r)
		assert.Contains(t, r.stderr, c.msg, "%v", c.args)
		assert.NoFileExists(t, filepath.Join(dir, "x.tsv"))
	}
	r = inproc(t, "ict", "--collection", filepath.Join(dir, "missing"), "--out", filepath.Join(dir, "x.tsv"))
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--collection "+filepath.Join(dir, "missing"))
}
