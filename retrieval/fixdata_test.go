package retrieval

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// buildShardIndexes writes shards of the given sizes and one flat index per shard; it returns the index paths.
func buildShardIndexes(t *testing.T, dir string, sizes []int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	shards, _, _ := shardSet(t, dir, rng, 8, sizes)
	var out []string
	for _, sh := range shards {
		p := sh[:len(sh)-len(".emb")] + ".index"
		_, err := BuildIndex(context.Background(), []string{sh}, "Flat", p, BuildOptions{})
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

// A .pids file copied from another shard with the same row count used to be accepted, giving wrong pids.
func TestOpenShardedIndexRefusesPIDsOfAnotherShard(t *testing.T) {
	dir := t.TempDir()
	idx := buildShardIndexes(t, dir, []int{20, 20})
	s, err := OpenShardedIndex(idx...)
	require.NoError(t, err)
	s.Close()
	b, err := os.ReadFile(PIDsPath(idx[0]))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(PIDsPath(idx[1]), b, 0o644))
	_, err = OpenShardedIndex(idx[1])
	require.Error(t, err)
	assert.Contains(t, err.Error(), PIDsPath(idx[1]))
	assert.Contains(t, err.Error(), "another shard")

	// an index file replaced by another of the same size is refused too
	dir2 := t.TempDir()
	idx2 := buildShardIndexes(t, dir2, []int{20, 20})
	ib, err := os.ReadFile(idx2[1])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(idx2[0], ib, 0o644))
	_, err = OpenShardedIndex(idx2[0])
	require.ErrorContains(t, err, "is not the index recorded in")
}

// Overlapping shards (or a duplicate pid) made one passage come back at two ranks.
func TestShardedIndexRefusesDuplicatePIDs(t *testing.T) {
	dir := t.TempDir()
	idx := buildShardIndexes(t, dir, []int{10, 10})
	// the same shard twice: every pid overlaps
	_, err := OpenShardedIndex(idx[0], idx[0])
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"s0-p0"`)
	assert.Contains(t, err.Error(), "row 0 of "+PIDsPath(idx[0]))

	// a duplicate inside one shard, through NewShardedIndex
	ix, err := NewIndex(2, "Flat", InnerProduct)
	require.NoError(t, err)
	defer ix.Close()
	require.NoError(t, ix.Add([]float32{1, 0, 0, 1, 1, 1}))
	_, err = NewShardedIndex([]*Index{ix}, [][]string{{"a", "b", "a"}})
	require.ErrorContains(t, err, `passage id "a" is row 0 of shard 0 and row 2 of shard 0`)
}

// --top-k far above the index size used to allocate k results per query and shard (10,000,000 took 14 GB).
func TestShardedSearchHugeKIsClamped(t *testing.T) {
	dir := t.TempDir()
	idx := buildShardIndexes(t, dir, []int{5, 3})
	s, err := OpenShardedIndex(idx...)
	require.NoError(t, err)
	defer s.Close()
	q := make([]float32, 8)
	q[0] = 1
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	hits, err := s.Search(q, 10_000_000)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.Len(t, hits[0], 8)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated for a search of 8 vectors")
	seen := map[string]bool{}
	for _, h := range hits[0] {
		assert.False(t, seen[h.PID], "pid %s twice", h.PID)
		seen[h.PID] = true
	}
}

// .emb, .index and .pids were created mode 0600 while run files were 0644.
func TestWrittenFilesHaveOneMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	idx := buildShardIndexes(t, dir, []int{4})
	run := filepath.Join(dir, "run.tsv")
	require.NoError(t, dataset.WriteRun(run, "", []string{"q"}, [][]Hit{{{PID: "p", Score: 1}}}))
	pids := filepath.Join(dir, "x.pids")
	require.NoError(t, WritePIDs(pids, []string{"a"}))
	for _, p := range []string{filepath.Join(dir, "part-00.emb"), idx[0], PIDsPath(idx[0]), MetaPath(idx[0]), run, pids} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), p)
	}
}

// A UTF-8 BOM at the start of a run or pids file became part of the first qid or pid.
func TestRunAndPIDReadersDropBOM(t *testing.T) {
	dir := t.TempDir()
	tsv := filepath.Join(dir, "run.tsv")
	require.NoError(t, os.WriteFile(tsv, []byte("\xef\xbb\xbfq1\tp1\t1\t0.5\n"), 0o644))
	qids, hits, err := dataset.ReadRun(tsv, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"q1"}, qids)
	assert.Equal(t, "p1", hits[0][0].PID)

	js := filepath.Join(dir, "run.json")
	require.NoError(t, os.WriteFile(js, []byte("\xef\xbb\xbf{\"q1\": [\"p1\"]}\n"), 0o644))
	qids, _, err = dataset.ReadRunJSON(js)
	require.NoError(t, err)
	assert.Equal(t, []string{"q1"}, qids)

	pf := filepath.Join(dir, "x.pids")
	require.NoError(t, os.WriteFile(pf, []byte("\xef\xbb\xbfa\nb\n"), 0o644))
	ids, err := ReadPIDs(pf)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, ids)
}
