package encoder_test

// Throughput and memory rows of scripts/gpu-check.sh (-test.run 'TestCUDA'): BERT-base encoding at length 384 in
// fp32 and under bfloat16 autocast, and a BERT-base dual-encoder training step under bfloat16 autocast, with the
// caching allocator's peak. The script runs the same shapes in PyTorch eager (scripts/gpu/ref_perf.py) in the same
// run and prints the ratios. They skip without a CUDA device unless ROCKETQA_TEST_DEVICE=cpu (the script's --cpu
// mode, which also shrinks the model: ROCKETQA_GPUCHECK_SIZE=tiny).

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/gpucheck"
	"github.com/rocketqa-go/rocketqa/torch"
)

// perfShape is the model and the shapes of the throughput rows; scripts/gpu/ref_perf.py has the same table.
type perfShape struct {
	hidden, layers, heads, inter int
	encBatch, encLen             int64
	trainB, qLen, pLen           int64
	reps                         int
}

func perfShapeFor(t *testing.T) perfShape {
	switch os.Getenv("ROCKETQA_GPUCHECK_SIZE") {
	case "", "base":
		return perfShape{hidden: 768, layers: 12, heads: 12, inter: 3072, encBatch: 64, encLen: 384, trainB: 16, qLen: 32, pLen: 384, reps: 10}
	case "tiny":
		return perfShape{hidden: 64, layers: 2, heads: 4, inter: 256, encBatch: 8, encLen: 64, trainB: 4, qLen: 16, pLen: 64, reps: 5}
	}
	t.Fatalf("ROCKETQA_GPUCHECK_SIZE=%q: want base or tiny", os.Getenv("ROCKETQA_GPUCHECK_SIZE"))
	return perfShape{}
}

func (p perfShape) config() *encoder.Config {
	return &encoder.Config{ModelType: "bert", VocabSize: 21128, HiddenSize: p.hidden, NumHiddenLayers: p.layers,
		NumAttentionHeads: p.heads, IntermediateSize: p.inter, HiddenAct: "gelu", HiddenDropoutProb: 0.1,
		AttentionDropoutProb: 0.1, MaxPositionEmbeddings: 512, TypeVocabSize: 2, LayerNormEps: 1e-12, InitializerRange: 0.02}
}

// perfIDs are deterministic token ids (the same formula as ref_perf.py).
func perfIDs(s *torch.Scope, b, l int64, dev torch.Device) (ids, types, mask *torch.Tensor) {
	v := make([]int64, b*l)
	for i := range v {
		v[i] = int64(5 + (i*7919)%21000)
	}
	ids = s.FromInt64(v, b, l).ToDevice(dev)
	return ids, s.Zeros([]int64{b, l}, torch.Int64, dev), s.Ones([]int64{b, l}, torch.Int64, dev)
}

// median seconds of fn over reps runs after one warm-up, synchronising the device around each.
func medianSeconds(t *testing.T, dev torch.Device, reps int, fn func()) float64 {
	fn()
	require.NoError(t, torch.Synchronize(dev))
	ts := make([]float64, reps)
	for i := range ts {
		t0 := time.Now()
		fn()
		require.NoError(t, torch.Synchronize(dev))
		ts[i] = time.Since(t0).Seconds()
	}
	sort.Float64s(ts)
	return ts[len(ts)/2]
}

