package eval

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// expectedMetrics is what testdata/official_eval.py prints per convention.
type expectedMetrics struct {
	MRR10         float64 `json:"MRR@10"`
	Recall1       float64 `json:"recall@1"`
	Recall50      float64 `json:"recall@50"`
	RecallAll     float64 `json:"recall@all"`
	Queries       int     `json:"Queries"`
	QueriesRanked int     `json:"QueriesRanked"`
	Duplicates    [][]any `json:"duplicates"`
}

// TestAgainstOfficialLogic evaluates every case under testdata/cases with the
// Go loaders and metrics, and compares with the numbers the Python
// re-statement of the official scripts computed (testdata/expected.json,
// regenerate with `/usr/bin/python3 eval/testdata/official_eval.py expected`).
func TestAgainstOfficialLogic(t *testing.T) {
	raw, err := os.ReadFile("testdata/expected.json")
	require.NoError(t, err)
	var want map[string]map[string]expectedMetrics
	require.NoError(t, json.Unmarshal(raw, &want))
	require.Len(t, want, 8)

	conventions := map[string]Options{"dureader": DuReaderOfficial, "seed": SeedCandidateDenominator, "msmarco": MSMarcoOfficial}
	for name, byConv := range want {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "cases", name)
			var run Run
			var ref Qrels
			var err error
			if _, serr := os.Stat(filepath.Join(dir, "dev.json")); serr == nil {
				ref, err = LoadDuReaderReference(filepath.Join(dir, "dev.json"))
				require.NoError(t, err)
				run, err = LoadDuReaderRun(filepath.Join(dir, "candidate.json"))
				require.NoError(t, err)
			} else {
				ref, err = LoadQrels(filepath.Join(dir, "qrels.tsv"))
				require.NoError(t, err)
				run, err = LoadRunTSV(filepath.Join(dir, "run.tsv"))
				require.NoError(t, err)
			}
			for conv, w := range byConv {
				opt, ok := conventions[conv]
				require.True(t, ok, conv)
				got, err := Compute(run, ref, opt)
				require.NoError(t, err, conv)
				assert.InDelta(t, w.MRR10, got.MRR10, 1e-12, "%s MRR@10", conv)
				assert.InDelta(t, w.Recall1, got.Recall1, 1e-12, "%s recall@1", conv)
				assert.InDelta(t, w.Recall50, got.Recall50, 1e-12, "%s recall@50", conv)
				assert.InDelta(t, w.RecallAll, got.Recall1000, 1e-12, "%s recall@all", conv)
				assert.Equal(t, w.Queries, got.Queries, "%s denominator", conv)
				assert.Equal(t, w.QueriesRanked, got.QueriesRanked, "%s QueriesRanked", conv)
				var wantDup []Duplicate
				for _, d := range w.Duplicates {
					wantDup = append(wantDup, Duplicate{QID: d[0].(string), PID: d[1].(string), Count: int(d[2].(float64))})
				}
				gotDup := append([]Duplicate(nil), got.Duplicates...)
				sort.Slice(gotDup, func(i, j int) bool {
					if gotDup[i].QID != gotDup[j].QID {
						return gotDup[i].QID < gotDup[j].QID
					}
					return gotDup[i].PID < gotDup[j].PID
				})
				assert.Equal(t, wantDup, gotDup, "%s duplicates", conv)
			}
		})
	}
}

// TestHandComputed checks a small case against numbers worked out by hand.
func TestHandComputed(t *testing.T) {
	ref := Qrels{}
	ref.Add("a", "pa")
	ref.Add("b", "pb")
	ref.Add("c", "pc")
	ref.Add("d", "pd")
	run := Run{
		"a": {"pa", "x"},           // rank 1
		"b": {"x", "y", "pb"},      // rank 3
		"c": make([]string, 0, 60), // filled below: rank 12
		"z": {"pa"},                // not in the reference
	}
	for i := 1; i <= 60; i++ {
		if i == 12 {
			run["c"] = append(run["c"], "pc")
		} else {
			run["c"] = append(run["c"], "n")
		}
	}
	m, err := DuReader(run, ref)
	require.NoError(t, err)
	assert.InDelta(t, (1+1.0/3)/4, m.MRR10, 1e-15)
	assert.InDelta(t, 1.0/4, m.Recall1, 1e-15)
	assert.InDelta(t, 3.0/4, m.Recall50, 1e-15)
	assert.Equal(t, 4, m.Queries)
	assert.Equal(t, 4, m.QueriesRanked)
	assert.Equal(t, 3, m.QueriesMatched)
	assert.Equal(t, []Duplicate{{QID: "c", PID: "n", Count: 49}}, m.Duplicates, "only the first 50 are read")

	s, err := Seed(run, ref)
	require.NoError(t, err)
	assert.InDelta(t, (1+1.0/3)/4, s.MRR10, 1e-15, "4 candidate queries too")
	delete(run, "z")
	s, err = Seed(run, ref)
	require.NoError(t, err)
	assert.InDelta(t, (1+1.0/3)/3, s.MRR10, 1e-15)
	assert.Equal(t, 3, s.Queries)

	_, err = Compute(run, ref, Options{Depth: 50, RejectDuplicates: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `query "c" ranks pid "n" 49 times`)
}

func TestErrors(t *testing.T) {
	ref := Qrels{}
	ref.Add("a", "p")
	_, err := DuReader(Run{"b": {"p"}}, ref)
	assert.True(t, errors.Is(err, ErrNoMatchingQueries))
	_, err = DuReader(Run{}, ref)
	assert.Error(t, err)
	_, err = DuReader(Run{"a": {"p"}}, Qrels{})
	assert.Error(t, err)
	_, err = Compute(Run{"a": {"p"}}, ref, Options{Depth: 10})
	assert.Error(t, err)
	_, err = Compute(Run{"a": {"p"}}, ref, Options{Depth: 50, Denominator: 7})
	assert.Error(t, err)
}

func TestLoadRunErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	cases := []struct {
		name, content, want string
		line                int
	}{
		{"cols.tsv", "1\t2\t1\n1\t3\n", "got 2 columns", 2},
		{"rank.tsv", "1\t2\t0\n", "rank \"0\"", 1},
		{"rankbig.tsv", "1\t2\t1\n1\t3\t100001\n", "not an integer in 1..100000", 2},
		{"fivecols.tsv", "1\t2\t1\n1\t3\t2\t0.5\tx\n", "got 5 columns", 2},
		{"notlist.json", "{\n\"q\": [\"a\"],\n\"r\": \"a\"\n}", "want a list of pids", 3},
		{"dup.json", "{\n\"q\": [\"a\"],\n\"q\": [\"b\"]\n}", "appears twice", 3},
		{"badpid.json", "{\n\"q\": [\"a\", null]\n}", "candidate 2", 2},
		{"array.json", "[]", "want a JSON object", 1},
	}
	for _, c := range cases {
		_, err := LoadRun(write(c.name, c.content)) // LoadRunTSV, or LoadDuReaderRun for .json
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
		var le *dataset.LineError
		require.True(t, errors.As(err, &le), c.name)
		assert.Equal(t, c.line, le.Line, c.name)
	}
	// blank lines are skipped (the rule of dataset.OpenRun, the module's one run reader)
	run, err := LoadRunTSV(write("blank.tsv", "1\t2\t1\n\n1\t3\t2\n"))
	require.NoError(t, err)
	assert.Equal(t, Run{"1": {"2", "3"}}, run)
	// TREC six-column run, gaps kept as empty slots.
	run, err = LoadRunTSV(write("trec.txt", "7 Q0 d1 1 9.5 tag\n7 Q0 d3 3 8.0 tag\n"))
	require.NoError(t, err)
	assert.Equal(t, Run{"7": {"d1", "", "d3"}}, run)
}

func TestLoadEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, content, want string
		load                func(string) error
	}{
		{"run.tsv", "\n\n", "empty run", func(p string) error { _, err := LoadRunTSV(p); return err }},
		{"qrels.tsv", "", "no judgements", func(p string) error { _, err := LoadQrels(p); return err }},
		{"dev.json", "", "no questions", func(p string) error { _, err := LoadDuReaderReference(p); return err }},
	} {
		p := filepath.Join(dir, c.name)
		require.NoError(t, os.WriteFile(p, []byte(c.content), 0o644))
		assert.EqualError(t, c.load(p), p+": "+c.want)
	}
}

func TestQrelsGradedAndRoundTrips(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "qrels.txt")
	require.NoError(t, os.WriteFile(p, []byte("1 0 a 1\n1 0 b 0\n2 0 c 0\n"), 0o644))
	q, err := LoadQrels(p)
	require.NoError(t, err)
	assert.Equal(t, Qrels{"1": {"a": {}}, "2": {}}, q, "rel 0 is not relevant but the query is judged")
	m, err := MSMarco(Run{"1": {"b", "a"}, "2": {"c"}}, q)
	require.NoError(t, err)
	assert.InDelta(t, 0.25, m.MRR10, 1e-15)
	assert.Equal(t, 2, m.Queries)

	run := Run{"q2": {"p<1>", "p&2"}, "q1": {"x"}}
	rp := filepath.Join(dir, "run.json")
	require.NoError(t, WriteDuReaderRun(rp, run))
	back, err := LoadDuReaderRun(rp)
	require.NoError(t, err)
	assert.Equal(t, run, back)
	assert.Error(t, WriteDuReaderRun(rp, Run{"q": {"a", ""}}))

	mp := filepath.Join(dir, "metrics.json")
	require.NoError(t, m.WriteJSON(mp))
	raw, err := os.ReadFile(mp)
	require.NoError(t, err)
	var back2 map[string]any
	require.NoError(t, json.Unmarshal(raw, &back2))
	assert.InDelta(t, 0.25, back2["MRR@10"], 1e-15)
	assert.Equal(t, "msmarco", back2["convention"])
	assert.Equal(t, float64(2), back2["QueriesRanked"])
	assert.Contains(t, m.String(), "MRR@10=0.2500")
}

func TestLoadRunByExtensionAndConventions(t *testing.T) {
	dir := t.TempDir()
	tsv, js := filepath.Join(dir, "run.tsv"), filepath.Join(dir, "run.json")
	require.NoError(t, os.WriteFile(tsv, []byte("q1\tp2\t2\nq1\tp1\t1\n"), 0o644))
	require.NoError(t, os.WriteFile(js, []byte(`{"q1": ["p1", "p2"]}`), 0o644))
	for _, p := range []string{tsv, js} {
		run, err := LoadRun(p)
		require.NoError(t, err, p)
		assert.Equal(t, Run{"q1": {"p1", "p2"}}, run, p)
	}
	for name, want := range map[[2]string]Options{{"", "dev.json"}: DuReaderOfficial, {"", "qrels.tsv"}: MSMarcoOfficial,
		{"seed", "qrels.tsv"}: SeedCandidateDenominator, {"msmarco", "dev.json"}: MSMarcoOfficial} {
		got, err := Convention(name[0], name[1])
		require.NoError(t, err)
		assert.Equal(t, want, got, "%v", name)
	}
	_, err := Convention("trec", "x")
	assert.ErrorContains(t, err, `unknown convention "trec"`)
}
