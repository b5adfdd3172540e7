package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

// trainTinyDE trains a dual encoder for one step on the fixture (64 positions) and returns its final/ directory.
func trainTinyDE(t *testing.T, f *fixture) string {
	t.Helper()
	de := filepath.Join(f.dir, "de")
	r := inproc(t, "train-de", "--train", f.dualTrain, "--out", de, "--max-steps", "1", "--batch", "4",
		"--config", f.config, "--vocab", f.vocab, "--q-len", "16", "--p-len", "48", "--save-every", "0", "--threads", "1")
	require.Equal(t, 0, r.code, "%s", r)
	return filepath.Join(de, "final")
}

func TestRetrievalCommandsCheckAtStart(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	model := trainTinyDE(t, f)
	emb := filepath.Join(dir, "emb")

	// --p-len / --q-len above the model's 64 positions: refused at start, naming the flag
	r := inproc(t, "encode", "--model", model, "--collection", f.coll, "--out", emb, "--p-len", "65", "--threads", "1")
	assert.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--p-len 65: the model has 64 positions")
	assert.NoFileExists(t, filepath.Join(emb, "part-00.emb"))

	r = inproc(t, "encode", "--model", model, "--collection", f.coll, "--out", emb, "--threads", "1")
	require.Equal(t, 0, r.code, "%s", r)

	// rerun with another --p-len: refused, not "12 already encoded"
	r = inproc(t, "encode", "--model", model, "--collection", f.coll, "--out", emb, "--p-len", "32", "--threads", "1")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "passage length 48 (this run: 32)")
	assert.NotContains(t, r.stderr, "already encoded")

	// index: a second run into a locked --out fails at once naming the holder
	idx := filepath.Join(dir, "index")
	l, err := dirlock.Acquire(idx, "another index run")
	require.NoError(t, err)
	r = inproc(t, "index", "--emb", emb, "--out", idx, "--threads", "1")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "another index run")
	require.NoError(t, l.Release())
	r = inproc(t, "index", "--emb", emb, "--out", idx, "--threads", "1")
	require.Equal(t, 0, r.code, "%s", r)

	run := filepath.Join(dir, "run.tsv")
	r = inproc(t, "search", "--model", model, "--index", idx, "--queries", f.q2qid, "--out", run, "--q-len", "65", "--threads", "1")
	assert.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--q-len 65: the model has 64 positions")

	// --out on an existing directory: refused at start, naming the flag
	r = inproc(t, "search", "--model", model, "--index", idx, "--queries", f.q2qid, "--out", dir, "--threads", "1")
	assert.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--out "+dir+" is a directory")

	// --top-k above the index size: clamped, every query gets the 12 passages
	r = inproc(t, "search", "--model", model, "--index", idx, "--queries", f.q2qid, "--out", run, "--top-k", "100000000", "--threads", "1")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--top-k 100000000 is more than the 12 passages")
	b, err := os.ReadFile(run)
	require.NoError(t, err)
	assert.Equal(t, 12*len(fixtureDev), strings.Count(string(b), "\n"))

	// an empty query text is refused, naming the file and the qid
	q := filepath.Join(dir, "queries.tsv")
	require.NoError(t, os.WriteFile(q, []byte("q1\t北京\nq2\t \n"), 0o644))
	r = inproc(t, "search", "--model", model, "--index", idx, "--queries", q, "--out", run, "--threads", "1")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, q+`: qid "q2" (query 2) has an empty query text`)
}

func TestMineNamesFlags(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	run := filepath.Join(dir, "run.tsv")
	require.NoError(t, os.WriteFile(run, []byte("q1\tp00\t1\t0.5\n"), 0o644))
	base := []string{"mine", "--de-run", run, "--ce-run", run, "--queries", f.q2qid, "--qrels", f.devJSON, "--collection", f.coll,
		"--out", filepath.Join(dir, "out.tsv")}
	r := inproc(t, append(base, "--top-k", "10", "--fill-from", "5")...)
	assert.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--fill-from 5 must be above --top-k 10")
	assert.NotContains(t, r.stderr, "MineOptions")
	r = inproc(t, append(base, "--top-k", "60", "--fill-to", "50")...)
	assert.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--fill-to 50 is below --fill-from (default --top-k + 1 = 61)")
	assert.NotContains(t, r.stderr, "MineOptions")
}

// TestMineSample: mine --sample draws the denoised negatives from the whole filtered top K (seeded by --seed), the
// default takes the first ones in rank order.
func TestMineSample(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	run := filepath.Join(dir, "run.tsv")
	var b strings.Builder
	for i := range fixturePassages { // d0's positive is p00; every other passage a confident negative
		fmt.Fprintf(&b, "d0\t%s\t%d\t0.01\n", fixturePID(i), i+1)
	}
	require.NoError(t, os.WriteFile(run, []byte(b.String()), 0o644))
	negs := func(extra ...string) []string {
		out := filepath.Join(dir, "out.tsv")
		os.Remove(out)
		r := inproc(t, append([]string{"mine", "--de-run", run, "--ce-run", run, "--queries", f.q2qid, "--qrels", f.devJSON,
			"--collection", f.coll, "--out", out, "--neg-per-pos", "2", "--no-fill"}, extra...)...)
		require.Equal(t, 0, r.code, "%s", r)
		ex, err := rocketqa.ReadDualExamples(context.Background(), out)
		require.NoError(t, err)
		var got []string
		for _, e := range ex {
			got = append(got, e.NegPara)
		}
		slices.Sort(got) // the lines pop the negatives from the end, as the official script
		return got
	}
	top := negs()
	want := []string{fixturePassages[1], fixturePassages[2]}
	slices.Sort(want)
	require.Equal(t, want, top)
	differ := 0
	for s := 1; s <= 6; s++ {
		got := negs("--sample", "--seed", fmt.Sprint(s))
		require.Len(t, got, 2)
		require.Equal(t, got, negs("--sample", "--seed", fmt.Sprint(s)), "seeded")
		require.NotContains(t, got, fixturePassages[0], "the positive")
		if !slices.Equal(got, top) {
			differ++
		}
	}
	require.GreaterOrEqual(t, differ, 5, "2 of 11 candidates drawn: the top two 1 time in 55")
}

// TestTrainDEVocabFIFO: train-de --vocab <(...) (a FIFO, readable once) trains and saves that vocabulary; before,
// the tokenizer opened the file a second time and waited forever.
func TestTrainDEVocabFIFO(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	want, err := os.ReadFile(f.vocab)
	require.NoError(t, err)
	fifo := canceltest.OnceFIFO(t, "vocab.txt", want)
	de := filepath.Join(dir, "de")
	canceltest.Within(t, 60*time.Second, func() {
		r := inproc(t, "train-de", "--train", f.dualTrain, "--out", de, "--max-steps", "1", "--batch", "4",
			"--config", f.config, "--vocab", fifo, "--q-len", "16", "--p-len", "48", "--save-every", "0", "--threads", "1")
		assert.Equal(t, 0, r.code, "%s", r)
	})
	got, err := os.ReadFile(filepath.Join(de, "final", encoder.QueryDir, "vocab.txt"))
	require.NoError(t, err)
	require.Equal(t, want, got)
}
