package denoise

// Parity with the Python statement of the official rules: testdata/gen_fixtures.py writes a small corpus, runs,
// CE scores and the outputs the rules of construct_marco_train_de.py / construct_unlabel_train_de.py give.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
)

const td = "testdata"

func readQueries(t *testing.T, path string) ([]string, map[string]string) {
	recs, err := dataset.ReadIDText(path)
	require.NoError(t, err)
	var qids []string
	m := map[string]string{}
	for _, r := range recs {
		qids = append(qids, r.ID)
		m[r.ID] = r.Text
	}
	return qids, m
}

func readQrels(t *testing.T, path string) map[string][]string {
	r, err := dataset.OpenQrels(path)
	require.NoError(t, err)
	defer r.Close()
	m := map[string][]string{}
	for r.Next() {
		q := r.Qrel()
		m[q.QID] = append(m[q.QID], q.PID)
	}
	require.NoError(t, r.Err())
	return m
}

func fixturePassages(t *testing.T) *dataset.Passages {
	ps, err := dataset.LoadMarcoCorpus(filepath.Join(td, "para.txt"), filepath.Join(td, "para.title.txt"))
	require.NoError(t, err)
	return ps
}

func labelledInput(t *testing.T) MineInput {
	qids, queries := readQueries(t, filepath.Join(td, "train.query.txt"))
	cands, runQIDs, err := LoadCandidates(context.Background(), filepath.Join(td, "de.run.tsv"), filepath.Join(td, "ce.run.tsv"))
	require.NoError(t, err)
	require.Len(t, runQIDs, len(qids)-1, "every query but q5 is in the run")
	return MineInput{
		QIDs:       qids,
		Queries:    queries,
		Positives:  readQrels(t, filepath.Join(td, "qrels.train.tsv")),
		Additional: readQrels(t, filepath.Join(td, "qrels.train.addition.tsv")),
		Candidates: cands,
		Passages:   fixturePassages(t),
	}
}

type expectedMine struct {
	Positives   []string `json:"positives"`
	CENegatives []string `json:"ce_negatives"`
	Fill        int      `json:"fill"`
	FillPool    []string `json:"fill_pool"`
}

func TestFixtureMineWithoutFillMatchesReference(t *testing.T) {
	in := labelledInput(t)
	out := filepath.Join(t.TempDir(), "de1.tsv")
	st, err := Mine(context.Background(), in, MineOptions{FillFrom: -1}, out)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(td, "expected.mine.nofill.tsv"))
	require.NoError(t, err)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.Equal(t, strings.Count(string(want), "\n"), st.Lines)
	assert.Equal(t, 1, st.SkippedNoPositives)  // q4
	assert.Equal(t, 1, st.SkippedNoCandidates) // q5
	assert.Equal(t, 2, st.SkippedNoNegatives)  // q6, q7: nothing confident in the top 50, and no fill
	assert.Zero(t, st.FilledNegatives)
}

