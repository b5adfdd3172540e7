package denoise

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// sc is a candidate scored by the cross-encoder.
func sc(pid string, rank int, score float32) Candidate {
	return Candidate{PID: pid, Rank: rank, CEScore: score, Scored: true}
}

// us is a candidate the cross-encoder did not score.
func us(pid string, rank int) Candidate { return Candidate{PID: pid, Rank: rank} }

// ranks builds scored candidates p<from>..p<to> at their ranks, all with the given score.
func ranks(from, to int, score float32) []Candidate {
	var c []Candidate
	for r := from; r <= to; r++ {
		if r <= 50 {
			c = append(c, sc(fmt.Sprintf("p%d", r), r, score))
		} else {
			c = append(c, us(fmt.Sprintf("p%d", r), r))
		}
	}
	return c
}

func seeded(s uint64) *rand.Rand { return rand.New(rand.NewPCG(s, 99)) }

// noFill is the default options with the random fill off.
var noFill = MineOptions{FillFrom: -1}

func TestMineQueryExcludesPositivesAndAdditional(t *testing.T) {
	cands := []Candidate{
		sc("pos", 1, 0.01), sc("a", 2, 0.02), sc("add", 3, 0.0), sc("b", 4, 0.03),
		sc("c", 5, 0.04), sc("d", 6, 0.05), sc("e", 7, 0.06),
	}
	got := MineQuery([]string{"pos"}, []string{"add"}, cands, noFill, nil)
	assert.Equal(t, []string{"a", "b", "c", "d"}, got)
	// Without the additional positive it is a confident negative like the others.
	got = MineQuery([]string{"pos"}, nil, cands, noFill, nil)
	assert.Equal(t, []string{"a", "add", "b", "c"}, got)
}

func TestMineQueryThresholdIsExclusive(t *testing.T) {
	cands := []Candidate{sc("at", 1, 0.1), sc("below", 2, 0.0999), sc("above", 3, 0.1001), sc("zero", 4, 0)}
	got := MineQuery([]string{"pos"}, nil, cands, noFill, nil)
	assert.Equal(t, []string{"below", "zero"}, got, "a CE score of exactly 0.1 is not a confident negative")

	o := MineOptions{Threshold: 0.5, FillFrom: -1}
	cands = []Candidate{sc("a", 1, 0.5), sc("b", 2, 0.4999), sc("c", 3, 0.2), sc("d", 4, 0.75)}
	assert.Equal(t, []string{"b", "c"}, MineQuery([]string{"pos"}, nil, cands, o, nil))
}

func TestMineQueryUnscoredTopKNotTakenByFilter(t *testing.T) {
	cands := []Candidate{us("u1", 1), sc("a", 2, 0.01), us("u2", 3), sc("b", 4, 0.01)}
	assert.Equal(t, []string{"a", "b"}, MineQuery([]string{"pos"}, nil, cands, noFill, nil))

	m := mineQuery([]string{"pos"}, nil, cands, noFill.withDefaults(), nil)
	assert.Equal(t, 2, m.unscored)
	assert.Equal(t, 2, m.fromCE)
}

func TestMineQueryRankOrderAndTopK(t *testing.T) {
	cands := []Candidate{sc("r9", 9, 0.01), sc("r3", 3, 0.05), sc("r51", 51, 0.0), sc("r1", 1, 0.2),
		sc("r5", 5, 0.09), sc("r50", 50, 0.0)}
	got := MineQuery([]string{"pos"}, nil, cands, noFill, nil)
	assert.Equal(t, []string{"r3", "r5", "r9", "r50"}, got, "rank order, and rank 51 is past the CE filter even when scored")

	// A smaller TopK cuts the walk.
	got = MineQuery([]string{"pos"}, nil, cands, MineOptions{TopK: 5, FillFrom: -1}, nil)
	assert.Equal(t, []string{"r3", "r5"}, got)
	// The input slice is not reordered.
	assert.Equal(t, "r9", cands[0].PID)
}

