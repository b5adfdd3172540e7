package encoder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/torch"
)

func tinyBERT(t *testing.T, pooler bool) *BERT {
	t.Helper()
	cfg, err := ReadConfig(filepath.Join("testdata", "tiny_bert", "config.json"))
	require.NoError(t, err)
	m, err := NewBERT(cfg, pooler)
	require.NoError(t, err)
	return m
}

func crossScores(t *testing.T, c *CrossEncoder, dev torch.Device) []float32 {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	ids := s.FromInt64([]int64{2, 5, 7, 3, 2, 9, 3, 0}, 2, 4).ToDevice(dev)
	types := s.FromInt64([]int64{0, 0, 1, 1, 0, 0, 1, 0}, 2, 4).ToDevice(dev)
	mask := s.FromInt64([]int64{1, 1, 1, 1, 1, 1, 1, 0}, 2, 4).ToDevice(dev)
	v, err := c.Scores(c.Logits(s, ids, types, mask, false)).Float32s()
	require.NoError(t, err)
	return v
}

// TestTowersToDevice: CrossEncoder.ToDevice and DualEncoder.ToDevice move every parameter (head included) and
// keep them trainable leaves; the scores stay the same. Without CUDA a move to cuda:0 fails and leaves the model
// usable where it was.
func TestTowersToDevice(t *testing.T) {
	torch.ManualSeed(3)
	c, err := NewCrossEncoder(tinyBERT(t, true), HeadV1)
	require.NoError(t, err)
	defer c.Close()
	before := crossScores(t, c, torch.CPU)
	require.NoError(t, c.ToDevice(torch.CPU))
	require.Equal(t, torch.CPU, c.Device())

	q, p := tinyBERT(t, false), tinyBERT(t, false)
	d := NewDualEncoder(q, p)
	defer d.Close()
	require.NoError(t, d.ToDevice(torch.CPU))

	if !torch.CUDAAvailable() {
		require.Error(t, c.ToDevice(torch.CUDA(0)))
		require.Equal(t, torch.CPU, c.Device())
		for _, p := range c.Params() {
			require.Equal(t, torch.CPU, p.Tensor.Device(), p.Name)
		}
		require.InDeltaSlice(t, before, crossScores(t, c, torch.CPU), 0)
		require.Error(t, d.ToDevice(torch.CUDA(0)))
		return
	}
	dev := torch.CUDA(0)
	require.NoError(t, c.ToDevice(dev))
	require.Equal(t, dev, c.Device())
	for _, p := range c.Params() {
		require.Equal(t, dev, p.Tensor.Device(), p.Name)
		require.True(t, p.Tensor.RequiresGrad(), p.Name)
	}
	after := crossScores(t, c, dev)
	for i := range before {
		require.InDelta(t, before[i], after[i], 1e-5+1.3e-6*float64(before[i]))
	}
	require.NoError(t, d.ToDevice(dev))
	for _, p := range d.Params() {
		require.Equal(t, dev, p.Tensor.Device(), p.Name)
	}
}

// paramValues returns every parameter's values by name.
func paramValues(t *testing.T, ps []Param) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range ps {
		v, err := p.Tensor.Float32s()
		require.NoError(t, err, p.Name)
		out[p.Name] = v
	}
	return out
}

