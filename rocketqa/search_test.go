package rocketqa

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/torch"
)

// The search and scoring loops of the CLI: chunked search streams the same run as one pass; the scoring loop
// re-ranks by CE score in groups of whole queries and streams them in query order.
func TestSearchChunksStreamTheSameRun(t *testing.T) {
	ctx := context.Background()
	emb, _, work, shards := tinyEncoded(t)
	idx, err := BuildIndexes(ctx, shards, filepath.Join(work, "index"), IndexOptions{Single: true})
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(work, "index", "all.index")}, idx)

	var qids, texts []string
	for i, ex := range tinytest.DualExamples(t, 5, 9) {
		qids, texts = append(qids, fmt.Sprintf("q%d", i)), append(texts, ex.Query)
	}
	whole, err := SearchQueries(ctx, emb, idx, texts, 4)
	require.NoError(t, err)
	ix, err := retrieval.OpenShardedIndex(idx...)
	require.NoError(t, err)
	defer ix.Close()
	var got []string
	var hits [][]dataset.Hit
	k, err := Search(ctx, emb, ix, qids, texts, SearchOptions{TopK: 1000, Chunk: 2}, func(q string, h []dataset.Hit) error {
		got, hits = append(got, q), append(hits, h[:4])
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 10, k, "top-k clamped to the index size")
	assert.Equal(t, qids, got, "query order")
	for i := range whole {
		assert.Equal(t, pidsOfHits(whole[i]), pidsOfHits(hits[i]), "query %d: chunks of 2 give the same top 4", i)
	}

	// from and to files: the same run, TSV and JSON
	q := filepath.Join(work, "queries.tsv")
	var lines string
	for i := range qids {
		lines += qids[i] + "\t" + texts[i] + "\n"
	}
	require.NoError(t, os.WriteFile(q, []byte(lines), 0o644))
	f := SearchFiles{Indexes: idx, Queries: q, Out: filepath.Join(work, "run.tsv"), JSON: filepath.Join(work, "run.json")}
	var info SearchInfo
	require.NoError(t, SearchToFiles(ctx, emb, f, SearchOptions{TopK: 4, Chunk: 3}, func(s SearchInfo) { info = s }))
	assert.Equal(t, SearchInfo{Queries: 5, Passages: 10, Shards: 1, TopK: 4}, info)
	rq, rh, err := dataset.ReadRun(f.Out, 0)
	require.NoError(t, err)
	assert.Equal(t, qids, rq)
	for i := range whole {
		assert.Equal(t, pidsOfHits(whole[i]), pidsOfHits(rh[i]))
	}
	jq, _, err := dataset.ReadRunJSON(f.JSON)
	require.NoError(t, err)
	assert.Equal(t, qids, jq)

	// rebuild only with Force: the kept index is reported as kept (nil result)
	var built []bool
	_, err = BuildIndexes(ctx, shards, filepath.Join(work, "index"), IndexOptions{Single: true,
		Built: func(_ string, r *retrieval.BuildResult) { built = append(built, r != nil) }})
	require.NoError(t, err)
	_, err = BuildIndexes(ctx, shards, filepath.Join(work, "index"), IndexOptions{Single: true, Force: true,
		Built: func(_ string, r *retrieval.BuildResult) { built = append(built, r != nil) }})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, built)
}

func pidsOfHits(hs []dataset.Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.PID
	}
	return out
}

func TestScoreHitsStreamsReranked(t *testing.T) {
	ctx := context.Background()
	task := tinyCrossTask(t, false)
	rr := &Reranker{Model: task.Model, Tok: task.Tok, MaxSeqLen: 24, BatchSize: 2, Device: torch.CPU}
	pool := dataset.NewPassages()
	exs := tinytest.DualExamples(t, 6, 3)
	for i, ex := range exs {
		require.NoError(t, pool.Add(fmt.Sprintf("p%d", i), ex.PosTitle, ex.PosPara))
	}
	qids := []string{"a", "b", "c"}
	queries := []string{exs[0].Query, exs[1].Query, exs[2].Query}
	hits := [][]dataset.Hit{{{PID: "p0"}, {PID: "p1"}, {PID: "p2"}, {PID: "p5"}}, {{PID: "p3"}, {PID: "p4"}}, {{PID: "p1"}, {PID: "p2"}, {PID: "p0"}}}
	var got []string
	var out [][]dataset.Hit
	require.NoError(t, ScoreHits(ctx, rr, qids, queries, hits, pool, ScoreOptions{TopK: 3}, func(q string, h []dataset.Hit) error {
		got, out = append(got, q), append(out, h)
		return nil
	}))
	assert.Equal(t, qids, got)
	for i := range hits {
		top := hits[i][:min(3, len(hits[i]))]
		assert.ElementsMatch(t, pidsOfHits(top), pidsOfHits(out[i]), "the top 3 of query %d, re-ranked", i)
		p, _ := pool.Get(out[i][0].PID)
		want, err := rr.Score(ctx, []string{queries[i]}, []string{p.Title}, []string{p.Text})
		require.NoError(t, err)
		assert.InDelta(t, want[0], out[i][0].Score, 1e-5, "the score of a pair scored alone")
		for j := 1; j < len(out[i]); j++ {
			assert.GreaterOrEqual(t, out[i][j-1].Score, out[i][j].Score, "sorted by CE score")
		}
	}
	// the in-memory form is the same loop
	mem, err := ScoreRun(ctx, rr, queries, hits, pool, 3)
	require.NoError(t, err)
	assert.Equal(t, out, mem)
	// a pid missing from the pool names its query
	err = ScoreHits(ctx, rr, qids[:1], queries[:1], [][]dataset.Hit{{{PID: "nope"}}}, pool, ScoreOptions{}, nil)
	assert.ErrorContains(t, err, `qid "a": retrieved passage "nope" is not in the collection`)
}

