// Command bench times one RocketQA v2 joint step (official loss, dropout on, queries once per list line, forward
// and backward of the dual encoder's two towers and a v2 cross-encoder, no optimizer) on random models and random
// token ids of fixed lengths, and prints the median step time. ref_step.py times the same step in PyTorch eager;
// bench.sh runs both in one go and prints the ratio. -bf16 runs the forward passes in bfloat16 autocast; each run
// prints a roofline line (achieved GFLOP/s beside the matmul peak of the run) on stderr.
//
//	go run ./examples/jointtrain/bench -hidden 768 -layers 12 -heads 12 -inter 3072
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/roofline"
	"github.com/rocketqa-go/rocketqa/jointtrain"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

func main() {
	hidden := flag.Int("hidden", 32, "hidden size")
	layers := flag.Int("layers", 2, "layers")
	heads := flag.Int("heads", 4, "heads")
	inter := flag.Int("inter", 64, "FFN size")
	vocab := flag.Int("vocab", 1000, "vocabulary")
	b := flag.Int("b", 2, "lists")
	m := flag.Int("m", 8, "list size")
	ql := flag.Int("q-len", 32, "query length")
	pl := flag.Int("p-len", 128, "passage length")
	cl := flag.Int("ce-len", 160, "pair length")
	steps := flag.Int("steps", 5, "timed steps (after one warm-up)")
	threads := flag.Int("threads", 1, "libtorch threads")
	bf16 := flag.Bool("bf16", false, "bfloat16 autocast forward passes (forced, i.e. emulated and slow, on a CPU without avx512_bf16/amx_bf16)")
	flag.Parse()
	runtime.LockOSThread()
	torch.SetNumThreads(*threads)
	torch.ManualSeed(1)
	cfg := &encoder.Config{ModelType: "bert", VocabSize: *vocab, HiddenSize: *hidden, NumHiddenLayers: *layers, NumAttentionHeads: *heads,
		IntermediateSize: *inter, HiddenAct: "gelu", HiddenDropoutProb: 0.1, AttentionDropoutProb: 0.1,
		MaxPositionEmbeddings: 512, TypeVocabSize: 2, LayerNormEps: 1e-12, InitializerRange: 0.02}
	mk := func() *encoder.BERT {
		c := *cfg
		e, err := encoder.NewBERT(&c, false)
		if err != nil {
			fail(err)
		}
		return e
	}
	de := encoder.NewDualEncoder(mk(), mk())
	ce, err := encoder.NewCrossEncoder(mk(), encoder.HeadV2)
	if err != nil {
		fail(err)
	}
	vf, err := os.CreateTemp("", "vocab*.txt")
	if err != nil {
		fail(err)
	}
	defer os.Remove(vf.Name())
	fmt.Fprintln(vf, "[PAD]\n[CLS]\n[SEP]\n[MASK]\n[UNK]")
	vf.Close()
	tok, err := tokenizer.New(vf.Name(), tokenizer.DefaultOptions())
	if err != nil {
		fail(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	rows := func(n, l int, pair bool) []tokenizer.Encoding {
		out := make([]tokenizer.Encoding, n)
		for i := range out {
			e := tokenizer.Encoding{IDs: make([]int32, l), TypeIDs: make([]int32, l)}
			for j := range e.IDs {
				e.IDs[j] = int32(5 + r.IntN(*vocab-5))
				if pair && j >= l/2 {
					e.TypeIDs[j] = 1
				}
			}
			out[i] = e
		}
		return out
	}
	bt := &jointtrain.Batch{Q: rows(*b**m, *ql, false), P: rows(*b**m, *pl, true), C: rows(*b**m, *cl, true), B: *b, M: *m}
	task := &jointtrain.Task{DE: de, CE: ce, Tok: tok, M: *m, Autocast: *bf16, ForceAutocast: *bf16}
	var times []float64
	for i := 0; i <= *steps; i++ {
		for _, p := range task.Params() {
			p.Tensor.ZeroGrad()
		}
		t0 := time.Now()
		s := torch.NewScope()
		if _, err := task.StepBatch(s, bt); err != nil {
			fail(err)
		}
		s.Close()
		if i > 0 {
			times = append(times, time.Since(t0).Seconds())
		}
	}
	slices.Sort(times)
	med := times[len(times)/2]
	// roofline: forward and backward of both towers and the cross-encoder on the padded shapes, against the matmul
	// peak of this run in the step's precision
	n := *b * *m
	flops := roofline.TrainFLOPs(roofline.EncoderFLOPs(*hidden, *inter, *layers, n, *ql) +
		roofline.EncoderFLOPs(*hidden, *inter, *layers, n, *pl) + roofline.EncoderFLOPs(*hidden, *inter, *layers, n, *cl))
	peaks, err := roofline.Measure()
	if err != nil {
		fail(err)
	}
	peak, prec := peaks.FP32, "fp32"
	if *bf16 {
		peak, prec = peaks.BF16, "bf16"
	}
	fmt.Fprintf(os.Stderr, "go %s joint step %.1f ms: %s (%s)\n", prec, 1e3*med, roofline.Fraction(flops, med, peak), peaks)
	json.NewEncoder(os.Stdout).Encode(map[string]any{"impl": "go", "precision": prec, "median_s": med, "times": times,
		"gflop_s": flops / med / 1e9, "peak_gflop_s": peak})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
