package retrieval

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// randVecs returns n x d standard normal float32 vectors.
func randVecs(rng *rand.Rand, n, d int) []float32 {
	v := make([]float32, n*d)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// clusteredVecs returns n x d vectors around c random centres, so that approximate indexes have structure
// to exploit, and queries drawn the same way.
func clusteredVecs(rng *rand.Rand, n, d, c int, centres []float32) []float32 {
	v := make([]float32, n*d)
	for i := 0; i < n; i++ {
		k := rng.IntN(c)
		for j := 0; j < d; j++ {
			v[i*d+j] = centres[k*d+j] + 0.4*float32(rng.NormFloat64())
		}
	}
	return v
}

type scored struct {
	id    int64
	score float64
}

// bruteForce ranks every base row for every query by float64 inner product (or squared L2 distance),
// best first, ties by row.
func bruteForce(xb, xq []float32, d, k int, metric Metric) [][]scored {
	nb, nq := len(xb)/d, len(xq)/d
	out := make([][]scored, nq)
	for q := 0; q < nq; q++ {
		all := make([]scored, nb)
		for r := 0; r < nb; r++ {
			var s float64
			for j := 0; j < d; j++ {
				a, b := float64(xq[q*d+j]), float64(xb[r*d+j])
				if metric == L2 {
					s += (a - b) * (a - b)
				} else {
					s += a * b
				}
			}
			all[r] = scored{int64(r), s}
		}
		slices.SortFunc(all, func(a, b scored) int {
			if c := cmp.Compare(a.score, b.score); c != 0 {
				if metric == L2 {
					return c
				}
				return -c
			}
			return cmp.Compare(a.id, b.id)
		})
		out[q] = all[:min(k, nb)]
	}
	return out
}

// requireSameTopK checks FAISS results against brute force: scores rank by rank within tol (relative to
// magnitude), and ids equal wherever the exact scores around that rank are separated by more than tol.
func requireSameTopK(t *testing.T, want [][]scored, scores []float32, ids []int64, k int, tol float64) {
	t.Helper()
	for q, w := range want {
		for r := 0; r < k; r++ {
			got := float64(scores[q*k+r])
			if r >= len(w) {
				require.Equal(t, int64(-1), ids[q*k+r], "query %d rank %d", q, r)
				continue
			}
			scale := math.Max(1, math.Abs(w[r].score))
			require.InDelta(t, w[r].score, got, tol*scale, "query %d rank %d score", q, r)
			nearTie := (r > 0 && math.Abs(w[r].score-w[r-1].score) <= 2*tol*scale) ||
				(r+1 < len(w) && math.Abs(w[r].score-w[r+1].score) <= 2*tol*scale)
			if !nearTie {
				require.Equal(t, w[r].id, ids[q*k+r], "query %d rank %d id", q, r)
			}
		}
	}
}

// recallAtK is the mean fraction of the exact top k found in an approximate top k.
func recallAtK(exact [][]scored, ids []int64, k int) float64 {
	var hit, total float64
	for q, w := range exact {
		set := map[int64]bool{}
		for _, id := range ids[q*k : (q+1)*k] {
			set[id] = true
		}
		for _, s := range w[:k] {
			if set[s.id] {
				hit++
			}
			total++
		}
	}
	return hit / total
}
