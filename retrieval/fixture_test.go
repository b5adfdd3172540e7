package retrieval

import (
	"bytes"
	"encoding/json"
	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fixtures in testdata/ come from testdata/faiss_ref.py (Python faiss 1.7.3 + numpy); see its docstring.

type faissResult struct {
	Scores   [][]float64 `json:"scores"`
	IDs      [][]int64   `json:"ids"`
	NProbe   float64     `json:"nprobe"`
	EfSearch float64     `json:"efSearch"`
	NTotal   int64       `json:"ntotal"`
	D        int         `json:"d"`
	Metric   int         `json:"metric"`
}

type fixtureExpected struct {
	N, Dim, NQ, K int
	FlatIP        faissResult `json:"flat_ip"`
	IVFIP         faissResult `json:"ivf_ip"`
	HNSWIP        faissResult `json:"hnsw_ip"`
	Float16       struct {
		F32Bits []uint32 `json:"f32_bits"`
		F16Bits []uint16 `json:"f16_bits"`
	} `json:"float16"`
}

func loadExpected(t *testing.T) *fixtureExpected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	require.NoError(t, err)
	var e fixtureExpected
	require.NoError(t, json.Unmarshal(b, &e))
	require.Equal(t, 10, e.K)
	return &e
}

// requireMatchesFaiss compares a Go search with Python faiss's results: ids exactly, scores within tol.
// Scores are compared with the tolerance rule of torch.testing.assert_close (float32 defaults): FAISS and our shim
// run the same BLAS kernels only on the CPU that wrote the fixtures.
func requireMatchesFaiss(t *testing.T, name string, want faissResult, scores []float32, ids []int64, k int, tol closeto.Tol) {
	t.Helper()
	require.Len(t, want.IDs, len(ids)/k, name)
	for q := range want.IDs {
		assert.Equal(t, want.IDs[q], ids[q*k:(q+1)*k], "%s query %d ids", name, q)
		for r := 0; r < k; r++ {
			assert.NoError(t, closeto.Number(float64(scores[q*k+r]), want.Scores[q][r], tol), "%s query %d rank %d", name, q, r)
		}
	}
}

func TestFixtureShardsWrittenByPython(t *testing.T) {
	e := loadExpected(t)
	ids, xb, err := ReadEmbeddings(filepath.Join("testdata", "base.emb"))
	require.NoError(t, err)
	require.Len(t, ids, e.N)
	require.Len(t, xb, e.N*e.Dim)
	assert.Equal(t, "p1000", ids[0])
	assert.Equal(t, "段落-7", ids[7])
	assert.Equal(t, "p2393", ids[199])

	// The float16 shard holds numpy's rounding of the same vectors; ours must agree bit for bit.
	ids16, xb16, err := ReadEmbeddings(filepath.Join("testdata", "base_f16.emb"))
	require.NoError(t, err)
	assert.Equal(t, ids, ids16)
	for i, v := range xb {
		require.Equal(t, Float16ToFloat32(Float32ToFloat16(v)), xb16[i], "element %d", i)
	}

	// Our writer produces the very bytes Python's writer did, in both dtypes.
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		dt   DType
	}{{"base.emb", Float32}, {"base_f16.emb", Float16}} {
		p := filepath.Join(dir, c.name)
		writeShard(t, p, e.Dim, c.dt, ids, xb, 64)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		want, err := os.ReadFile(filepath.Join("testdata", c.name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s differs from the Python-written file", c.name)
	}
}

func TestFixtureFloat16MatchesNumpy(t *testing.T) {
	e := loadExpected(t)
	require.Len(t, e.Float16.F16Bits, len(e.Float16.F32Bits))
	require.Greater(t, len(e.Float16.F32Bits), 100)
	for i, b := range e.Float16.F32Bits {
		f := math.Float32frombits(b)
		require.Equal(t, e.Float16.F16Bits[i], Float32ToFloat16(f), "case %d: %v", i, f)
	}
}

func TestFixtureIndexesWrittenByPython(t *testing.T) {
	e := loadExpected(t)
	_, xq, err := ReadEmbeddings(filepath.Join("testdata", "queries.emb"))
	require.NoError(t, err)
	_, xb, err := ReadEmbeddings(filepath.Join("testdata", "base.emb"))
	require.NoError(t, err)
	k := e.K

	// Brute force in Go agrees with faiss's IndexFlatIP top-k.
	bf := bruteForce(xb, xq, e.Dim, k, InnerProduct)
	for q, row := range bf {
		for r, s := range row {
			require.Equal(t, e.FlatIP.IDs[q][r], s.id, "query %d rank %d", q, r)
			require.InDelta(t, e.FlatIP.Scores[q][r], s.score, 1e-4)
		}
	}

	for _, c := range []struct {
		file  string
		want  faissResult
		param string
		value float64
	}{
		{"flat_ip.faiss", e.FlatIP, "", 0},
		{"ivf_ip.faiss", e.IVFIP, "nprobe", e.IVFIP.NProbe},
		{"hnsw_ip.faiss", e.HNSWIP, "efSearch", e.HNSWIP.EfSearch},
	} {
		ix, err := ReadIndex(filepath.Join("testdata", c.file))
		require.NoError(t, err, c.file)
		require.Equal(t, int64(e.N), ix.Ntotal())
		require.Equal(t, e.Dim, ix.Dim())
		require.Equal(t, InnerProduct, ix.Metric())
		if c.param != "" {
			require.NoError(t, ix.SetParam(c.param, c.value))
		}
		scores, ids, err := ix.Search(xq, k)
		require.NoError(t, err)
		requireMatchesFaiss(t, c.file, c.want, scores, ids, k, closeto.Float32)
		require.NoError(t, ix.Close())
	}

	// A flat index built in Go from the Python-written shard gives faiss's answers too.
	ix, err := NewIndex(e.Dim, "", InnerProduct)
	require.NoError(t, err)
	defer ix.Close()
	require.NoError(t, ix.Add(xb))
	scores, ids, err := ix.Search(xq, k)
	require.NoError(t, err)
	requireMatchesFaiss(t, "go flat", e.FlatIP, scores, ids, k, closeto.Float32)
}

// pythonFaiss returns /usr/bin/python3 if it can import faiss and numpy, or skips the test.
func pythonFaiss(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import faiss, numpy").Run(); err != nil {
		t.Skipf("%s cannot import faiss and numpy (%v): install python3-faiss to run this cross-check", py, err)
	}
	return py
}