func TestMineQueryStopsAtNegPerPosTimesPositives(t *testing.T) {
	cands := ranks(1, 50, 0.01)
	got := MineQuery([]string{"x", "y"}, nil, cands, noFill, nil)
	assert.Equal(t, []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"}, got)

	got = MineQuery([]string{"x", "y", "z"}, nil, cands, MineOptions{NegPerPos: 2, FillFrom: -1}, nil)
	assert.Len(t, got, 6)
	assert.Equal(t, "p6", got[5])

	// A repeated positive counts once.
	assert.Len(t, MineQuery([]string{"x", "x"}, nil, cands, noFill, nil), 4)
	// No positive, no negative.
	assert.Empty(t, MineQuery(nil, nil, cands, MineOptions{}, nil))
}

func TestMineQueryNoRepeats(t *testing.T) {
	cands := []Candidate{sc("a", 1, 0.01), sc("a", 2, 0.01), sc("b", 3, 0.01), sc("b", 4, 0.01), sc("c", 5, 0.01)}
	assert.Equal(t, []string{"a", "b", "c"}, MineQuery([]string{"pos"}, nil, cands, noFill, nil))
}

// fillCands: one confident negative in the top 50 (rank 10), rejected ones elsewhere in the top 50, and unscored
// candidates at ranks 51..60, plus decoys at rank 1001+ and a positive and an additional positive in the fill range.
func fillCands() []Candidate {
	c := ranks(1, 50, 0.5)
	c[9] = sc("ce", 10, 0.01)
	for r := 51; r <= 60; r++ {
		c = append(c, us(fmt.Sprintf("f%d", r), r))
	}
	c = append(c, us("pos", 61), us("add", 62), us("late1", 1001), us("late2", 1500))
	return c
}

func TestMineQueryFillRangeNoDuplicates(t *testing.T) {
	allowed := map[string]bool{}
	for r := 51; r <= 60; r++ {
		allowed[fmt.Sprintf("f%d", r)] = true
	}
	hits := map[string]int{}
	const trials = 4000
	for s := range uint64(trials) {
		got := MineQuery([]string{"pos"}, []string{"add"}, fillCands(), MineOptions{}, seeded(s))
		require.Len(t, got, 4)
		assert.Equal(t, "ce", got[0], "the CE negative comes first")
		fill := got[1:]
		for _, p := range fill {
			require.True(t, allowed[p], "seed %d: fill %q is outside ranks 51..1000 or excluded", s, p)
			hits[p]++
		}
		require.Len(t, dedup(fill), 3, "seed %d: fill %v repeats", s, fill)
	}
	// Uniform without replacement: each of the 10 eligible pids is drawn with probability 3/10 per trial.
	assert.Len(t, hits, 10)
	for p, n := range hits {
		assert.InDelta(t, trials*3/10, n, 150, "pid %s drawn %d times", p, n) // about 5 standard deviations
	}
}

func TestMineQueryFillShortAndEnds(t *testing.T) {
	c := fillCands()
	// 3 positives need 12: 1 CE negative + all 10 eligible fill pids; ranks 1001+ stay out.
	got := MineQuery([]string{"pos", "x", "y"}, []string{"add"}, c, MineOptions{}, seeded(1))
	assert.Len(t, got, 11)
	assert.NotContains(t, got, "late1")
	assert.NotContains(t, got, "pos")
	assert.NotContains(t, got, "add")
	// FillTo 1500 lets the late ones in: 4 positives need 16, and 1 + 12 are there.
	got = MineQuery([]string{"pos", "x", "y", "z"}, []string{"add"}, c, MineOptions{FillTo: 1500}, seeded(1))
	assert.Len(t, got, 13)
	assert.Subset(t, got, []string{"late1", "late2"})
	// A duplicated pid in the fill range is one candidate, and a CE negative is not drawn again.
	c = []Candidate{sc("ce", 1, 0.0), us("ce", 51), us("d", 52), us("d", 53)}
	got = MineQuery([]string{"pos"}, nil, c, MineOptions{}, seeded(3))
	assert.Equal(t, []string{"ce", "d"}, got)
}

func TestMineQueryFillReproducible(t *testing.T) {
	a := MineQuery([]string{"pos"}, []string{"add"}, fillCands(), MineOptions{}, seeded(7))
	b := MineQuery([]string{"pos"}, []string{"add"}, fillCands(), MineOptions{}, seeded(7))
	assert.Equal(t, a, b)
	// A nil generator is seeded from Seed: two calls agree, and another Seed draws differently for some seed.
	n1 := MineQuery([]string{"pos"}, []string{"add"}, fillCands(), MineOptions{Seed: 5}, nil)
	n2 := MineQuery([]string{"pos"}, []string{"add"}, fillCands(), MineOptions{Seed: 5}, nil)
	assert.Equal(t, n1, n2)
	differs := false
	for s := uint64(6); s < 16 && !differs; s++ {
		differs = !slices.Equal(n1, MineQuery([]string{"pos"}, []string{"add"}, fillCands(), MineOptions{Seed: s}, nil))
	}
	assert.True(t, differs, "ten other seeds all drew the same fill")
}

// testStore builds a passage store of the given pids: title "title X", text "text of X".
func testStore(t *testing.T, pids ...string) *dataset.Passages {
	ps := dataset.NewPassages()
	for _, p := range pids {
		require.NoError(t, ps.Add(p, "title "+p, "text of "+p))
	}
	return ps
}

// storeFor builds a store of every candidate's pid and the extra pids.
func storeFor(t *testing.T, cands map[string][]Candidate, extra ...string) *dataset.Passages {
	var pids []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			pids = append(pids, p)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(cands)) {
		for _, c := range cands[q] {
			add(c.PID)
		}
	}
	for _, p := range extra {
		add(p)
	}
	return testStore(t, pids...)
}