func TestFixtureMineWithFillFollowsReference(t *testing.T) {
	in := labelledInput(t)
	b, err := os.ReadFile(filepath.Join(td, "expected.mine.json"))
	require.NoError(t, err)
	var exp map[string]expectedMine
	require.NoError(t, json.Unmarshal(b, &exp))
	require.Len(t, exp, 10)

	out := filepath.Join(t.TempDir(), "de1.tsv")
	st, err := Mine(context.Background(), in, MineOptions{}, out)
	require.NoError(t, err)

	// Map texts back to pids and group the lines by query.
	pidOf := map[string]string{}
	for i := range in.Passages.Len() {
		p := in.Passages.At(i)
		pidOf[p.Text] = p.PID
	}
	qidOf := map[string]string{}
	for q, text := range in.Queries {
		qidOf[text] = q
	}
	type pair struct{ pos, neg string }
	byQuery := map[string][]pair{}
	var order []string
	r, err := dataset.OpenDualTrain(out)
	require.NoError(t, err)
	defer r.Close()
	for r.Next() {
		ex := r.Example()
		q := qidOf[ex.Query]
		if _, seen := byQuery[q]; !seen {
			order = append(order, q)
		}
		byQuery[q] = append(byQuery[q], pair{pidOf[ex.PosPara], pidOf[ex.NegPara]})
	}
	require.NoError(t, r.Err())
	assert.Equal(t, []string{"q1", "q2", "q3", "q6", "q7", "q8", "q9", "q10", "q11", "q12"}, order)

	lines, fills := 0, 0
	for q, e := range exp {
		got := byQuery[q]
		n := len(e.CENegatives) + e.Fill
		require.Len(t, got, n, q)
		negs := make([]string, n)
		for k, p := range got {
			assert.Equal(t, e.Positives[k%len(e.Positives)], p.pos, "%s line %d pairs the positives in turn", q, k)
			negs[n-1-k] = p.neg // popped from the end
		}
		assert.Equal(t, e.CENegatives, negs[:len(e.CENegatives)], "%s: CE-filtered negatives in rank order", q)
		fill := negs[len(e.CENegatives):]
		assert.Subset(t, e.FillPool, fill, "%s: fill from ranks 51-1000, no positives", q)
		assert.Len(t, dedup(fill), len(fill), "%s: fill repeats", q)
		lines += n
		fills += e.Fill
	}
	assert.Equal(t, lines, st.Lines)
	assert.Equal(t, fills, st.FilledNegatives)
	assert.Equal(t, 3, st.FilledQueries) // q2, q6, q7
	assert.Zero(t, st.ShortQueries)
}

func TestFixtureAugmentMatchesReference(t *testing.T) {
	qids, queries := readQueries(t, filepath.Join(td, "unlabel.query.txt"))
	cands, _, err := LoadCandidates(context.Background(), filepath.Join(td, "unlabel.de.run.tsv"), filepath.Join(td, "unlabel.ce.run.tsv"))
	require.NoError(t, err)
	in := MineInput{QIDs: qids, Queries: queries, Candidates: cands, Passages: fixturePassages(t)}
	out := filepath.Join(t.TempDir(), "unlabel.tsv")
	st, err := Augment(context.Background(), in, AugmentOptions{}, out)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(td, "expected.augment.tsv"))
	require.NoError(t, err)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.Equal(t, 1, st.SkippedNoCandidates)              // u8
	assert.Equal(t, 1, st.SkippedNoNegatives)               // u3
	assert.GreaterOrEqual(t, st.SkippedNoPseudoPositive, 1) // u2 and any random one without
	assert.Equal(t, st.Queries-st.SkippedNoCandidates-st.SkippedNoNegatives-st.SkippedNoPseudoPositive, st.Written)

	// The negatives the official substring test would have dropped are there.
	b, err := os.ReadFile(filepath.Join(td, "expected.augment.json"))
	require.NoError(t, err)
	var kept struct {
		Kept [][2]string `json:"kept_despite_official_substring_test"`
	}
	require.NoError(t, json.Unmarshal(b, &kept))
	require.NotEmpty(t, kept.Kept)
	for _, k := range kept.Kept {
		p, ok := in.Passages.Get(k[1])
		require.True(t, ok)
		found := slices.ContainsFunc(strings.Split(string(got), "\n"), func(l string) bool {
			f := strings.Split(l, "\t")
			return len(f) == 6 && f[0] == queries[k[0]] && f[4] == p.Text
		})
		assert.True(t, found, "query %s keeps negative %s", k[0], k[1])
	}
}

func TestFixtureMergeIsConcatenation(t *testing.T) {
	dir := t.TempDir()
	in := labelledInput(t)
	de1 := filepath.Join(dir, "de1.tsv")
	_, err := Mine(context.Background(), in, MineOptions{}, de1)
	require.NoError(t, err)
	de2 := filepath.Join(dir, "de2.tsv")
	require.NoError(t, Merge(context.Background(), de2, de1, filepath.Join(td, "expected.augment.tsv")))
	a, err := os.ReadFile(de1)
	require.NoError(t, err)
	u, err := os.ReadFile(filepath.Join(td, "expected.augment.tsv"))
	require.NoError(t, err)
	m, err := os.ReadFile(de2)
	require.NoError(t, err)
	assert.Equal(t, string(a)+string(u), string(m))
}