func TestPythonReadsGoFiles(t *testing.T) {
	py := pythonFaiss(t)
	e := loadExpected(t)
	ids, xb, err := ReadEmbeddings(filepath.Join("testdata", "base.emb"))
	require.NoError(t, err)
	qids, xq, err := ReadEmbeddings(filepath.Join("testdata", "queries.emb"))
	require.NoError(t, err)
	dir := t.TempDir()
	const k = 7
	params := map[string]map[string]float64{}
	goResults := map[string][2]any{}
	for _, c := range []struct {
		name, factory string
		metric        Metric
		param         string
		value         float64
	}{
		{"flat.faiss", "", InnerProduct, "", 0},
		{"flat_l2.faiss", "Flat", L2, "", 0},
		{"ivf.faiss", "IVF4,Flat", InnerProduct, "nprobe", 2},
		{"hnsw.faiss", "HNSW8", InnerProduct, "efSearch", 12},
		{"sq8.faiss", "SQ8", InnerProduct, "", 0},
	} {
		ix, err := NewIndex(e.Dim, c.factory, c.metric)
		require.NoError(t, err)
		if !ix.IsTrained() {
			require.NoError(t, ix.Train(xb))
		}
		require.NoError(t, ix.Add(xb))
		p := map[string]float64{"k": k}
		if c.param != "" {
			require.NoError(t, ix.SetParam(c.param, c.value))
			p[c.param] = c.value
		}
		params[c.name] = p
		s, i, err := ix.Search(xq, k)
		require.NoError(t, err)
		goResults[c.name] = [2]any{s, i}
		require.NoError(t, ix.WriteFile(filepath.Join(dir, c.name)))
		require.NoError(t, ix.Close())
	}
	pb, err := json.Marshal(params)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "params.json"), pb, 0o644))
	writeShard(t, filepath.Join(dir, "queries.emb"), e.Dim, Float32, qids, xq, 5)
	goIDs, goVecs := ids[:30], xb[:30*e.Dim]
	writeShard(t, filepath.Join(dir, "go.emb"), e.Dim, Float16, goIDs, goVecs, 7)

	cmd := exec.Command(py, filepath.Join("testdata", "faiss_ref.py"), "check", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &got))
	for name, r := range goResults {
		var want faissResult
		require.NoError(t, json.Unmarshal(got[name], &want), name)
		assert.Equal(t, int64(e.N), want.NTotal, name)
		assert.Equal(t, e.Dim, want.D, name)
		wantMetric := 0 // faiss.METRIC_INNER_PRODUCT
		if name == "flat_l2.faiss" {
			wantMetric = 1
		}
		assert.Equal(t, wantMetric, want.Metric, name)
		requireMatchesFaiss(t, name, want, r[0].([]float32), r[1].([]int64), k, closeto.Float32)
	}
	var emb struct {
		IDs  []string  `json:"ids"`
		Vecs []float64 `json:"vecs"`
	}
	require.NoError(t, json.Unmarshal(got["go.emb"], &emb))
	assert.Equal(t, goIDs, emb.IDs)
	require.Len(t, emb.Vecs, len(goVecs))
	for i, v := range goVecs {
		require.Equal(t, Float16ToFloat32(Float32ToFloat16(v)), float32(emb.Vecs[i]), "element %d", i)
	}
}
