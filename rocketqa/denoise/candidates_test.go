package denoise

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestLoadCandidatesMergesRanksAndScores(t *testing.T) {
	dir := t.TempDir()
	de := writeFile(t, dir, "de.tsv", strings.Join([]string{
		"q2\t20\t1\t9.5",
		"q2\t21\t2\t9.1",
		"q1\t13\t3\t7.0", // out of rank order within q1
		"q1\t11\t1\t8.0",
		"",
		"q1\t12\t2\t7.5\r", // CRLF
		"q2\t22\t3",        // no score column
		"q1\t14\t4\t6.0",
		"q3\t30\t1\t1.0",
	}, "\n")+"\n")
	ce := writeFile(t, dir, "ce.tsv", strings.Join([]string{
		"q1\t12\t1\t0.97", // CE rank, not DE rank
		"q1\t11\t2\t0.05",
		"q2\t21\t1\t0.1",
		"q2\t20\t2\t1e-3",
	}, "\n"))
	cands, qids, err := LoadCandidates(context.Background(), de, ce)
	require.NoError(t, err)
	assert.Equal(t, []string{"q2", "q1", "q3"}, qids)
	assert.Equal(t, []Candidate{sc("11", 1, 0.05), sc("12", 2, 0.97), us("13", 3), us("14", 4)}, cands["q1"])
	assert.Equal(t, []Candidate{sc("20", 1, 0.001), sc("21", 2, 0.1), us("22", 3)}, cands["q2"])
	assert.Equal(t, []Candidate{us("30", 1)}, cands["q3"])
	assert.Len(t, cands, 3)

	// Candidates loaded this way feed MineQuery: "21" has exactly 0.1 and is not taken.
	assert.Equal(t, []string{"20"}, MineQuery([]string{"x"}, nil, cands["q2"], noFill, nil))
}

func TestLoadCandidatesErrors(t *testing.T) {
	goodDE := "q1\t11\t1\t8\nq1\t12\t2\t7\nq2\t21\t1\t5\n"
	goodCE := "q1\t11\t1\t0.5\n"
	cases := []struct {
		name, de, ce string
		msg          []string // substrings of the error, %s = file name
	}{
		{"ce pid not in de", goodDE, "q1\t11\t1\t0.5\nq1\t99\t2\t0.1\n",
			[]string{"ce.tsv:2:", `qid "q1" pid "99" is not among the candidates`, "de.tsv"}},
		{"ce qid not in de", goodDE, "q1\t11\t1\t0.5\n\nq7\t11\t1\t0.3\n",
			[]string{"ce.tsv:3:", `qid "q7" is not in the dual-encoder run`}},
		{"ce pid twice", goodDE, "q1\t11\t1\t0.5\nq1\t12\t2\t0.4\nq1\t11\t3\t0.2\n",
			[]string{"ce.tsv:3:", `qid "q1" pid "11" is scored again (first on line 1)`}},
		{"ce without score", goodDE, "q1\t11\t1\n", []string{"ce.tsv:1:", "want 4 tab-separated columns"}},
		{"ce bad score", goodDE, "q1\t11\t1\thigh\n", []string{"ce.tsv:1:", `score "high" is not a finite number`}},
		{"ce nan score", goodDE, "q1\t11\t1\tNaN\n", []string{"ce.tsv:1:", "not a finite number"}},
		{"ce logit", goodDE, "q1\t11\t1\t0.5\nq1\t12\t2\t-3.25\n", []string{"ce.tsv:2:", "CE score -3.25 is outside [0, 1]", "logits"}},
		{"ce above 1", goodDE, "q1\t11\t1\t1.5\n", []string{"ce.tsv:1:", "CE score 1.5 is outside [0, 1]"}},
		{"ce beyond float32", goodDE, "q1\t11\t1\t1e39\n", []string{"ce.tsv:1:", "outside [0, 1]"}},
		{"ce empty", goodDE, "\n", []string{"ce.tsv", "the cross-encoder run has no lines"}},
		{"de rank twice", "q1\t11\t1\nq2\t21\t1\nq1\t12\t1\n", goodCE,
			[]string{"de.tsv:", `qid "q1" has rank 1 more than once (lines [1 3])`}},
		{"de pid twice", "q1\t11\t1\nq1\t12\t2\nq1\t11\t3\n", goodCE,
			[]string{"de.tsv:", `qid "q1" has pid "11" twice (ranks 1 and 3, lines [1 3])`}},
		{"de bad rank", "q1\t11\t0\n", goodCE, []string{"de.tsv:1:", `rank "0" is not a positive integer`}},
		{"de rank not int", "q1\t11\t1\nq1\t12\ttwo\n", goodCE, []string{"de.tsv:2:", `rank "two"`}},
		{"de columns", "q1\t11\n", goodCE, []string{"de.tsv:1:", "want 3 or 4 tab-separated columns", "got 2"}},
		{"de too many columns", "q1\t11\t1\t2\t3\n", goodCE, []string{"de.tsv:1:", "got 5"}},
		{"de empty pid", "q1\t \t1\n", goodCE, []string{"de.tsv:1:", "empty pid"}},
		{"de empty", "\n", goodCE, []string{"de.tsv", "the dual-encoder run has no lines"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			de := writeFile(t, dir, "de.tsv", c.de)
			ce := writeFile(t, dir, "ce.tsv", c.ce)
			_, _, err := LoadCandidates(context.Background(), de, ce)
			require.Error(t, err)
			for _, m := range c.msg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
	_, _, err := LoadCandidates(context.Background(), filepath.Join(t.TempDir(), "missing.tsv"), filepath.Join(t.TempDir(), "ce.tsv"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadInputKeepsOnlyNeededPassages(t *testing.T) {
	dir := t.TempDir()
	f := Files{
		DERun:      writeFile(t, dir, "de.tsv", "q1\t11\t1\t8\nq1\t12\t2\t7\n"),
		CERun:      writeFile(t, dir, "ce.tsv", "q1\t11\t1\t0.5\n"),
		Queries:    writeFile(t, dir, "q.tsv", "q1\tfirst query\nq2\tsecond\n"),
		Collection: writeFile(t, dir, "para.txt", "11\televen\n12\ttwelve\n13\tthirteen\n14\tfourteen\n"),
	}
	in, err := LoadInput(context.Background(), f, map[string][]string{"q1": {"14"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"q1"}, in.QIDs)
	assert.Equal(t, "first query", in.Queries["q1"])
	assert.Equal(t, []string{"11", "12", "14"}, in.Passages.PIDs(), "candidates and extra pids, not 13")
	assert.True(t, in.Candidates["q1"][0].Scored)
	f.Queries = writeFile(t, dir, "dup.tsv", "q1\ta\nq1\tb\n")
	_, err = LoadInput(context.Background(), f, nil)
	assert.ErrorContains(t, err, `qid "q1" appears twice`)
}
