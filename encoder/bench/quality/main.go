// Command quality checks bfloat16 encoding against float32 on a trained dual encoder and a DuReader-layout corpus:
// the cosine between each passage's bfloat16 and float32 vectors (every passage of the collection), and the dev
// MRR@10 / recall of retrieval with each (the whole collection encoded, indexed and searched both ways). On a CPU
// without avx512_bf16/amx_bf16 bfloat16 is forced (emulated: same numbers, slow).
//
//	go run ./encoder/bench/quality -model out/demo/de/final -data data/demo
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
)

func main() {
	model := flag.String("model", "", "trained dual-encoder directory")
	data := flag.String("data", "data/demo", "DuReader-layout corpus")
	work := flag.String("work", "", "work directory (default: a temporary one)")
	batch := flag.Int("batch", 32, "batch size")
	threads := flag.Int("threads", runtime.NumCPU(), "libtorch threads")
	flag.Parse()
	runtime.LockOSThread()
	torch.SetNumThreads(*threads)
	if *work == "" {
		d, err := os.MkdirTemp("", "bf16quality")
		check(err)
		defer os.RemoveAll(d)
		*work = d
	}
	m, err := rocketqa.Load(*model, rocketqa.LoadOptions{BatchSize: *batch})
	check(err)
	defer m.Close()
	r, err := dataset.OpenCollection(filepath.Join(*data, "passage-collection"))
	check(err)
	var titles, paras []string
	for r.Next() {
		titles, paras = append(titles, r.Passage().Title), append(paras, r.Passage().Text)
	}
	check(r.Err())
	r.Close()

	ctx := context.Background()
	e32 := *m.Embedder()
	e16 := e32
	e16.Options.BF16, e16.Options.ForceBF16 = true, true
	t0 := time.Now()
	v32, err := e32.EncodePassages(ctx, titles, paras)
	check(err)
	t32 := time.Since(t0)
	t0 = time.Now()
	v16, err := e16.EncodePassages(ctx, titles, paras)
	check(err)
	t16 := time.Since(t0)
	cos := make([]float64, len(v32))
	below := 0
	for i := range v32 {
		var ab, aa, bb float64
		for j := range v32[i] {
			a, b := float64(v32[i][j]), float64(v16[i][j])
			ab, aa, bb = ab+a*b, aa+a*a, bb+b*b
		}
		cos[i] = ab / (math.Sqrt(aa) * math.Sqrt(bb))
		if cos[i] < 0.999 {
			below++
		}
	}
	sort.Float64s(cos)
	fmt.Printf("model %s (hidden %d, %d layers), %d passages (p-len %d), CPU bf16 flag %q\n", *model, e32.Model.Para.Cfg.HiddenSize,
		e32.Model.Para.Cfg.NumHiddenLayers, len(paras), e32.PMaxLen, torch.CPUBF16Flag())
	fmt.Printf("cosine(bf16, fp32) over every passage: min %.6f, median %.6f; %d below 0.999\n", cos[0], cos[len(cos)/2], below)
	fmt.Printf("encode time: fp32 %s, bf16 %s (%.2fx)\n", t32.Round(time.Millisecond), t16.Round(time.Millisecond), t32.Seconds()/t16.Seconds())
	for _, c := range []struct {
		name string
		e    *encoder.Embedder
	}{{"fp32", &e32}, {"bf16", &e16}} {
		met, err := rocketqa.RetrieveAndEvaluate(ctx, c.e, *data, filepath.Join(*work, c.name), "", nil)
		check(err)
		fmt.Printf("%s: dev MRR@10 %.2f, recall@1 %.2f, recall@50 %.2f (percent)\n", c.name, 100*met.MRR10, 100*met.Recall1, 100*met.Recall50)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(1)
	}
}
