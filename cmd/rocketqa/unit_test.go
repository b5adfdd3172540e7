package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/rocketqa"
)

func TestQueriesFromDualTrain(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	q, qr := filepath.Join(dir, "q.tsv"), filepath.Join(dir, "qrels.tsv")
	r := inproc(t, "queries", "--train", f.dualTrain, "--collection", f.coll, "--out-queries", q, "--out-qrels", qr)
	require.Equal(t, 0, r.code, "%s", r)
	recs, err := dataset.ReadIDText(q)
	require.NoError(t, err)
	require.Equal(t, "q0", recs[0].ID)
	require.Equal(t, fixtureTrain[0].query, recs[0].Text)
	rd, err := dataset.OpenQrels(qr)
	require.NoError(t, err)
	defer rd.Close()
	require.True(t, rd.Next())
	require.Equal(t, fixturePID(fixtureTrain[0].pos), rd.Qrel().PID, "the positive found by its text")
	r = inproc(t, "queries", "--train", filepath.Join(dir, "missing.tsv"), "--collection", f.coll, "--out-queries", q, "--out-qrels", qr)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "missing.tsv")
}

// helpDefaults returns the default of every flag of a command as its --help prints it ("" when the help shows
// none: a zero, false or empty default).
func helpDefaults(t *testing.T, args ...string) map[string]string {
	r := inproc(t, append(args, "--help")...)
	require.Equal(t, 0, r.code, "%s", r)
	out := map[string]string{}
	name := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if f, ok := strings.CutPrefix(l, "  --"); ok {
			name = strings.Fields(f)[0]
			out[name] = ""
		} else if i := strings.Index(l, "(default "); i >= 0 && name != "" && strings.HasPrefix(l, "        ") {
			out[name] = strings.TrimSuffix(l[i+len("(default "):], ")")
		}
	}
	return out
}

// TestFlagDefaultsAreTheOfficialPresets: train-de and train-ce default to rocketqa.DuReaderDE / DuReaderCE (the
// presets examples/pipeline reads too), train-pair to PAIRNQ, train-joint to V2Marco, pretrain to MLMPretrain, and
// --lang en's lengths are the MS MARCO presets'.
func TestFlagDefaultsAreTheOfficialPresets(t *testing.T) {
	str := func(v any) string {
		if s := fmt.Sprint(v); s != "0" && s != "false" {
			return s
		}
		return ""
	}
	de, ce, pr, v2, mlm := rocketqa.DuReaderDE, rocketqa.DuReaderCE, rocketqa.PAIRNQ, rocketqa.V2Marco, rocketqa.MLMPretrain
	for cmd, want := range map[string]map[string]any{
		"train-pair": {"batch": pr.Batch, "epochs": pr.Epochs, "lr": pr.LR, "warmup": pr.Warmup, "wd": pr.WeightDecay,
			"schedule": pr.Schedule, "optimizer": pr.Optimizer, "q-len": pr.QLen,
			"p-len": fmt.Sprintf("%d; %d with --lang en", de.PLen, pr.PLen)},
		// the batch counts lists; the lengths and the list size are the --preset's (jointtrain.Presets)
		"train-joint": {"batch": v2.ListsPerProcess(), "epochs": v2.Epochs, "lr": v2.LR, "warmup": v2.Warmup,
			"wd": v2.WeightDecay, "schedule": v2.Schedule, "optimizer": v2.Optimizer, "list-size": "", "q-len": ""},
		"pretrain": {"batch": mlm.Batch, "epochs": mlm.Epochs, "lr": mlm.LR, "warmup": mlm.Warmup, "wd": mlm.WeightDecay,
			"schedule": mlm.Schedule, "optimizer": mlm.Optimizer, "max-len": fmt.Sprintf("%d; %d with --lang en", mlm.PLen, rocketqa.MSMarcoDE.PLen)},
		"train-de": {"batch": de.Batch, "epochs": de.Epochs, "lr": de.LR, "warmup": de.Warmup, "wd": de.WeightDecay,
			"schedule": de.Schedule, "optimizer": de.Optimizer, "q-len": de.QLen, "for-cn": fmt.Sprintf("%v for", de.ForCN),
			"p-len": fmt.Sprintf("%d; %d with --lang en", de.PLen, rocketqa.MSMarcoDE.PLen)},
		"train-ce": {"batch": ce.Batch, "epochs": ce.Epochs, "lr": ce.LR, "warmup": ce.Warmup, "wd": ce.WeightDecay,
			"schedule": ce.Schedule, "optimizer": ce.Optimizer, "perturb": ce.Perturb, "for-cn": fmt.Sprintf("%v for", ce.ForCN),
			"max-len": fmt.Sprintf("%d; %d with --lang en", ce.PairLen, rocketqa.MSMarcoCE.PairLen)},
	} {
		got := helpDefaults(t, cmd)
		for flag, v := range want {
			assert.Equal(t, str(v), got[flag], "%s --%s", cmd, flag)
		}
	}
}