func TestJoinProcessGroupWithoutLaunch(t *testing.T) {
	t.Setenv("WORLD_SIZE", "")
	pg, err := JoinProcessGroup("", torch.CPU, 0)
	require.NoError(t, err)
	assert.Nil(t, pg)
	t.Setenv("WORLD_SIZE", "1")
	t.Setenv("RANK", "0")
	pg, err = JoinProcessGroup("", torch.CPU, 0)
	require.NoError(t, err)
	assert.Nil(t, pg, "one process needs no group")
	r, w := RankWorld(nil)
	assert.Equal(t, [2]int{0, 1}, [2]int{r, w})
	t.Setenv("WORLD_SIZE", "two")
	_, err = JoinProcessGroup("", torch.CPU, 0)
	assert.ErrorContains(t, err, "WORLD_SIZE")
}

// TestJoinProcessGroupBadRank: a rank that is not below the world size (RANK=3 of WORLD_SIZE=1, or WORLD_SIZE=0) is
// an error naming both, not a single process that trains and writes as rank 0.
func TestJoinProcessGroupBadRank(t *testing.T) {
	for _, c := range [][2]string{{"3", "1"}, {"0", "0"}, {"1", "1"}} {
		t.Setenv("RANK", c[0])
		t.Setenv("WORLD_SIZE", c[1])
		pg, err := JoinProcessGroup("", torch.CPU, 0)
		assert.Nil(t, pg)
		assert.ErrorContains(t, err, "RANK="+c[0]+" is not in [0, WORLD_SIZE="+c[1]+")")
	}
}

func TestPresetsGlobalBatch(t *testing.T) {
	assert.Equal(t, 512, DuReaderDE.GlobalBatch(), "128 x 4 GPUs (docs/method.md §6.2)")
	assert.Equal(t, 4096, MSMarcoDE.GlobalBatch(), "512 x 8 GPUs (docs/method.md §3.5)")
	assert.Equal(t, 128, DuReaderCE.GlobalBatch())
}

// TestBuildIndexesMixedDims: shards of two dimensions are refused before any index is built, in both layouts.
// Before, one index per shard (the default) built them all, and only the search over them refused the mix.
func TestBuildIndexesMixedDims(t *testing.T) {
	dir := t.TempDir()
	var shards []string
	for i, dim := range []int{4, 8} {
		p := filepath.Join(dir, fmt.Sprintf("part-%02d.emb", i))
		w, err := retrieval.NewEmbeddingWriter(p, dim, retrieval.Float32)
		require.NoError(t, err)
		require.NoError(t, w.Append([]string{fmt.Sprintf("p%d", i)}, make([]float32, dim)))
		require.NoError(t, w.Close())
		shards = append(shards, p)
	}
	for _, single := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprintf("index-%v", single))
		_, err := BuildIndexes(context.Background(), shards, out, IndexOptions{Single: single})
		require.Error(t, err, "single %v", single)
		assert.Contains(t, err.Error(), "has dimension 8", "single %v", single)
		left, _ := filepath.Glob(filepath.Join(out, "*.index"))
		assert.Empty(t, left, "single %v: no index built", single)
	}
}