// TestCUDAThroughputEncode times one batch of BERT-base passage encoding (eval, no grad) in fp32 and in bf16.
func TestCUDAThroughputEncode(t *testing.T) {
	dev := gpucheck.Device(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := perfShapeFor(t)
	torch.ManualSeed(0)
	m, err := encoder.NewBERT(p.config(), false)
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.ToDevice(dev))
	s := torch.NewScope()
	defer s.Close()
	ids, types, mask := perfIDs(s, p.encBatch, p.encLen, dev)
	encode := func() {
		var err error
		torch.NoGrad(func() {
			err = torch.With(func(s *torch.Scope) error {
				return encoder.CLS(m.Forward(s, ids, types, mask, false)).Contiguous().Err()
			})
		})
		require.NoError(t, err)
	}
	for _, dt := range []torch.DType{torch.Float32, torch.BFloat16} {
		fn := encode
		if dt == torch.BFloat16 {
			fn = func() { require.NoError(t, torch.Autocast(dev.Type, torch.BFloat16, encode)) }
		}
		sec := medianSeconds(t, dev, p.reps, fn)
		gpucheck.Perf("encode_"+dt.String(), sec, "%d passages x %d tokens, hidden %d, %d layers: %.0f passages/s",
			p.encBatch, p.encLen, p.hidden, p.layers, float64(p.encBatch)/sec)
	}
}

// TestCUDAThroughputDualStep times one BERT-base dual-encoder training step under bf16 autocast (two towers, raw
// [CLS], in-batch cross entropy, backward, clip 1.0, AdamW) and reports the caching allocator's peak over the step.
func TestCUDAThroughputDualStep(t *testing.T) {
	dev := gpucheck.Device(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := perfShapeFor(t)
	torch.ManualSeed(0)
	q, err := encoder.NewBERT(p.config(), false)
	require.NoError(t, err)
	defer q.Close()
	ps, err := encoder.NewBERT(p.config(), false)
	require.NoError(t, err)
	defer ps.Close()
	require.NoError(t, q.ToDevice(dev))
	require.NoError(t, ps.ToDevice(dev))
	var params []*torch.Tensor
	for _, m := range []*encoder.BERT{q, ps} {
		for _, pr := range m.Params() {
			params = append(params, pr.Tensor)
		}
	}
	opt, err := torch.NewAdamW([]torch.ParamGroup{{Params: params, LR: 1e-5}}, torch.AdamWOptions{})
	require.NoError(t, err)
	defer opt.Close()
	B := p.trainB
	in := torch.NewScope()
	defer in.Close()
	qi, qt, qm := perfIDs(in, B, p.qLen, dev)
	pi, pt, pm := perfIDs(in, 2*B, p.pLen, dev)
	step := func() {
		require.NoError(t, torch.With(func(s *torch.Scope) error {
			var scores *torch.Tensor
			if err := torch.Autocast(dev.Type, torch.BFloat16, func() {
				qv := encoder.CLS(q.Forward(s, qi, qt, qm, true))
				pv := encoder.CLS(ps.Forward(s, pi, pt, pm, true))
				scores = qv.MatMul(pv.T())
			}); err != nil {
				return err
			}
			loss := torch.CrossEntropy(scores.To(torch.Float32), s.Arange(0, float64(B), 1, torch.Int64, dev))
			if err := loss.Backward(); err != nil {
				return err
			}
			if _, err := torch.ClipGradNorm(params, 1); err != nil {
				return err
			}
			if err := opt.Step(); err != nil {
				return err
			}
			return opt.ZeroGrad()
		}))
	}
	step() // optimizer state allocated
	peak := ""
	if dev.Type == torch.CUDADevice {
		_, err := torch.CUDAMemoryStats(dev, true)
		require.NoError(t, err)
		step()
		require.NoError(t, torch.Synchronize(dev))
		m, err := torch.CUDAMemoryStats(dev, false)
		require.NoError(t, err)
		peak = fmt.Sprintf("; peak allocated %.0f MiB, reserved %.0f MiB", float64(m.PeakAllocated)/(1<<20), float64(m.Reserved)/(1<<20))
		fmt.Printf("GPUMEM|dual_step_bf16|%d|%d\n", m.PeakAllocated, m.Reserved)
	}
	sec := medianSeconds(t, dev, p.reps, step)
	gpucheck.Perf("dual_step_bf16", sec, "%d queries x %d + %d passages x %d tokens, hidden %d, %d layers: %.1f queries/s%s",
		B, p.qLen, 2*B, p.pLen, p.hidden, p.layers, float64(B)/sec, peak)
}