// TestTwoOutputsOneFile: two outputs of one command given the same path are refused at start, naming both flags;
// before, both were written and renamed onto the path and the first was silently lost (search and score kept the
// JSON run only, queries the qrels only).
func TestTwoOutputsOneFile(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	model := trainTinyDE(t, f) // search and score check the model's lengths first
	out := filepath.Join(dir, "out.tsv")
	for _, args := range [][]string{
		{"search", "--model", model, "--index", f.q2qid, "--queries", f.q2qid, "--out", out, "--json", dir + "/./out.tsv"},
		{"score", "--model", model, "--run", f.q2qid, "--queries", f.q2qid, "--collection", f.coll, "--out", out, "--json", out},
		{"queries", "--train", f.dualTrain, "--collection", f.coll, "--out-queries", out, "--out-qrels", filepath.Join(dir, ".", "out.tsv")},
	} {
		r := inproc(t, args...)
		assert.Equal(t, 2, r.code, "%s", r)
		assert.Contains(t, r.stderr, "is the same file as --out", args[0])
		assert.NoFileExists(t, out)
	}
	// a link to the other output is the same file too
	require.NoError(t, os.WriteFile(out, nil, 0o644))
	link := filepath.Join(dir, "link.tsv")
	require.NoError(t, os.Symlink(out, link))
	r := inproc(t, "queries", "--train", f.dualTrain, "--collection", f.coll, "--out-queries", out, "--out-qrels", link)
	assert.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "--out-qrels "+link+" is the same file as --out-queries "+out)
}

// TestOutputIsADirectory: an output file path that is an existing directory fails with "is a directory", naming
// it, and leaves no temporary file beside it. Before, merge and queries did the work and then failed on the final
// rename ("rename .../.out.tmp123 .../out: file exists").
func TestOutputIsADirectory(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	work := filepath.Join(dir, "work")
	out := filepath.Join(work, "out")
	require.NoError(t, os.MkdirAll(out, 0o755))
	for _, args := range [][]string{
		{"merge", "--out", out, f.dualTrain},
		{"queries", "--train", f.dualTrain, "--collection", f.coll, "--out-queries", out, "--out-qrels", filepath.Join(work, "qrels.tsv")},
	} {
		r := inproc(t, args...)
		assert.NotEqual(t, 0, r.code, "%s", r)
		assert.Contains(t, r.stderr, out+": is a directory", args[0])
		entries, err := os.ReadDir(work)
		require.NoError(t, err)
		for _, e := range entries {
			assert.Equal(t, "out", e.Name(), "%s left a file behind", args[0])
		}
	}
}

// TestIndexRerunOtherShards: index into an --out that holds indexes built from other embedding shards (another
// model's, or float16 ones) is refused, naming the index and the shard; the same shards are kept as before (an
// interrupted run resumes). Before, the stale indexes were kept (exit 0, "exists, kept") and search then used the
// old embeddings.
func TestIndexRerunOtherShards(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	model := trainTinyDE(t, f)
	emb, emb16, idx := filepath.Join(dir, "emb"), filepath.Join(dir, "emb16"), filepath.Join(dir, "idx")
	for _, args := range [][]string{
		{"encode", "--model", model, "--collection", f.coll, "--out", emb, "--threads", "1"},
		{"encode", "--model", model, "--collection", f.coll, "--out", emb16, "--fp16", "--threads", "1"},
		{"index", "--emb", emb, "--out", idx, "--threads", "1"},
	} {
		r := inproc(t, args...)
		require.Equal(t, 0, r.code, "%s", r)
	}
	r := inproc(t, "index", "--emb", emb, "--out", idx, "--threads", "1")
	require.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "part-00.index exists, kept")
	r = inproc(t, "index", "--emb", emb16, "--out", idx, "--threads", "1")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, filepath.Join(idx, "part-00.index")+" was built from other embeddings than "+filepath.Join(emb16, "part-00.emb"))
	r = inproc(t, "index", "--emb", emb16, "--out", idx, "--force", "--threads", "1")
	require.Equal(t, 0, r.code, "%s", r)
}

// TestQueriesDuplicatePassageText: a positive text the collection holds under two pids makes both positives, so
// that neither can be mined as a negative of its own query.
func TestQueriesDuplicatePassageText(t *testing.T) {
	dir := t.TempDir()
	coll := filepath.Join(dir, "coll")
	require.NoError(t, os.MkdirAll(coll, 0o755))
	write := func(path, s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o644)) }
	write(filepath.Join(coll, "part-00"), "-\t\talpha text\t0\n-\t\tbeta text\t0\n-\t\talpha text\t0\n")
	write(filepath.Join(coll, "passage2id.map.json"), `{"0": "pa", "1": "pb", "2": "pc"}`)
	train := filepath.Join(dir, "dual.train.tsv")
	write(train, "query one\t\talpha text\t\tbeta text\t0\n")
	q, qr := filepath.Join(dir, "q.tsv"), filepath.Join(dir, "qrels.tsv")
	r := inproc(t, "queries", "--train", train, "--collection", coll, "--out-queries", q, "--out-qrels", qr)
	require.Equal(t, 0, r.code, "%s", r)
	b, err := os.ReadFile(qr)
	require.NoError(t, err)
	assert.Equal(t, "q0\tpa\nq0\tpc\n", string(b))
}