// A query encoder of another dimension is refused before any query is encoded, and a query vector with a NaN
// (a diverged model) is an error naming its qid instead of a run that silently lacks the query (FAISS finds no
// hits for a NaN query of a flat index).
func TestSearchRefusesOtherDimensionAndNonFiniteQueries(t *testing.T) {
	ctx := context.Background()
	emb, _, work, shards := tinyEncoded(t)
	idx, err := BuildIndexes(ctx, shards, filepath.Join(work, "index"), IndexOptions{Single: true})
	require.NoError(t, err)
	ix, err := retrieval.OpenShardedIndex(idx...)
	require.NoError(t, err)
	defer ix.Close()
	qids, texts := []string{"q0", "q1", "q2"}, []string{"a b", "c d", "e f"}
	for i, ex := range tinytest.DualExamples(t, 3, 9) {
		texts[i] = ex.Query
	}
	search := func(e *encoder.Embedder) (int, error) {
		encoded := 0
		_, err := Search(ctx, e, ix, qids, texts, SearchOptions{TopK: 3, Chunk: 2, Progress: func(done, _ int) { encoded = done }},
			func(string, []dataset.Hit) error { return nil })
		return encoded, err
	}

	cfg := *emb.Model.Query.Cfg
	cfg.HiddenSize, cfg.IntermediateSize = 16, 32
	wide, err := encoder.NewBERT(&cfg, false)
	require.NoError(t, err)
	other := *emb
	other.Model = encoder.NewDualEncoder(wide, emb.Model.Para)
	encoded, err := search(&other)
	require.ErrorContains(t, err, "dimension 16, the index 32")
	assert.Equal(t, 0, encoded, "refused before encoding")

	diverged, err := encoder.NewBERT(emb.Model.Query.Cfg, false)
	require.NoError(t, err)
	for _, p := range diverged.Params() {
		require.NoError(t, p.Tensor.Fill(math.NaN()))
	}
	other.Model = encoder.NewDualEncoder(diverged, emb.Model.Para)
	_, err = search(&other)
	require.ErrorContains(t, err, `query "q0" has value NaN`)
}

// An index of no passages is a clear error, not "k = 0 must be positive" (TopK clamped to the index size).
func TestSearchEmptyIndex(t *testing.T) {
	ctx := context.Background()
	emb := tinyEmbedder(t, 42)
	work := t.TempDir()
	sh := filepath.Join(work, "empty.emb")
	w, err := retrieval.NewEmbeddingWriter(sh, emb.Model.Query.Cfg.HiddenSize, retrieval.Float32)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	idx, err := BuildIndexes(ctx, []string{sh}, filepath.Join(work, "index"), IndexOptions{})
	require.NoError(t, err)
	_, err = SearchQueries(ctx, emb, idx, []string{"a query"}, 10)
	require.ErrorContains(t, err, "the index holds no passages")
}

// TestBuildIndexesRerunOtherSettings: an existing index built with another factory or metric is refused (naming
// both settings) instead of kept; the same settings keep it, Force rebuilds. Before, only the shards were
// compared, so a rerun with --factory HNSW32 or --metric l2 kept the old Flat/IP index without a word.
func TestBuildIndexesRerunOtherSettings(t *testing.T) {
	ctx := context.Background()
	_, _, work, shards := tinyEncoded(t)
	out := filepath.Join(work, "index")
	_, err := BuildIndexes(ctx, shards, out, IndexOptions{Single: true})
	require.NoError(t, err)
	kept := 0
	_, err = BuildIndexes(ctx, shards, out, IndexOptions{Single: true, Factory: "Flat",
		Built: func(_ string, r *retrieval.BuildResult) {
			if r == nil {
				kept++
			}
		}})
	require.NoError(t, err)
	assert.Equal(t, 1, kept, "the same settings keep the index")
	for _, o := range []IndexOptions{{Single: true, Metric: retrieval.L2}, {Single: true, Factory: "HNSW8"}, {Single: true, Seed: 7}} {
		_, err = BuildIndexes(ctx, shards, out, o)
		require.Error(t, err, "%+v", o)
		assert.Contains(t, err.Error(), "was built with other settings", "%+v", o)
	}
	_, err = BuildIndexes(ctx, shards, out, IndexOptions{Single: true, Metric: retrieval.L2, Force: true})
	require.NoError(t, err)
	_, err = BuildIndexes(ctx, shards, out, IndexOptions{Single: true, Metric: retrieval.L2})
	require.NoError(t, err, "kept after the rebuild")
}

// tinyEncoded encodes a tiny collection of 10 passages with a tiny embedder into a new work directory's emb/.
func tinyEncoded(t *testing.T) (emb *encoder.Embedder, coll, work string, shards []string) {
	emb = tinyEmbedder(t, 42)
	coll = tinyCollection(t, 10)
	work = t.TempDir()
	shards, err := EncodeCollection(context.Background(), emb, coll, filepath.Join(work, "emb"), nil)
	require.NoError(t, err)
	return emb, coll, work, shards
}
