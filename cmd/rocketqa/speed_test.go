package main

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/torch"
)

// readShards reads every embedding shard of an encode output directory, keyed by passage id.
func readShards(t *testing.T, dir string) map[string][]float32 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.emb"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sort.Strings(files)
	out := map[string][]float32{}
	for _, f := range files {
		ids, vecs, err := retrieval.ReadEmbeddings(f)
		require.NoError(t, err)
		d := len(vecs) / len(ids)
		for i, id := range ids {
			out[id] = vecs[i*d : (i+1)*d]
		}
	}
	return out
}

// encode --force-bf16 --token-budget gives the fp32 vectors up to bfloat16 rounding (cosine), in the same order
// of ids; --bf16 on a CPU without native bfloat16 says so and encodes in float32; a negative budget is refused.
func TestEncodeBF16AndTokenBudget(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	model := trainTinyDE(t, f)
	fp32, bf16 := filepath.Join(dir, "emb32"), filepath.Join(dir, "emb16")
	ok(t, "encode", "--model", model, "--collection", f.coll, "--out", fp32, "--threads", "1")
	ok(t, "encode", "--model", model, "--collection", f.coll, "--out", bf16, "--threads", "1", "--force-bf16", "--token-budget", "96")
	a, b := readShards(t, fp32), readShards(t, bf16)
	require.Equal(t, len(a), len(b))
	for id, va := range a {
		vb := b[id]
		require.Len(t, vb, len(va), id)
		var dot, na, nb float64
		for i := range va {
			dot += float64(va[i]) * float64(vb[i])
			na += float64(va[i]) * float64(va[i])
			nb += float64(vb[i]) * float64(vb[i])
		}
		cos := dot / math.Sqrt(na*nb)
		require.Greater(t, cos, 0.99, "passage %s", id)
		require.Less(t, cos, 1.0-1e-9, "passage %s: bf16 must differ from fp32 (did autocast run?)", id)
	}
	if !torch.BF16Supported() {
		r := inproc(t, "encode", "--model", model, "--collection", f.coll, "--out", filepath.Join(dir, "emb3"), "--threads", "1", "--bf16")
		require.Equal(t, 0, r.code, "%s", r)
		require.Contains(t, r.stderr, "bfloat16")
	}
	r := inproc(t, "encode", "--model", model, "--collection", f.coll, "--out", filepath.Join(dir, "emb4"), "--token-budget", "-1")
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "--token-budget -1")
}

// encode --fp16 writes float16 shards that index and search as the float32 ones do; a rerun into the directory
// without --fp16 is refused (shards of two value types never mix).
func TestEncodeFP16Shards(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	model := trainTinyDE(t, f)
	fp32, fp16 := filepath.Join(dir, "emb32"), filepath.Join(dir, "emb16")
	ok(t, "encode", "--model", model, "--collection", f.coll, "--out", fp32, "--threads", "1")
	ok(t, "encode", "--model", model, "--collection", f.coll, "--out", fp16, "--threads", "1", "--fp16")
	a, b := readShards(t, fp32), readShards(t, fp16)
	require.Equal(t, len(a), len(b))
	for id, va := range a {
		for i, x := range va {
			require.Equal(t, retrieval.Float16ToFloat32(retrieval.Float32ToFloat16(x)), b[id][i], "passage %s value %d", id, i)
		}
	}
	fi32, err := os.Stat(filepath.Join(fp32, "part-00.emb"))
	require.NoError(t, err)
	fi16, err := os.Stat(filepath.Join(fp16, "part-00.emb"))
	require.NoError(t, err)
	require.Less(t, fi16.Size(), fi32.Size())
	ok(t, "index", "--emb", fp16, "--out", filepath.Join(dir, "ix16"))
	r := inproc(t, "encode", "--model", model, "--collection", f.coll, "--out", fp16, "--threads", "1")
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, "float16 shards (this run: float32)")
}
