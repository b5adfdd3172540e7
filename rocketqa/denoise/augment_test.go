package denoise

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAugmentQueryPseudoPositiveStrictlyAbove(t *testing.T) {
	cands := []Candidate{sc("a", 1, 0.9), sc("b", 2, 0.05), sc("c", 3, 0.5)}
	_, _, ok := AugmentQuery(cands, AugmentOptions{})
	assert.False(t, ok, "a best score of exactly 0.9 gives no pseudo-positive")

	cands[2] = sc("c", 3, 0.9001)
	pos, negs, ok := AugmentQuery(cands, AugmentOptions{})
	require.True(t, ok)
	assert.Equal(t, "c", pos)
	assert.Equal(t, []string{"b"}, negs)
}

func TestAugmentQueryHighestWinsAndTiesGoToBetterRank(t *testing.T) {
	cands := []Candidate{sc("n", 1, 0.0), sc("a", 2, 0.93), sc("b", 3, 0.97), sc("c", 4, 0.97), sc("d", 5, 0.95)}
	pos, _, ok := AugmentQuery(cands, AugmentOptions{})
	require.True(t, ok)
	assert.Equal(t, "b", pos)
	// The same candidates in another input order give the same answer: ranks decide.
	pos, _, _ = AugmentQuery([]Candidate{cands[4], cands[3], cands[2], cands[1], cands[0]}, AugmentOptions{})
	assert.Equal(t, "b", pos)
}

func TestAugmentQueryNegativesBelowThresholdInRankOrderUpToCount(t *testing.T) {
	cands := []Candidate{
		sc("p", 1, 0.99), sc("n1", 2, 0.1), sc("n2", 3, 0.0999), us("u", 4), sc("n3", 5, 0.2),
		sc("n4", 6, 0.01), sc("n5", 7, 0.02), sc("n6", 8, 0.03), sc("n7", 9, 0.04),
	}
	_, negs, ok := AugmentQuery(cands, AugmentOptions{})
	require.True(t, ok)
	assert.Equal(t, []string{"n2", "n4", "n5", "n6"}, negs, "0.1 itself and unscored candidates are not negatives; at most 4")

	// With a threshold that float32 holds exactly, a score equal to it is still not a negative.
	_, negs, _ = AugmentQuery(cands, AugmentOptions{NegThreshold: 0.0625, NegCount: 10})
	assert.Equal(t, []string{"n4", "n5", "n6", "n7"}, negs)
	cands[5] = sc("n4", 6, 0.0625)
	_, negs, _ = AugmentQuery(cands, AugmentOptions{NegThreshold: 0.0625, NegCount: 10})
	assert.Equal(t, []string{"n5", "n6", "n7"}, negs)
	cands[5] = sc("n4", 6, 0.01)

	_, negs, _ = AugmentQuery(cands, AugmentOptions{NegCount: 1})
	assert.Equal(t, []string{"n2"}, negs, "NQ setting: one negative")

	a := augmentQuery(cands, DefaultAugmentOptions())
	assert.Equal(t, 1, a.unscored)
	assert.Equal(t, 2, a.rejected) // n1 (0.1) and n3 (0.2); p is excluded, not rejected
	assert.Equal(t, 1, a.excluded)
}

func TestAugmentQueryTopK(t *testing.T) {
	cands := []Candidate{sc("n1", 1, 0.01), sc("n2", 50, 0.01), sc("far", 51, 0.99), sc("n3", 60, 0.0)}
	_, _, ok := AugmentQuery(cands, AugmentOptions{})
	assert.False(t, ok, "a pseudo-positive past the top 50 does not count")
	cands[2] = sc("p", 49, 0.99)
	pos, negs, ok := AugmentQuery(cands, AugmentOptions{})
	require.True(t, ok)
	assert.Equal(t, "p", pos)
	assert.Equal(t, []string{"n1", "n2"}, negs)
}