func readLines(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func dualLine(q, pos, neg string) string {
	return fmt.Sprintf("%s\ttitle %s\ttext of %s\ttitle %s\ttext of %s\t0", q, pos, pos, neg, neg)
}

func TestMinePairsEachPositiveWithPoppedNegatives(t *testing.T) {
	cands := map[string][]Candidate{"q1": ranks(1, 12, 0.01)}
	in := MineInput{
		QIDs:       []string{"q1"},
		Queries:    map[string]string{"q1": "query one"},
		Positives:  map[string][]string{"q1": {"x", "y"}},
		Candidates: cands,
		Passages:   storeFor(t, cands, "x", "y"),
	}
	out := filepath.Join(t.TempDir(), "dual.train.tsv")
	st, err := Mine(context.Background(), in, MineOptions{}, out)
	require.NoError(t, err)
	// Negatives p1..p8 in rank order; 4 rounds over (x, y), each popping from the end.
	want := []string{
		dualLine("query one", "x", "p8"), dualLine("query one", "y", "p7"),
		dualLine("query one", "x", "p6"), dualLine("query one", "y", "p5"),
		dualLine("query one", "x", "p4"), dualLine("query one", "y", "p3"),
		dualLine("query one", "x", "p2"), dualLine("query one", "y", "p1"),
	}
	assert.Equal(t, want, readLines(t, out))
	assert.Equal(t, Stats{Queries: 1, Written: 1, Lines: 8, Positives: 2, CENegatives: 8}, st)

	// Short of negatives (3 for 2 positives, no fill range): the pairing stops when the list is empty.
	cands["q1"] = ranks(1, 3, 0.01)
	st, err = Mine(context.Background(), in, MineOptions{}, out)
	require.NoError(t, err)
	assert.Equal(t, []string{dualLine("query one", "x", "p3"), dualLine("query one", "y", "p2"),
		dualLine("query one", "x", "p1")}, readLines(t, out))
	assert.Equal(t, 1, st.ShortQueries)
	assert.Equal(t, 3, st.Lines)
}

func TestMineSkipsAndCounts(t *testing.T) {
	cands := map[string][]Candidate{
		// qa: positive at rank 1, additional at 2, a 0.1 at 3, unscored 4, negatives 5..8, more after.
		"qa": {sc("a1", 1, 0.9), sc("a2", 2, 0.0), sc("a3", 3, 0.1), us("a4", 4), sc("a5", 5, 0.0),
			sc("a6", 6, 0.0), sc("a7", 7, 0.0), sc("a8", 8, 0.0), sc("a9", 9, 0.0)},
		// qb: no positives.
		"qb": {sc("b1", 1, 0.0)},
		// qd: positives, but every candidate is the positive or rejected, and no fill range.
		"qd": {sc("d1", 1, 0.99), sc("d2", 2, 0.5)},
		// qe: one CE negative, two from the fill range (51, 52), and 4 needed.
		"qe": {sc("e1", 1, 0.05), sc("e2", 2, 0.3), us("e51", 51), us("e52", 52)},
	}
	in := MineInput{
		QIDs:       []string{"qa", "qb", "qc", "qd", "qe"},
		Queries:    map[string]string{"qa": "A", "qb": "B", "qc": "C", "qd": "D", "qe": "E"},
		Positives:  map[string][]string{"qa": {"a1"}, "qc": {"c1"}, "qd": {"d1"}, "qe": {"e0"}},
		Additional: map[string][]string{"qa": {"a2"}},
		Candidates: cands,
		Passages:   storeFor(t, cands, "c1", "e0"),
	}
	out := filepath.Join(t.TempDir(), "dual.train.tsv")
	st, err := Mine(context.Background(), in, MineOptions{}, out)
	require.NoError(t, err)
	assert.Equal(t, Stats{
		Queries: 5, Written: 2, Lines: 7, Positives: 2,
		CENegatives: 5, FilledNegatives: 2, FilledQueries: 1, ShortQueries: 1,
		Rejected: 3, Unscored: 1, Excluded: 3,
		SkippedNoPositives: 1, SkippedNoCandidates: 1, SkippedNoNegatives: 1,
	}, st)
	lines := readLines(t, out)
	require.Len(t, lines, 7)
	assert.Equal(t, dualLine("A", "a1", "a8"), lines[0])
	assert.Equal(t, dualLine("A", "a1", "a5"), lines[3])
	// qe: CE negative e1 first in the list, so popped last.
	assert.Equal(t, dualLine("E", "e0", "e1"), lines[6])
	assert.ElementsMatch(t, []string{dualLine("E", "e0", "e51"), dualLine("E", "e0", "e52")}, lines[4:6])
	assert.Contains(t, st.String(), "queries=5 written=2 lines=7")
}

func TestMineErrorsLeaveNoFile(t *testing.T) {
	cands := map[string][]Candidate{"q1": ranks(1, 4, 0.01)}
	base := func() MineInput {
		return MineInput{
			QIDs:       []string{"q1"},
			Queries:    map[string]string{"q1": "query"},
			Positives:  map[string][]string{"q1": {"x"}},
			Candidates: cands,
			Passages:   storeFor(t, cands, "x"),
		}
	}
	cases := []struct {
		name string
		edit func(*MineInput, *MineOptions)
		msg  string
	}{
		{"missing passage", func(in *MineInput, _ *MineOptions) { in.Passages = storeFor(t, cands) }, `positive pid "x" is not in the passage store`},
		{"missing negative passage", func(in *MineInput, _ *MineOptions) { in.Passages = testStore(t, "x", "p1") }, `negative pid "p4"`},
		{"missing query", func(in *MineInput, _ *MineOptions) { in.Queries = nil }, `qid "q1" has no query text`},
		{"empty query", func(in *MineInput, _ *MineOptions) { in.Queries["q1"] = " " }, `qid "q1" has an empty query text`},
		{"repeated qid", func(in *MineInput, _ *MineOptions) { in.QIDs = []string{"q1", "q1"} }, `qid "q1" is listed twice`},
		{"no qids", func(in *MineInput, _ *MineOptions) { in.QIDs = nil }, "no qids"},
		{"no store", func(in *MineInput, _ *MineOptions) { in.Passages = nil }, "no passage store"},
		{"fill overlaps", func(_ *MineInput, o *MineOptions) { o.FillFrom = 40 }, "FillFrom 40 must be above TopK 50"},
		{"fill reversed", func(_ *MineInput, o *MineOptions) { o.FillFrom, o.FillTo = 60, 55 }, "FillTo 55 is below FillFrom 60"},
		{"negative count", func(_ *MineInput, o *MineOptions) { o.NegPerPos = -1 }, "NegPerPos -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in, o := base(), MineOptions{}
			c.edit(&in, &o)
			_, err := Mine(context.Background(), in, o, filepath.Join(dir, "out.tsv"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.msg)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "an error leaves no file, not even a temporary one")
		})
	}
}

