package rocketqa

import (
	"context"
	"errors"
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/retrieval"
)

// readShards reads every row of the shards: ids, vectors and the value type of the first.
func readShards(t *testing.T, shards []string) ([]string, [][]float32, retrieval.DType) {
	var ids []string
	var vecs [][]float32
	var dt retrieval.DType
	for _, sh := range shards {
		rd, err := retrieval.OpenEmbeddingReader(sh)
		require.NoError(t, err)
		dt = rd.DType()
		for {
			id, v, err := rd.Next(64)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			for i := range id {
				ids = append(ids, id[i])
				vecs = append(vecs, v[i*rd.Dim():(i+1)*rd.Dim()])
			}
		}
		require.NoError(t, rd.Close())
	}
	return ids, vecs, dt
}

// Float16 shards hold the float32 vectors rounded to nearest even (nothing else changes), build an index that
// finds the same nearest passages, and are recorded in encode.json: float32, float16 and bfloat16-autocast shards
// never mix in one directory.
func TestEncodeCollectionFloat16Shards(t *testing.T) {
	ctx := context.Background()
	coll := tinyCollection(t, 12)
	emb := tinyEmbedder(t, 42)
	out32, out16 := filepath.Join(t.TempDir(), "emb32"), filepath.Join(t.TempDir(), "emb16")
	sh32, err := EncodeCollection(ctx, emb, coll, out32, nil)
	require.NoError(t, err)
	sh16, err := EncodeCollectionWith(ctx, emb, coll, out16, EncodeHooks{DType: retrieval.Float16})
	require.NoError(t, err)

	ids32, v32, dt32 := readShards(t, sh32)
	ids16, v16, dt16 := readShards(t, sh16)
	require.Equal(t, retrieval.Float32, dt32)
	require.Equal(t, retrieval.Float16, dt16)
	require.Equal(t, ids32, ids16)
	for i := range v32 {
		for j, x := range v32[i] {
			want := retrieval.Float16ToFloat32(retrieval.Float32ToFloat16(x))
			require.Equal(t, want, v16[i][j], "passage %s value %d: float32 %v", ids32[i], j, x)
		}
	}

	// the float16 index scores every passage as the float32 one does, within the rounding bound: each value is
	// off by at most 2^-11 of itself, so an inner product by at most 2^-11 * sum |q_i p_i|
	idx32, err := IndexShards(ctx, sh32, filepath.Join(t.TempDir(), "ix32"), "Flat")
	require.NoError(t, err)
	idx16, err := IndexShards(ctx, sh16, filepath.Join(t.TempDir(), "ix16"), "Flat")
	require.NoError(t, err)
	var flat []float32
	for _, v := range v32 {
		flat = append(flat, v...)
	}
	scores := func(paths []string) []map[string]float32 {
		ix, err := retrieval.OpenShardedIndex(paths...)
		require.NoError(t, err)
		defer ix.Close()
		hits, err := ix.Search(flat, len(v32))
		require.NoError(t, err)
		out := make([]map[string]float32, len(hits))
		for i, hs := range hits {
			out[i] = map[string]float32{}
			for _, h := range hs {
				out[i][h.PID] = h.Score
			}
		}
		return out
	}
	s32, s16 := scores(idx32), scores(idx16)
	row := map[string]int{}
	for i, id := range ids32 {
		row[id] = i
	}
	for q := range v32 {
		require.Len(t, s16[q], len(v32))
		for pid, want := range s32[q] {
			var abs float64
			for j, x := range v32[q] {
				abs += math.Abs(float64(x) * float64(v32[row[pid]][j]))
			}
			got := s16[q][pid]
			require.LessOrEqual(t, math.Abs(float64(got-want)), abs/2048+1e-5, "query %d passage %s: float16 %v float32 %v", q, pid, got, want)
		}
	}

	// a rerun of the other type, or with bfloat16 autocast, is refused with what differs
	_, err = EncodeCollection(ctx, emb, coll, out16, nil)
	require.ErrorContains(t, err, "float16 shards (this run: float32)")
	_, err = EncodeCollectionWith(ctx, emb, coll, out32, EncodeHooks{DType: retrieval.Float16})
	require.ErrorContains(t, err, "float32 shards (this run: float16)")
	bf := *emb
	bf.Options.BF16, bf.Options.ForceBF16 = true, true
	_, err = EncodeCollection(ctx, &bf, coll, out32, nil)
	require.ErrorContains(t, err, "precision float32 (this run: bf16-autocast)")
	_, err = EncodeCollectionWith(ctx, emb, coll, out32, EncodeHooks{DType: 7})
	require.ErrorContains(t, err, "shard value type 7")
}
