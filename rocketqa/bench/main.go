// Command bench measures the throughput of one RocketQA v1 dual-encoder training step (two towers, raw [CLS],
// in-batch cross entropy, backward, clip, AdamW) in Go against the same step in PyTorch eager, same libtorch, same
// thread count, same shapes, in the same run; in float32 and with the forward passes in bfloat16 autocast (forced,
// i.e. emulated, on a CPU without avx512_bf16/amx_bf16), with the achieved GFLOP/s beside the matmul peak of the run.
//
//	scripts/bench-train.sh [-batch 32 -q-len 32 -p-len 128 -hidden 128 -layers 2]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/roofline"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

func main() {
	threads := flag.Int("threads", runtime.NumCPU(), "threads on both sides")
	batch := flag.Int("batch", 32, "queries per step (2x passages)")
	qlen := flag.Int("q-len", 32, "query length in tokens")
	plen := flag.Int("p-len", 128, "passage length in tokens")
	hidden := flag.Int("hidden", 128, "hidden size")
	layers := flag.Int("layers", 2, "layers")
	steps := flag.Int("steps", 3, "steps per repeat")
	reps := flag.Int("reps", 5, "repeats (median)")
	bf16 := flag.Bool("bf16", true, "also time the step with bfloat16 autocast forward passes")
	flag.Parse()
	runtime.LockOSThread() // libtorch's OpenMP state is per OS thread (as in train.Run)
	torch.SetNumThreads(*threads)
	cfg := &encoder.Config{ModelType: "bert", VocabSize: 3000, HiddenSize: *hidden, NumHiddenLayers: *layers, NumAttentionHeads: 4,
		IntermediateSize: 4 * *hidden, HiddenAct: "gelu", HiddenDropoutProb: 0.1, AttentionDropoutProb: 0.1,
		MaxPositionEmbeddings: 512, TypeVocabSize: 2, LayerNormEps: 1e-12, InitializerRange: 0.02}
	dir, err := os.MkdirTemp("", "rqbench")
	check(err)
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "config.json")
	check(cfg.WriteFile(cfgPath))

	torch.ManualSeed(0)
	q, err := encoder.NewBERT(cfg, false)
	check(err)
	p, err := encoder.NewBERT(cfg, false)
	check(err)
	var decay, nodecay []*torch.Tensor
	for _, m := range []*encoder.BERT{q, p} {
		for _, pr := range m.Params() {
			if train.NoDecay(pr.Name) {
				nodecay = append(nodecay, pr.Tensor)
			} else {
				decay = append(decay, pr.Tensor)
			}
		}
	}
	all := append(append([]*torch.Tensor(nil), decay...), nodecay...)
	opt, err := torch.NewAdamW([]torch.ParamGroup{{Params: decay, LR: 1e-4}, {Params: nodecay, LR: 1e-4}}, torch.AdamWOptions{})
	check(err)
	B, Q, P := int64(*batch), int64(*qlen), int64(*plen)
	ids := func(n int64) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(5 + (i*7919)%2990)
		}
		return v
	}
	ones := func(n int64) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	autocast := false
	step := func() {
		check(torch.With(func(s *torch.Scope) error {
			qi, pi := s.FromInt64(ids(B*Q), B, Q), s.FromInt64(ids(2*B*P), 2*B, P)
			qt, pt := s.Zeros([]int64{B, Q}, torch.Int64, torch.CPU), s.Zeros([]int64{2 * B, P}, torch.Int64, torch.CPU)
			qm, pm := s.FromInt64(ones(B*Q), B, Q), s.FromInt64(ones(2*B*P), 2*B, P)
			var qv, pv *torch.Tensor
			// as rocketqa.DualTask: the towers under autocast, the loss in float32
			if err := encoder.WithAutocast(torch.CPUDevice, autocast, func() {
				qv = encoder.CLS(q.Forward(s, qi, qt, qm, true))
				pv = encoder.CLS(p.Forward(s, pi, pt, pm, true))
			}); err != nil {
				return err
			}
			qv, pv = qv.To(torch.Float32), pv.To(torch.Float32)
			loss := torch.CrossEntropy(qv.MatMul(pv.T()), s.Arange(0, float64(B), 1, torch.Int64, torch.CPU))
			if err := loss.Backward(); err != nil {
				return err
			}
			if _, err := torch.ClipGradNorm(all, 1); err != nil {
				return err
			}
			if err := opt.Step(); err != nil {
				return err
			}
			return opt.ZeroGrad()
		}))
	}
	// fp32 and bf16 repeats alternate, so that a machine that slows down or speeds up during the run (this one is
	// shared) moves both the same way; the ratio is also taken per repeat and its median printed
	timeOnce := func(ac bool) float64 {
		autocast = ac
		t0 := time.Now()
		for i := 0; i < *steps; i++ {
			step()
		}
		return time.Since(t0).Seconds() / float64(*steps)
	}
	median := func(v []float64) float64 {
		v = append([]float64(nil), v...)
		sort.Float64s(v)
		return v[len(v)/2]
	}
	timeOnce(false) // warm-up
	if *bf16 {
		timeOnce(true)
	}
	t32, t16, ratios := make([]float64, *reps), make([]float64, *reps), make([]float64, *reps)
	for r := range t32 {
		t32[r] = timeOnce(false)
		if *bf16 {
			t16[r] = timeOnce(true)
			ratios[r] = t32[r] / t16[r]
		}
	}
	goStep := median(t32)
	var goStep16 float64
	if *bf16 {
		goStep16 = median(t16)
	}
	peaks, err := roofline.Measure()
	check(err)

	type refOut struct {
		Threads int     `json:"threads"`
		StepS   float64 `json:"step_s"`
	}
	runRef := func(mode string) refOut {
		cmd := exec.Command("/usr/bin/python3", "rocketqa/bench/step.py", cfgPath, fmt.Sprint(*threads), fmt.Sprint(*batch), fmt.Sprint(*qlen),
			fmt.Sprint(*plen), fmt.Sprint(*steps), fmt.Sprint(*reps), mode)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		check(err)
		var r refOut
		check(json.Unmarshal(out, &r))
		return r
	}
	ref := runRef("fp32")
	var ref16 refOut
	if *bf16 {
		ref16 = runRef("bf16")
	}
	flops := roofline.TrainFLOPs(roofline.EncoderFLOPs(*hidden, 4**hidden, *layers, int(B), int(Q)) +
		roofline.EncoderFLOPs(*hidden, 4**hidden, *layers, int(2*B), int(P)))
	fmt.Printf("dual-encoder training step: %d queries x %d tokens + %d passages x %d tokens, hidden %d, %d layers, two towers\n",
		B, Q, 2*B, P, *hidden, *layers)
	fmt.Printf("threads: Go %d, PyTorch %d; OPENBLAS_CORETYPE=%q; median of %d x %d steps\n", torch.NumThreads(), ref.Threads, os.Getenv("OPENBLAS_CORETYPE"), *reps, *steps)
	fmt.Println(peaks)
	fmt.Printf("Go fp32           %8.1f ms/step  %8.1f queries/s  %s\n", goStep*1e3, float64(B)/goStep, roofline.Fraction(flops, goStep, peaks.FP32))
	fmt.Printf("PyTorch fp32      %8.1f ms/step  %8.1f queries/s  %s\n", ref.StepS*1e3, float64(B)/ref.StepS, roofline.Fraction(flops, ref.StepS, peaks.FP32))
	fmt.Printf("Go/PyTorch throughput ratio: %.2fx\n", ref.StepS/goStep)
	if *bf16 {
		if _, note := torch.CPUBF16(true, false); note != "" {
			fmt.Println("bf16 rows are forced (ForceBF16), emulated; without it the library says:", note)
		}
		fmt.Printf("Go bf16 autocast  %8.1f ms/step  %8.1f queries/s  %s\n", goStep16*1e3, float64(B)/goStep16, roofline.Fraction(flops, goStep16, peaks.BF16))
		fmt.Printf("PyTorch bf16      %8.1f ms/step  %8.1f queries/s  %s\n", ref16.StepS*1e3, float64(B)/ref16.StepS, roofline.Fraction(flops, ref16.StepS, peaks.BF16))
		fmt.Printf("Go bf16 / Go fp32: %.2fx (median of the %d per-repeat ratios, fp32 and bf16 alternating: %.2fx); Go bf16 / PyTorch bf16: %.2fx\n",
			goStep/goStep16, *reps, median(ratios), ref16.StepS/goStep16)
	}
	fmt.Println("(GFLOP/s: 3 × the forward matmul and attention FLOPs of both towers)")
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