func TestMineDeterministicAndIndependentOfQueryOrder(t *testing.T) {
	cands := map[string][]Candidate{}
	pos := map[string][]string{}
	queries := map[string]string{}
	var qids []string
	for i := range 6 {
		q := fmt.Sprintf("q%d", i)
		qids = append(qids, q)
		queries[q] = "query " + q
		pos[q] = []string{q + "-pos"}
		var c []Candidate
		for r := 1; r <= 120; r++ {
			pid := fmt.Sprintf("%s-%d", q, r)
			if r <= 50 {
				c = append(c, sc(pid, r, 0.5)) // nothing confident: the whole list is the fill
			} else {
				c = append(c, us(pid, r))
			}
		}
		cands[q] = c
	}
	in := MineInput{QIDs: qids, Queries: queries, Positives: pos, Candidates: cands}
	var extra []string
	for _, q := range qids {
		extra = append(extra, q+"-pos")
	}
	in.Passages = storeFor(t, cands, extra...)
	dir := t.TempDir()
	run := func(name string, in MineInput, o MineOptions) []string {
		p := filepath.Join(dir, name)
		_, err := Mine(context.Background(), in, o, p)
		require.NoError(t, err)
		return readLines(t, p)
	}
	a := run("a.tsv", in, MineOptions{})
	b := run("b.tsv", in, MineOptions{})
	assert.Equal(t, a, b, "same inputs and seed give the same file")
	require.Len(t, a, 24)

	c := run("c.tsv", in, MineOptions{Seed: 2})
	assert.NotEqual(t, a, c, "another seed draws another fill")

	// Reversing the query order reverses the blocks and leaves each query's lines unchanged.
	rev := in
	rev.QIDs = slices.Clone(qids)
	slices.Reverse(rev.QIDs)
	r := run("r.tsv", rev, MineOptions{})
	for i := range 6 {
		assert.Equal(t, a[4*i:4*i+4], r[4*(5-i):4*(5-i)+4])
	}
}

