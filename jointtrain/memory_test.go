package jointtrain

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// memConfigs are the measured configurations: BERT-base width with 2 layers (the activations dominate as at
// full depth, and a step takes seconds on a CPU), full and chunked, chunk sizes that divide the rows and not.
func memConfigs() map[string]MemConfig {
	base := BERTBase()
	base.Layers, base.Vocab, base.Optimizer = 2, 2000, "none"
	with := func(f func(c *MemConfig)) MemConfig { c := base; f(&c); return c }
	return map[string]MemConfig{
		"full-m8": with(func(c *MemConfig) { c.B, c.M, c.QLen, c.PLen, c.CELen = 2, 8, 32, 128, 160 }),
		"cached-m8": with(func(c *MemConfig) {
			c.B, c.M, c.QLen, c.PLen, c.CELen, c.Cached, c.ChunkSize = 2, 8, 32, 128, 160, true, 4
		}),
		"full-m4": with(func(c *MemConfig) { c.B, c.M, c.QLen, c.PLen, c.CELen = 2, 4, 16, 192, 256 }),
		"cached-m16": with(func(c *MemConfig) {
			c.B, c.M, c.QLen, c.PLen, c.CELen, c.Cached, c.ChunkSize = 1, 16, 32, 128, 160, true, 3
		}),
	}
}

// TestMemoryEstimateMatchesMeasured: for four configurations, the estimated peak (weights, gradients,
// activations; no optimizer state) is within 25% of the measured growth of the peak resident memory of one
// training step, each measured in a fresh process; and the chunked step needs less than the full one.
func TestMemoryEstimateMatchesMeasured(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes that train BERT-base-width models")
	}
	// two processes at a time (each single-threaded)
	names := []string{"full-m8", "cached-m8", "full-m4", "cached-m16"}
	type res struct {
		m   Measured
		out []byte
		err error
	}
	results := make([]res, len(names))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryWorker$")
			cmd.Env = append(os.Environ(), "ROCKETQA_MEM_WORKER="+name, "ROCKETQA_TEST_OUT="+dir, "OMP_NUM_THREADS=1")
			out, err := cmd.CombinedOutput()
			results[i].out, results[i].err = out, err
			if err != nil {
				return
			}
			b, err := os.ReadFile(filepath.Join(dir, "measured.json"))
			if err == nil {
				err = json.Unmarshal(b, &results[i].m)
			}
			results[i].err = err
		}()
	}
	wg.Wait()
	got := map[string]int64{}
	for i, name := range names {
		require.NoError(t, results[i].err, "%s:\n%s", name, results[i].out)
		m := results[i].m
		e, err := EstimateMemory(memConfigs()[name])
		require.NoError(t, err)
		ratio := float64(e.Peak) / float64(m.PeakGrowth)
		t.Logf("%-10s estimate %7.1f MiB (weights %.1f, grads %.1f, activations %.1f)  measured %7.1f MiB  ratio %.3f  step %v",
			name, mib(e.Peak), mib(e.Weights), mib(e.Gradients), mib(e.Activations), mib(m.PeakGrowth), ratio, m.StepTime)
		require.Less(t, math.Abs(ratio-1), 0.25, "%s: estimate %d, measured %d", name, e.Peak, m.PeakGrowth)
		got[name] = m.PeakGrowth
	}
	require.Less(t, got["cached-m8"], got["full-m8"])
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// TestMemoryWorker is one process of TestMemoryEstimateMatchesMeasured.
func TestMemoryWorker(t *testing.T) {
	name := os.Getenv("ROCKETQA_MEM_WORKER")
	if name == "" {
		t.Skip("spawned by TestMemoryEstimateMatchesMeasured")
	}
	c, ok := memConfigs()[name]
	if js := os.Getenv("ROCKETQA_MEM_CFG"); js != "" { // a configuration of one's own (examples/jointtrain)
		require.NoError(t, json.Unmarshal([]byte(js), &c))
		ok = true
	}
	require.True(t, ok, name)
	m, err := MeasureStep(c, t.TempDir())
	require.NoError(t, err)
	b, _ := json.Marshal(m)
	require.NoError(t, os.WriteFile(filepath.Join(os.Getenv("ROCKETQA_TEST_OUT"), "measured.json"), b, 0o644))
}

// TestEstimateMemoryShape: the breakdown adds up, chunking shrinks only the activations, the frozen
// cross-encoder drops its gradients and optimizer state, bad sizes are refused.
func TestEstimateMemoryShape(t *testing.T) {
	c := BERTBase()
	c.B, c.M, c.QLen, c.PLen, c.CELen = 3, 128, 32, 128, 160
	full, err := EstimateMemory(c)
	require.NoError(t, err)
	require.Equal(t, full.Weights+full.Gradients+full.Optimizer+full.Activations, full.Peak)
	require.Equal(t, 2*full.Gradients, full.Optimizer)
	// BERT-base without pooler: 108.9M parameters (HF bert-base-uncased has 109.5M with its pooler)
	require.InDelta(t, 108.9e6, float64(c.BERTParams()), 0.1e6)
	c.Cached, c.ChunkSize = true, 16
	ch, err := EstimateMemory(c)
	require.NoError(t, err)
	require.Equal(t, full.Weights, ch.Weights)
	require.Less(t, ch.Activations*10, full.Activations)
	require.Less(t, ch.Peak, int64(24)<<30, "official m=128 lists with BERT-base fit one 24 GB card chunked")
	require.Greater(t, full.Peak, int64(24)<<30)
	c.FrozenCE = true
	fr, err := EstimateMemory(c)
	require.NoError(t, err)
	require.Less(t, fr.Gradients, ch.Gradients)
	c.B = 0
	_, err = EstimateMemory(c)
	require.ErrorContains(t, err, "must be positive")
	var sb strings.Builder
	require.NoError(t, WriteMemTable(&sb, OfficialMemRows(), 24<<30))
	require.Contains(t, sb.String(), "MS MARCO B=3 m=128 chunk 32")
}
