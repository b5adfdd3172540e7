package rocketqa

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/retrieval"
)

// TestWriteCrossTrainLabelsAndRoles checks the cross-encoder training file of step 2: every positive with label 1,
// negPerQuery retrieved non-positives with label 0, the query in column 1 and the passage in columns 2-3.
func TestWriteCrossTrainLabelsAndRoles(t *testing.T) {
	pool := dataset.NewPassages()
	for _, p := range [][3]string{{"p1", "t1", "pos of a"}, {"p2", "", "neg 2"}, {"p3", "", "neg 3"}, {"p4", "t4", "pos of b"}, {"p5", "", "neg 5"}} {
		require.NoError(t, pool.Add(p[0], p[1], p[2]))
	}
	lq := &LabelledQueries{QIDs: []string{"a", "b"}, Text: map[string]string{"a": "query a", "b": "query b"},
		Positives: map[string][]string{"a": {"p1"}, "b": {"p4"}}}
	hits := [][]retrieval.Hit{
		{{PID: "p2"}, {PID: "p1"}, {PID: "p3"}, {PID: "p4"}},
		{{PID: "p4"}, {PID: "p5"}},
	}
	path := filepath.Join(t.TempDir(), "cross.train.tsv")
	require.NoError(t, WriteCrossTrain(path, lq, hits, pool, 2, 1))
	r, err := dataset.OpenCrossTrain(path)
	require.NoError(t, err)
	defer r.Close()
	var got []dataset.CrossExample
	for r.Next() {
		got = append(got, r.Example())
	}
	require.NoError(t, r.Err())
	require.Len(t, got, 5) // a: 1 positive + 2 of its 3 non-positives; b: 1 positive + its only non-positive
	require.Equal(t, dataset.CrossExample{Query: "query a", Title: "t1", Para: "pos of a", Label: 1}, got[0])
	for _, ex := range got[1:3] {
		require.Equal(t, "query a", ex.Query)
		require.Equal(t, 0, ex.Label)
		require.Contains(t, []string{"neg 2", "neg 3", "pos of b"}, ex.Para, "a negative of a is one of a's retrieved non-positives")
	}
	require.NotEqual(t, got[1].Para, got[2].Para, "negatives are sampled without replacement")
	require.Equal(t, dataset.CrossExample{Query: "query b", Title: "t4", Para: "pos of b", Label: 1}, got[3])
	require.Equal(t, dataset.CrossExample{Query: "query b", Para: "neg 5", Label: 0}, got[4])
}