func TestMineOptionsDefaults(t *testing.T) {
	assert.Equal(t, DefaultMineOptions(), MineOptions{}.withDefaults())
	assert.Equal(t, MineOptions{Threshold: 0.1, NegPerPos: 4, TopK: 100, FillFrom: 101, FillTo: 1000, Seed: 1},
		MineOptions{TopK: 100}.withDefaults(), "FillFrom follows TopK")
	assert.NoError(t, DefaultMineOptions().validate())
}

// TestMineQuerySample: with Sample the CE negatives are a reproducible uniform draw over every top-K candidate that
// passes the filter (never a positive, an additional positive, a rejected or an unscored one, or one past TopK),
// not the first ones in rank order; with no more passing candidates than needed, all of them in rank order.
func TestMineQuerySample(t *testing.T) {
	cands := ranks(1, 50, 0.01)
	cands[0].CEScore = 0.5                                            // p1 rejected
	cands = append(cands, us("u", 51), sc("p52", 52, 0), us("p2", 2)) // p2 repeated unscored; p52 past TopK
	o := MineOptions{Sample: true, FillFrom: -1}
	pass := map[string]bool{}
	for r := 2; r <= 50; r++ {
		pass[fmt.Sprintf("p%d", r)] = r != 7 && r != 9 // p7 positive, p9 additional
	}
	counts := map[string]int{}
	firstFour := 0
	for s := uint64(1); s <= 400; s++ {
		got := MineQuery([]string{"p7"}, []string{"p9"}, cands, o, seeded(s))
		require.Len(t, got, 4)
		require.Equal(t, got, MineQuery([]string{"p7"}, []string{"p9"}, cands, o, seeded(s)), "reproducible")
		seen := map[string]bool{}
		for _, p := range got {
			require.True(t, pass[p], "%s does not pass the filter", p)
			require.False(t, seen[p], "%s twice", p)
			seen[p] = true
			counts[p]++
		}
		if slices.Equal(got, []string{"p2", "p3", "p4", "p5"}) {
			firstFour++
		}
	}
	// 47 passing candidates, 4 drawn 400 times: about 34 draws each; the top 4 in rank order almost never.
	require.Len(t, counts, 47)
	for p, n := range counts {
		require.True(t, n > 10 && n < 70, "%s drawn %d times of ~34", p, n)
	}
	require.Zero(t, firstFour)
	// Without Sample: the first four in rank order.
	require.Equal(t, []string{"p2", "p3", "p4", "p5"}, MineQuery([]string{"p7"}, []string{"p9"}, cands, MineOptions{FillFrom: -1}, nil))
	// No more passing candidates than needed: all of them, in rank order.
	few := []Candidate{sc("a", 1, 0.01), sc("b", 2, 0.9), sc("c", 3, 0.02)}
	require.Equal(t, []string{"a", "c"}, MineQuery([]string{"pos"}, nil, few, o, seeded(1)))
	m := mineQuery([]string{"pos"}, nil, few, o.withDefaults(), seeded(1))
	require.Equal(t, 1, m.rejected)
}
