package encoder

import (
	"path/filepath"
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
