package torch_test

// CUDA checks of the binding, run by scripts/gpu-check.sh (-test.run 'TestCUDA'). They skip without a CUDA device
// unless ROCKETQA_TEST_DEVICE=cpu, which runs them with the CPU as the device under test (the script's --cpu mode:
// it proves the plumbing, not CUDA). Each prints one "GPUCHECK|row|status|detail" line for the script's table.

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/internal/gpucheck"
	"github.com/rocketqa-go/rocketqa/internal/proctest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// TestCUDAOpsVsCPU: the operations of a BERT step, forward and backward, on the device against the CPU (fp32, TF32
// off). The relative tolerance is 1e-5 (not 1.3e-6): CUDA kernels reduce in another order than the CPU ones.
func TestCUDAOpsVsCPU(t *testing.T) {
	dev := gpucheck.Device(t)
	tol := closeto.Tol{RTol: 1e-5, ATol: 1e-5}
	torch.ManualSeed(3)
	s := torch.NewScope()
	defer s.Close()
	x := s.Randn([]int64{4, 6, 32}, torch.Float32, torch.CPU)
	w := s.Randn([]int64{48, 32}, torch.Float32, torch.CPU).Mul(s.Full([]int64{1}, 0.2, torch.Float32, torch.CPU))
	b := s.Randn([]int64{48}, torch.Float32, torch.CPU)
	emb := s.Randn([]int64{50, 32}, torch.Float32, torch.CPU)
	ids := s.FromInt64([]int64{1, 4, 9, 49, 0, 7}, 6)
	tgt := s.FromInt64([]int64{3, 0, 47, 5}, 4)
	require.NoError(t, s.Err())
	run := func(d torch.Device) ([]float32, map[string][]float32) {
		leaves := map[string]*torch.Tensor{}
		for name, v := range map[string]*torch.Tensor{"x": x, "w": w, "b": b, "emb": emb} {
			leaves[name] = s.Use(v.ToDevice(d).Detach().SetRequiresGrad(true))
		}
		e := torch.Embedding(leaves["emb"], ids.ToDevice(d), -1)
		h := leaves["x"].Add(e)
		h = torch.LayerNorm(h, []int64{32}, nil, nil, 1e-12)
		y := torch.Linear(h, leaves["w"], leaves["b"]).Gelu()
		att := y.MatMul(y.T()).Softmax(-1).MatMul(y).Tanh()
		logits := att.Select(1, 0)
		loss := torch.CrossEntropy(logits, tgt.ToDevice(d)).Add(att.Exp().Mean())
		require.NoError(t, loss.Backward())
		out, err := att.Float32s()
		require.NoError(t, err)
		l, err := loss.Float32s()
		require.NoError(t, err)
		gs := map[string][]float32{"loss": l}
		for name, v := range leaves {
			g, err := s.Adopt(v.Grad()).Float32s()
			require.NoError(t, err)
			gs[name] = g
		}
		return out, gs
	}
	wantOut, wantG := run(torch.CPU)
	gotOut, gotG := run(dev)
	err := closeto.Slices(gotOut, wantOut, tol)
	worst := closeto.MaxAbsDiff(gotOut, wantOut)
	for name, g := range wantG {
		if err == nil {
			if e := closeto.Slices(gotG[name], g, tol); e != nil {
				err = fmt.Errorf("grad %s: %w", name, e)
			}
		}
		worst = max(worst, closeto.MaxAbsDiff(gotG[name], g))
	}
	gpucheck.Row(t, "ops+grads "+dev.String()+" vs cpu (fp32, TF32 off)", err,
		"embedding, layer_norm, linear, gelu, matmul, softmax, tanh, cross_entropy, exp, mean; max|diff| %.2g (tol 1e-5+1e-5*|want|)", worst)
}

// TestCUDARNGResume: the device generator's state saved and restored replays dropout masks and random draws
// exactly (bit for bit: same generator, same kernels).
func TestCUDARNGResume(t *testing.T) {
	dev := gpucheck.Device(t)
	torch.ManualSeed(11)
	s := torch.NewScope()
	defer s.Close()
	ones := s.Ones([]int64{64, 64}, torch.Float32, dev)
	draw := func() []float32 {
		a, err := ones.Dropout(0.3, true).Add(s.Rand([]int64{64, 64}, torch.Float32, dev)).Float32s()
		require.NoError(t, err)
		return a
	}
	draw()
	st, err := torch.SaveRNG(dev)
	require.NoError(t, err)
	first := draw()
	other := draw()
	require.NoError(t, torch.RestoreRNG(dev, st))
	again := draw()
	same := true
	for i := range first {
		same = same && first[i] == again[i]
	}
	var e error
	if !same {
		e = fmt.Errorf("the restored generator drew other numbers")
	} else if fmt.Sprint(first) == fmt.Sprint(other) {
		e = fmt.Errorf("two successive draws are equal: the check would not see a failed restore")
	}
	gpucheck.Row(t, "RNG state "+dev.String()+" save/restore", e, "dropout+rand after restore identical (%d values, %d-byte state)", len(first), len(st))
}

