package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
)

func TestCoretypeFor(t *testing.T) {
	const head = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"
	cases := map[string]string{
		head + "flags\t\t: fpu sse sse2 avx avx2 fma\n":                       "Haswell",
		head + "flags\t\t: fpu avx avx2 avx512f avx512dq avx512bw\n":          "SkylakeX",
		head + "flags\t\t: fpu sse sse2 avx\n":                                "",
		head:                                                                  "",
		head + "flags\t\t: fpu avx\nflags\t\t: fpu avx avx2 avx512f\n":        "", // the first core's flags decide
		"vmx flags\t: avx2 avx512f\n" + head + "flags\t\t: fpu avx2 avx512\n": "Haswell",
	}
	for in, want := range cases {
		assert.Equal(t, want, coretypeFor(in), "%q", in)
	}
}

func TestBLASSummary(t *testing.T) {
	assert.Equal(t, "OpenBLAS Haswell core (openmp)", blasSummary(`blas=/usr/lib/libblas.so.3 openblas_config="OpenBLAS 0.3.21 USE_OPENMP Zen" openblas_core=Haswell openblas_parallel=openmp omp_threads=2`))
	assert.Equal(t, "BLAS /usr/lib/libblis.so", blasSummary("blas=/usr/lib/libblis.so omp_threads=2"))
	assert.Equal(t, "BLAS unknown", blasSummary("unknown"))
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	a := &prefixWriter{w: &out, mu: &mu, prefix: "[rank 0] "}
	b := &prefixWriter{w: &out, mu: &mu, prefix: "[rank 1] "}
	a.Write([]byte("hel"))
	b.Write([]byte("one\ntw"))
	a.Write([]byte("lo\nprogress 1\rprogress 2\r\n"))
	b.Write([]byte("o"))
	a.flush()
	b.flush()
	assert.Equal(t, "[rank 1] one\n[rank 0] hello\n[rank 0] progress 1\n[rank 0] progress 2\n[rank 1] two\n", out.String())
}

func TestLoadQueriesFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	for _, p := range []string{
		write("q2qid.dev.json", `{"北京天气": "q1", "红烧肉": "q2"}`),
		write("dev.json", `{"question_id": "q1", "question": "北京天气", "answer_paragraphs": []}`+"\n"+
			`{"question_id": "q2", "question": "红烧肉", "answer_paragraphs": [{"paragraph_id": "p1"}]}`+"\n"),
		write("queries.tsv", "q1\t北京天气\nq2\t红烧肉\n"),
	} {
		qids, texts, err := loadQueries(p)
		require.NoError(t, err, p)
		assert.Equal(t, []string{"q1", "q2"}, qids, p)
		assert.Equal(t, []string{"北京天气", "红烧肉"}, texts, p)
	}
	_, _, err := loadQueries(write("dup.tsv", "q1\ta\nq1\tb\n"))
	assert.ErrorContains(t, err, `dup.tsv: qid "q1" appears twice`)

	// positives keep file order and count a repeated pair once
	pos, err := loadPositives(write("qrels.tsv", "q1\tp2\nq1\tp1\nq1\tp2\nq2\tp9\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"q1": {"p2", "p1"}, "q2": {"p9"}}, pos)
}

func TestReadRunTop(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "run.tsv")
	require.NoError(t, os.WriteFile(p, []byte("q1\tpb\t2\t0.5\nq1\tpa\t1\t0.9\nq1\tpc\t3\t0.1\nq2\tpz\t1\n"), 0o644))
	qids, hits, err := readRunTop(p, 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"q1", "q2"}, qids)
	assert.Equal(t, []string{"pa", "pb"}, pidsOf(hits[0]))
	assert.InDelta(t, 0.9, hits[0][0].Score, 1e-7)
	assert.Equal(t, []string{"pz"}, pidsOf(hits[1]))

	require.NoError(t, os.WriteFile(p, []byte("q1\tpa\t1\t0.9\nq1\tpb\t1\t0.5\n"), 0o644))
	_, _, err = readRunTop(p, 0)
	assert.ErrorContains(t, err, p+":2: qid \"q1\" has rank 1 again (first on line 1)")
}

func TestQueriesFromDualTrain(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	q, qr := filepath.Join(dir, "q.tsv"), filepath.Join(dir, "qrels.tsv")
	r := inproc(t, "queries", "--train", f.dualTrain, "--collection", f.coll, "--out-queries", q, "--out-qrels", qr)
	require.Equal(t, 0, r.code, "%s", r)
	recs, err := dataset.ReadIDText(q)
	require.NoError(t, err)
	require.Equal(t, "q0", recs[0].ID)
	require.Equal(t, fixtureTrain[0].query, recs[0].Text)
	rd, err := dataset.OpenQrels(qr)
	require.NoError(t, err)
	defer rd.Close()
	require.True(t, rd.Next())
	require.Equal(t, fixturePID(fixtureTrain[0].pos), rd.Qrel().PID, "the positive found by its text")
	r = inproc(t, "queries", "--train", filepath.Join(dir, "missing.tsv"), "--collection", f.coll, "--out-queries", q, "--out-qrels", qr)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "missing.tsv")
}
