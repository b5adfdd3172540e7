package jointtrain

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// TestBuildLists: undenoised lists (positive + random top-N negatives) come first, then denoised lists (CE < 0.1
// negatives; an unlabelled query's > 0.9 candidate as positive); positives are never negatives; queries with too
// few candidates are skipped; the file reads back with ReadLists.
func TestBuildLists(t *testing.T) {
	ps := dataset.NewPassages()
	in := denoise.MineInput{Queries: map[string]string{}, Positives: map[string][]string{}, Candidates: map[string][]denoise.Candidate{}, Passages: ps}
	for i := 0; i < 40; i++ {
		require.NoError(t, ps.Add(fmt.Sprintf("p%d", i), "", fmt.Sprintf("text %d", i)))
	}
	// q1 labelled (positive p0), q2 unlabelled, q3 labelled with too few candidates
	for _, q := range []string{"q1", "q2", "q3"} {
		in.QIDs = append(in.QIDs, q)
		in.Queries[q] = "query " + q
	}
	in.Positives["q1"], in.Positives["q3"] = []string{"p0"}, []string{"p1"}
	for r := 1; r <= 12; r++ {
		score := float32(0.05)
		if r%3 == 0 {
			score = 0.5 // not a confident negative
		}
		in.Candidates["q1"] = append(in.Candidates["q1"], denoise.Candidate{PID: fmt.Sprintf("p%d", r-1), Rank: r, CEScore: score, Scored: true})
		s2 := score
		if r == 4 {
			s2 = 0.95
		}
		in.Candidates["q2"] = append(in.Candidates["q2"], denoise.Candidate{PID: fmt.Sprintf("p%d", 20+r), Rank: r, CEScore: s2, Scored: true})
	}
	in.Candidates["q3"] = []denoise.Candidate{{PID: "p2", Rank: 1, CEScore: 0.01, Scored: true}}
	out := filepath.Join(t.TempDir(), "lists.tsv")
	st, err := BuildLists(in, ListOptions{M: 4, TopN: 12}, out)
	require.NoError(t, err)
	require.Equal(t, ListStats{Undenoised: 1, Denoised: 2, PseudoPositive: 1, ShortUndenoised: 1, ShortDenoised: 1}, st)
	ls, err := ReadLists(out, 4)
	require.NoError(t, err)
	require.Len(t, ls, 3)
	require.Equal(t, "query q1", ls[0].Query) // undenoised first
	require.Equal(t, "text 0", ls[0].Items[0].Para)
	for _, it := range ls[0].Items[1:] {
		require.NotEqual(t, "text 0", it.Para, "the positive is never a negative")
	}
	require.Equal(t, "query q1", ls[1].Query)
	for _, it := range ls[1].Items[1:] { // denoised: only CE < 0.1 (ranks not divisible by 3)
		var n int
		fmt.Sscanf(it.Para, "text %d", &n)
		require.NotZero(t, (n+1)%3, "denoised negative %s had CE score 0.5", it.Para)
	}
	require.Equal(t, "query q2", ls[2].Query)
	require.Equal(t, "text 24", ls[2].Items[0].Para, "pseudo-positive: the candidate scored 0.95")
	_, err = BuildLists(in, ListOptions{M: 40, TopN: 50}, out)
	require.ErrorContains(t, err, "no list of 40")
}

// TestBuildListsPseudoPositiveNeverANegative: a PosThreshold below NegThreshold would let an unlabelled query's
// pseudo-positive also pass the negative filter and appear twice in its list, once labelled 0; it is refused.
func TestBuildListsPseudoPositiveNeverANegative(t *testing.T) {
	ps := dataset.NewPassages()
	in := denoise.MineInput{QIDs: []string{"q1"}, Queries: map[string]string{"q1": "query q1"}, Positives: map[string][]string{},
		Candidates: map[string][]denoise.Candidate{}, Passages: ps}
	for r := 1; r <= 5; r++ {
		pid := fmt.Sprintf("p%d", r)
		require.NoError(t, ps.Add(pid, "", "text "+pid))
		in.Candidates["q1"] = append(in.Candidates["q1"], denoise.Candidate{PID: pid, Rank: r, CEScore: 0.05 - float32(r)*0.001, Scored: true})
	}
	out := filepath.Join(t.TempDir(), "lists.tsv")
	_, err := BuildLists(in, ListOptions{M: 5, TopN: 5, PosThreshold: 0.01, NegThreshold: 0.1}, out)
	require.ErrorContains(t, err, "PosThreshold 0.01 is below NegThreshold 0.1")
	require.NoFileExists(t, out)
}