func TestAugmentQueryExactPIDExclusion(t *testing.T) {
	// The official `_pid in pos_qp[qid]` would drop "12" and "3" as substrings of "123".
	cands := []Candidate{sc("12", 1, 0.03), sc("123", 2, 0.96), sc("3", 3, 0.05), sc("1234", 4, 0.01), sc("123", 5, 0.0)}
	pos, negs, ok := AugmentQuery(cands, AugmentOptions{})
	require.True(t, ok)
	assert.Equal(t, "123", pos)
	assert.Equal(t, []string{"12", "3", "1234"}, negs, "the pseudo-positive (even repeated) is excluded, nothing else")
}

func TestAugmentQueryNoNegative(t *testing.T) {
	_, negs, ok := AugmentQuery([]Candidate{sc("p", 1, 0.99), sc("x", 2, 0.5), us("u", 3)}, AugmentOptions{})
	assert.False(t, ok)
	assert.Nil(t, negs)
}

func TestAugmentWritesAndSkips(t *testing.T) {
	cands := map[string][]Candidate{
		"u1": {sc("a", 1, 0.02), sc("b", 2, 0.95), sc("c", 3, 0.5), sc("d", 4, 0.01)},
		"u2": {sc("e", 1, 0.9), sc("f", 2, 0.0)},  // no pseudo-positive
		"u3": {sc("g", 1, 0.99), sc("h", 2, 0.3)}, // no negative
	}
	in := MineInput{
		QIDs:       []string{"u1", "u2", "u3", "u4"},
		Queries:    map[string]string{"u1": "one", "u2": "two", "u3": "three", "u4": "four"},
		Positives:  map[string][]string{"u1": {"d"}}, // ignored
		Candidates: cands,
		Passages:   storeFor(t, cands),
	}
	out := filepath.Join(t.TempDir(), "unlabel.tsv")
	st, err := Augment(context.Background(), in, AugmentOptions{}, out)
	require.NoError(t, err)
	assert.Equal(t, []string{dualLine("one", "b", "a"), dualLine("one", "b", "d")}, readLines(t, out))
	assert.Equal(t, Stats{Queries: 4, Written: 1, Lines: 2, Positives: 1, CENegatives: 2, Rejected: 2, Excluded: 2,
		SkippedNoCandidates: 1, SkippedNoPseudoPositive: 1, SkippedNoNegatives: 1}, st)
}

func TestAugmentErrors(t *testing.T) {
	cands := map[string][]Candidate{"u1": {sc("a", 1, 0.02), sc("b", 2, 0.95)}}
	for _, c := range []struct {
		name string
		in   MineInput
		o    AugmentOptions
		msg  string
	}{
		{"missing passage", MineInput{QIDs: []string{"u1"}, Queries: map[string]string{"u1": "q"}, Candidates: cands,
			Passages: testStore(t, "b")}, AugmentOptions{}, `negative pid "a" is not in the passage store`},
		{"missing query", MineInput{QIDs: []string{"u1"}, Candidates: cands, Passages: storeFor(t, cands)},
			AugmentOptions{}, `qid "u1" has no query text`},
		{"thresholds crossed", MineInput{QIDs: []string{"u1"}}, AugmentOptions{PosThreshold: 0.05}, "PosThreshold 0.05 is below NegThreshold 0.1"},
		{"negative count", MineInput{QIDs: []string{"u1"}}, AugmentOptions{NegCount: -2}, "NegCount -2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Augment(context.Background(), c.in, c.o, filepath.Join(dir, "out.tsv"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.msg)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries)
		})
	}
}

func TestAugmentOptionsDefaults(t *testing.T) {
	assert.Equal(t, AugmentOptions{PosThreshold: 0.9, NegThreshold: 0.1, NegCount: 4, TopK: 50}, AugmentOptions{}.withDefaults())
	assert.Equal(t, 1, AugmentOptions{NegCount: 1}.withDefaults().NegCount)
}