// TestCopyFrom: CrossEncoder.CopyFrom and DualEncoder.CopyFrom copy every weight (the head, both towers) and refuse
// another head version or another tower sharing.
func TestCopyFrom(t *testing.T) {
	torch.ManualSeed(4)
	a, err := NewCrossEncoder(tinyBERT(t, true), HeadV1)
	require.NoError(t, err)
	defer a.Close()
	b, err := NewCrossEncoder(tinyBERT(t, true), HeadV1)
	require.NoError(t, err)
	defer b.Close()
	require.NotEqual(t, paramValues(t, a.Params()), paramValues(t, b.Params()))
	require.NoError(t, b.CopyFrom(a))
	require.Equal(t, paramValues(t, a.Params()), paramValues(t, b.Params()))
	v2, err := NewCrossEncoder(tinyBERT(t, true), HeadV2)
	require.NoError(t, err)
	defer v2.Close()
	require.EqualError(t, v2.CopyFrom(a), "encoder: CopyFrom: cross-encoder head v1, destination v2")

	d1 := NewDualEncoder(tinyBERT(t, false), tinyBERT(t, false))
	defer d1.Close()
	d2 := NewDualEncoder(tinyBERT(t, false), tinyBERT(t, false))
	defer d2.Close()
	require.NotEqual(t, paramValues(t, d1.Para.Params()), paramValues(t, d2.Para.Params()))
	require.NoError(t, d2.CopyFrom(d1))
	require.Equal(t, paramValues(t, d1.Query.Params()), paramValues(t, d2.Query.Params()))
	require.Equal(t, paramValues(t, d1.Para.Params()), paramValues(t, d2.Para.Params()))
	shared := tinyBERT(t, false)
	ds := NewDualEncoder(shared, shared)
	defer ds.Close()
	require.EqualError(t, ds.CopyFrom(d1), "encoder: CopyFrom: shared towers false, destination true")
}

// TestLoadDualRefusesTowersOfDifferentWidths: a dual-encoder directory whose towers have different hidden sizes is
// refused, naming both config files, instead of loading into a model whose query and passage vectors cannot be
// compared (Matching's dot product read past the shorter vector, or scored only a prefix of the longer one).
func TestLoadDualRefusesTowersOfDifferentWidths(t *testing.T) {
	vocab := filepath.Join("testdata", "tiny_bert", "vocab.txt")
	q := tinyBERT(t, false)
	c := *q.Cfg
	c.HiddenSize, c.IntermediateSize = 16, 32
	p, err := NewBERT(&c, false)
	require.NoError(t, err)
	d := NewDualEncoder(q, p)
	defer d.Close()
	dir := filepath.Join(t.TempDir(), "de")
	require.NoError(t, SaveDual(dir, d, ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, vocab))
	d2, _, err := LoadDual(dir)
	if d2 != nil {
		d2.Close()
	}
	require.EqualError(t, err, "encoder: "+dir+": the query tower has hidden_size 32 ("+filepath.Join(dir, QueryDir, ConfigFile)+
		") but the passage tower 16 ("+filepath.Join(dir, ParaDir, ConfigFile)+"): their vectors are compared by dot product")
}

// TestLoadDualRefusesTowersOfDifferentVocabularies: both towers are fed by the query tower's tokenizer, so a
// passage tower with a vocab.txt of its own that differs is refused, naming both files, instead of encoding
// passages with ids of a vocabulary it was not trained with. A passage tower without vocab.txt still loads.
func TestLoadDualRefusesTowersOfDifferentVocabularies(t *testing.T) {
	q, p := tinyBERT(t, false), tinyBERT(t, false)
	d := NewDualEncoder(q, p)
	defer d.Close()
	dir := filepath.Join(t.TempDir(), "de")
	require.NoError(t, SaveDual(dir, d, ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, filepath.Join("testdata", "tiny_bert", "vocab.txt")))
	pv := filepath.Join(dir, ParaDir, VocabFile)
	b, err := os.ReadFile(pv)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	lines[10], lines[11] = lines[11], lines[10] // same size, two ids swapped
	require.NoError(t, os.WriteFile(pv, []byte(strings.Join(lines, "\n")), 0o644))
	d2, _, err := LoadDual(dir)
	if d2 != nil {
		d2.Close()
	}
	require.EqualError(t, err, "encoder: "+pv+" differs from "+filepath.Join(dir, QueryDir, VocabFile)+
		": both towers are fed by one tokenizer (the query tower's), so the towers must share a vocabulary")
	// the same tokens with CRLF line endings are the same vocabulary
	require.NoError(t, os.WriteFile(pv, []byte(strings.ReplaceAll(string(b), "\n", "\r\n")), 0o644))
	d2, _, err = LoadDual(dir)
	require.NoError(t, err)
	d2.Close()
	require.NoError(t, os.Remove(pv))
	d2, _, err = LoadDual(dir)
	require.NoError(t, err)
	d2.Close()
}
