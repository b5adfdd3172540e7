// Command bench measures passage encoding throughput: the Go encoder against PyTorch eager on the same weights and
// the same padded batches (same libtorch, same threads, same run), and the gain from sorting by length inside a
// window (length bucketing) on a realistic mix of passage lengths (the demo corpus when given, else synthetic).
//
//	scripts/bench-encoder.sh [-data data/demo]
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
	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

func main() {
	data := flag.String("data", "", "DuReader-layout corpus for realistic passages (default: synthetic lengths)")
	n := flag.Int("n", 512, "passages")
	batch := flag.Int("batch", 32, "batch size")
	plen := flag.Int("p-len", 384, "max passage length")
	hidden := flag.Int("hidden", 256, "hidden size")
	layers := flag.Int("layers", 4, "layers")
	threads := flag.Int("threads", runtime.NumCPU(), "threads on both sides")
	reps := flag.Int("reps", 3, "repeats (median)")
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
		NumAttentionHeads: 4, IntermediateSize: 4 * *hidden, HiddenAct: "gelu", MaxPositionEmbeddings: 512, TypeVocabSize: 2,
		LayerNormEps: 1e-12, InitializerRange: 0.02}
	torch.ManualSeed(1)
	m, err := encoder.NewBERT(cfg, false)
	check(err)
	model := encoder.NewDualEncoder(m, m)
	sd, err := m.StateDict("")
	check(err)
	check(encoder.SaveDir(filepath.Join(dir, "model"), cfg, sd, vocab))

	emb := &encoder.Embedder{Model: model, Tok: tok, QMaxLen: 32, PMaxLen: *plen}
	timeIt := func(window int) float64 {
		emb.Options = encoder.EncodeOptions{BatchSize: *batch, SortWindow: window}
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
	timeIt(1) // warm-up
	unsorted := timeIt(1)
	sorted := timeIt(0)

	// the same unsorted batches for PyTorch
	var tensors []safetensors.Tensor
	nb := 0
	for s := 0; s < len(paras); s += *batch {
		var encs []tokenizer.Encoding
		for _, p := range paras[s:min(s+*batch, len(paras))] {
			encs = append(encs, tok.EncodePassage("", p, *plen))
		}
		b := tok.Pad(encs)
		sh := []int64{int64(b.Rows), int64(b.Cols)}
		tensors = append(tensors, safetensors.I64(fmt.Sprintf("ids_%d", nb), sh, b.IDs),
			safetensors.I64(fmt.Sprintf("types_%d", nb), sh, b.TypeIDs), safetensors.I64(fmt.Sprintf("mask_%d", nb), sh, b.Mask))
		nb++
	}
	bpath := filepath.Join(dir, "batches.safetensors")
	check(safetensors.WriteFile(bpath, tensors, nil))
	out, err := exec.Command("/usr/bin/python3", "encoder/bench/ref_encode.py", filepath.Join(dir, "model"), bpath,
		fmt.Sprint(*threads), fmt.Sprint(*reps)).Output()
	check(err)
	var ref struct {
		Threads int
		Seconds float64
	}
	check(json.Unmarshal(out, &ref))

	tokens := 0
	for _, p := range paras {
		tokens += tok.EncodePassage("", p, *plen).Len()
	}
	fmt.Printf("encoder: hidden %d, %d layers; %d passages (mean %d tokens, max %d), batch %d; threads Go %d, PyTorch %d; OPENBLAS_CORETYPE=%q\n",
		*hidden, *layers, len(paras), tokens/len(paras), *plen, *batch, torch.NumThreads(), ref.Threads, os.Getenv("OPENBLAS_CORETYPE"))
	fmt.Printf("PyTorch eager, input order        %8.1f passages/s\n", float64(len(paras))/ref.Seconds)
	fmt.Printf("Go, input order                   %8.1f passages/s   %.2fx PyTorch (tokenization included)\n", float64(len(paras))/unsorted, ref.Seconds/unsorted)
	fmt.Printf("Go, sorted by length (window %d) %8.1f passages/s   %.2fx PyTorch, %.2fx from bucketing\n", 50**batch,
		float64(len(paras))/sorted, ref.Seconds/sorted, unsorted/sorted)
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