// TestCUDAAllGather: two processes on one machine gather a device tensor differentiably (the cross-batch
// negatives). Backend: ROCKETQA_GATHER_BACKEND (gloo by default; Gloo gathers host tensors, so a CUDA tensor goes
// device->host->device; nccl needs one GPU per rank).
func TestCUDAAllGather(t *testing.T) {
	dev := gpucheck.Device(t)
	backend := os.Getenv("ROCKETQA_GATHER_BACKEND")
	if backend == "" {
		backend = "gloo"
	}
	if backend == "nccl" && torch.CUDADeviceCount() < 2 {
		t.Skip("nccl needs two GPUs")
	}
	var err error
	for r, res := range proctest.Run[struct{ Error string }](t, "TestCUDAGatherWorker", 2, "TORCH_CUDA_WORKER="+backend, "TORCH_TEST_DEV="+dev.String()) {
		if res.Error != "" && err == nil {
			err = fmt.Errorf("rank %d: %s", r, res.Error)
		}
	}
	how := backend
	if backend == "gloo" && dev.Type == torch.CUDADevice {
		how = "gloo, device->host->device"
	}
	gpucheck.Row(t, "all_gather 2 ranks "+dev.String()+" ("+how+")", err, "gathered values and gradients (sum over ranks of each slice) exact on both ranks")
}

// TestCUDAGatherWorker is one rank of TestCUDAAllGather.
func TestCUDAGatherWorker(t *testing.T) {
	backend := os.Getenv("TORCH_CUDA_WORKER")
	if backend == "" {
		t.Skip("only runs as a spawned worker")
	}
	err := func() error {
		o, err := torch.DistOptionsFromEnv()
		if err != nil {
			return err
		}
		o.Backend, o.Timeout = backend, 60*time.Second
		dev, err := torch.ParseDevice(os.Getenv("TORCH_TEST_DEV"))
		if err != nil {
			return err
		}
		if dev.Type == torch.CUDADevice && backend == "nccl" {
			dev = torch.CUDA(o.LocalRank)
		}
		pg, err := torch.NewProcessGroup(o)
		if err != nil {
			return err
		}
		defer pg.Close()
		s := torch.NewScope()
		defer s.Close()
		const n, d = 3, 4
		local := make([]float32, n*d)
		for i := range local {
			local[i] = float32(100*pg.Rank() + i)
		}
		x := s.FromFloat32(local, n, d).ToDevice(dev).Detach().SetRequiresGrad(true)
		p := pg.AllGather(x)
		coef := make([]float32, 2*n*d)
		for i := range coef {
			coef[i] = float32(i%7) - 3
		}
		loss := p.Mul(s.FromFloat32(coef, 2*n, d).ToDevice(dev)).Sum()
		if err := loss.Backward(); err != nil {
			return err
		}
		if got := p.Device(); got != dev {
			return fmt.Errorf("gathered tensor on %s, want %s", got, dev)
		}
		gathered, err := p.Float32s()
		if err != nil {
			return err
		}
		for r := 0; r < 2; r++ {
			for i := 0; i < n*d; i++ {
				if want := float32(100*r + i); gathered[r*n*d+i] != want {
					return fmt.Errorf("gathered[%d] = %v, want %v", r*n*d+i, gathered[r*n*d+i], want)
				}
			}
		}
		g, err := s.Adopt(x.Grad()).Float32s()
		if err != nil {
			return err
		}
		for i := range g {
			if want := 2 * coef[pg.Rank()*n*d+i]; g[i] != want { // both ranks' losses use this slice
				return fmt.Errorf("grad[%d] = %v, want %v", i, g[i], want)
			}
		}
		return pg.Barrier()
	}()
	res := struct{ Error string }{}
	if err != nil {
		res.Error = err.Error()
	}
	proctest.WriteResult(t, res)
}

// TestCUDAInfo prints what the binary runs on: the shim's build, CUDA, the device count (the first row of the
// table). Under scripts/gpu-check.sh (ROCKETQA_GPUCHECK=1) without --cpu it fails when CUDA is unusable; elsewhere
// it skips without CUDA.
func TestCUDAInfo(t *testing.T) {
	var err error
	if os.Getenv("ROCKETQA_TEST_DEVICE") != "cpu" && !torch.CUDAAvailable() {
		if os.Getenv("ROCKETQA_GPUCHECK") == "" {
			t.Skip("no CUDA device")
		}
		err = fmt.Errorf("no usable CUDA device")
	}
	gpucheck.Row(t, "shim build", err, "%s; CUDA available %v, %d device(s)", torch.BuildInfo(), torch.CUDAAvailable(), torch.CUDADeviceCount())
}
