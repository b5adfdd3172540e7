// Command bench measures passage encoding throughput: the Go encoder against PyTorch eager on the same weights and
// the same padded batches (same libtorch, same threads, same run), in float32 and in bfloat16 autocast, the gain
// from sorting by length inside a window (length bucketing) and from token-budget batches, on a realistic mix of
// passage lengths (the demo corpus when given, else synthetic). Every row gives its achieved GFLOP/s (matmul and
// attention FLOPs of the real padded shapes) beside the matmul peak measured in the same run.
//
//	scripts/bench-encoder.sh [-data data/demo] [-hidden 768 -layers 12 -heads 12 -batch 16 -threads 2]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/roofline"
	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

func main() {
	data := flag.String("data", "", "DuReader-layout corpus for realistic passages (default: synthetic lengths)")
	n := flag.Int("n", 512, "passages")
	batch := flag.Int("batch", 32, "batch size")
	budget := flag.Int("token-budget", -1, "padded tokens per batch for the token-budget rows (-1: batch × mean length; 0: skip)")
	plen := flag.Int("p-len", 384, "max passage length")
	hidden := flag.Int("hidden", 256, "hidden size")
	layers := flag.Int("layers", 4, "layers")
	heads := flag.Int("heads", 4, "attention heads")
	threads := flag.Int("threads", runtime.NumCPU(), "threads on both sides")
	reps := flag.Int("reps", 3, "repeats (median)")
	bf16 := flag.Bool("bf16", true, "bfloat16 autocast rows too (forced, i.e. emulated and slow, on a CPU without avx512_bf16/amx_bf16)")
	flag.Parse()
	runtime.LockOSThread() // libtorch's OpenMP state is per OS thread (as in train.Run)
	torch.SetNumThreads(*threads)

	dir, err := os.MkdirTemp("", "encbench")
	check(err)
	defer os.RemoveAll(dir)
	paras := passages(*data, *n)
	vocab := filepath.Join(dir, "vocab.txt")
	check(writeVocab(vocab, paras))
	tok, err := tokenizer.New(vocab, tokenizer.DefaultOptions())
	check(err)
	cfg := &encoder.Config{ModelType: "bert", VocabSize: tok.VocabSize(), HiddenSize: *hidden, NumHiddenLayers: *layers,
		NumAttentionHeads: *heads, IntermediateSize: 4 * *hidden, HiddenAct: "gelu", MaxPositionEmbeddings: 512, TypeVocabSize: 2,
		LayerNormEps: 1e-12, InitializerRange: 0.02}
	torch.ManualSeed(1)
	m, err := encoder.NewBERT(cfg, false)
	check(err)
	model := encoder.NewDualEncoder(m, m)
	sd, err := m.StateDict("")
	check(err)
	check(encoder.SaveDir(filepath.Join(dir, "model"), cfg, sd, vocab))

	encs := make([]tokenizer.Encoding, len(paras))
	tokens := 0
	for i, p := range paras {
		encs[i] = tok.EncodePassage("", p, *plen)
		tokens += encs[i].Len()
	}
	lens := encoder.Lengths(encs)
	if *budget < 0 {
		*budget = *batch * tokens / len(paras)
	}
	peaks, err := roofline.Measure()
	check(err)
	flops := func(b encoder.Batching) float64 { // the FLOPs of a plan's padded batches
		f := 0.0
		for _, idx := range b.Plan(lens) {
			cols := 0
			for _, j := range idx {
				cols = max(cols, lens[j])
			}
			f += roofline.EncoderFLOPs(cfg.HiddenSize, cfg.IntermediateSize, cfg.NumHiddenLayers, len(idx), cols)
		}
		return f
	}

	emb := &encoder.Embedder{Model: model, Tok: tok, QMaxLen: 32, PMaxLen: *plen}
	type row struct {
		name    string
		opts    encoder.EncodeOptions
		seconds float64
	}
	inOrder := encoder.EncodeOptions{BatchSize: *batch, SortWindow: 1}
	sorted := encoder.EncodeOptions{BatchSize: *batch}
	budgeted := encoder.EncodeOptions{BatchSize: *batch, TokenBudget: *budget}
	rows := []row{{name: "Go fp32, input order", opts: inOrder}, {name: "Go fp32, sorted by length", opts: sorted}}
	if *budget > 0 {
		rows = append(rows, row{name: fmt.Sprintf("Go fp32, sorted, budget %d tokens", *budget), opts: budgeted})
	}
	if *bf16 {
		for _, r := range rows[:len(rows):len(rows)] {
			r.name = strings.Replace(r.name, "fp32", "bf16", 1)
			r.opts.BF16, r.opts.ForceBF16 = true, true
			rows = append(rows, r)
		}
	}
	timeIt := func(o encoder.EncodeOptions) float64 {
		emb.Options = o
		ts := make([]float64, *reps)
		for r := range ts {
			t0 := time.Now()
			_, err := emb.EncodePassages(context.Background(), nil, paras)
			check(err)
			ts[r] = time.Since(t0).Seconds()
		}
		sort.Float64s(ts)
		return ts[len(ts)/2]
	}
	timeIt(inOrder) // warm-up
	for i := range rows {
		rows[i].seconds = timeIt(rows[i].opts)
	}

	// the same input-order batches for PyTorch
	var tensors []safetensors.Tensor
	nb := 0
	for s := 0; s < len(encs); s += *batch {
		b := tok.Pad(encs[s:min(s+*batch, len(encs))])
		sh := []int64{int64(b.Rows), int64(b.Cols)}
		tensors = append(tensors, safetensors.I64(fmt.Sprintf("ids_%d", nb), sh, b.IDs),
			safetensors.I64(fmt.Sprintf("types_%d", nb), sh, b.TypeIDs), safetensors.I64(fmt.Sprintf("mask_%d", nb), sh, b.Mask))
		nb++
	}
	bpath := filepath.Join(dir, "batches.safetensors")
	check(safetensors.WriteFile(bpath, tensors, nil))
	ref := func(mode string) (sec float64, ptThreads int) {
		cmd := exec.Command("/usr/bin/python3", "encoder/bench/ref_encode.py", filepath.Join(dir, "model"), bpath,
			fmt.Sprint(*threads), fmt.Sprint(*reps), mode)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		check(err)
		var r struct {
			Threads int
			Seconds float64
		}
		check(json.Unmarshal(out, &r))
		return r.Seconds, r.Threads
	}
	pt32, ptThreads := ref("fp32")
	var pt16 float64
	if *bf16 {
		pt16, _ = ref("bf16")
	}

	fmt.Printf("encoder: hidden %d, %d layers, %d heads; %d passages (mean %d tokens, max %d), batch %d; threads Go %d, PyTorch %d; OPENBLAS_CORETYPE=%q\n",
		*hidden, *layers, *heads, len(paras), tokens/len(paras), *plen, *batch, torch.NumThreads(), ptThreads, os.Getenv("OPENBLAS_CORETYPE"))
	fmt.Println(peaks)
	if _, note := torch.CPUBF16(true, false); note != "" && *bf16 {
		fmt.Println("bf16 rows are forced (ForceBF16), emulated; without it the library says:", note)
	}
	np := float64(len(paras))
	f32in := flops(inOrder.Batching())
	fmt.Printf("%-42s %8.2f passages/s  1.00x PyTorch fp32                   %s\n", "PyTorch eager fp32, input order", np/pt32,
		roofline.Fraction(f32in, pt32, peaks.FP32))
	if *bf16 {
		fmt.Printf("%-42s %8.2f passages/s  %.2fx PyTorch fp32                   %s\n", "PyTorch eager bf16 autocast, input order",
			np/pt16, pt32/pt16, roofline.Fraction(f32in, pt16, peaks.BF16))
	}
	for _, r := range rows {
		peak, vs, vsName := peaks.FP32, rows[0].seconds, "Go fp32 in order"
		extra := ""
		if r.opts.BF16 {
			peak = peaks.BF16
			extra = fmt.Sprintf(", %.2fx PyTorch bf16", pt16/r.seconds)
		}
		fmt.Printf("%-42s %8.2f passages/s  %.2fx PyTorch fp32, %.2fx %s%s  %s\n", r.name, np/r.seconds, pt32/r.seconds,
			vs/r.seconds, vsName, extra, roofline.Fraction(flops(r.opts.Batching()), r.seconds, peak))
	}
	fmt.Println("(tokenization included on the Go side; GFLOP/s count the encoder matmuls and attention of the padded batches)")
}

func passages(data string, n int) []string {
	if data != "" {
		r, err := dataset.OpenCollection(filepath.Join(data, "passage-collection"))
		check(err)
		var out []string
		for r.Next() && len(out) < n {
			out = append(out, r.Passage().Text)
		}
		r.Close()
		return out
	}
	// synthetic: lengths drawn from a long-tailed mix (many short, some long), as web passages are
	rng := rand.New(rand.NewPCG(1, 2))
	chars := []rune("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严")
	out := make([]string, n)
	for i := range out {
		l := 20 + int(rng.ExpFloat64()*120)
		var b strings.Builder
		for j := 0; j < l; j++ {
			b.WriteRune(chars[rng.IntN(len(chars))])
		}
		out[i] = b.String()
	}
	return out
}

func writeVocab(path string, paras []string) error {
	seen := map[rune]bool{}
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	for _, p := range paras {
		for _, r := range strings.ToLower(p) {
			if !seen[r] && r > ' ' {
				seen[r] = true
				toks = append(toks, string(r))
			}
		}
	}
	return os.WriteFile(path, []byte(strings.Join(toks, "\n")+"\n"), 0o644)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
