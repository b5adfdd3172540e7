// Command bench measures the Go tokenizer against HuggingFace tokenizers (npm tokenizers@0.23.2, the Rust
// library, through node) on the same 10,000+ real Chinese passages (tokenizer/testdata/corpus_zh.jsonl.gz)
// in the same run, and prints sequences/s (median of -reps runs) and the ratio.
//
// Two measurements, both single-threaded on both sides (GOMAXPROCS=1; TOKENIZERS_PARALLELISM=false and
// RAYON_NUM_THREADS=1 for HF):
//
//	pairs:  [CLS] title [SEP] para [SEP], maxLen 384: Go EncodePassage vs HF encode(title, para) awaited one at
//	        a time in a loop (this npm binding's encodeBatch accepts no pairs);
//	single: [CLS] para [SEP], maxLen 384: Go EncodeQuery(para, 384) vs one HF encodeBatch(paras) call.
//
// Both sides' id sums are printed and must be equal (the same work was done).
//
// Usage (from the module root, after tokenizer/testdata/gen.sh installed the npm package):
//
//	go run ./tokenizer/bench -node-path /tmp/rocketqa-tok-npm
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/tokenizer"
)

type item struct {
	T string `json:"t"`
	P string `json:"p"`
}

type hfResult struct {
	Pairs     []float64 `json:"pairs"`
	Single    []float64 `json:"single"`
	PairsSum  int64     `json:"pairsSum"`
	SingleSum int64     `json:"singleSum"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func loadCorpus(path string) ([]item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var out []item
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		var it item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, it)
	}
	return out, sc.Err()
}

func run() error {
	testdata := flag.String("testdata", "tokenizer/testdata", "directory with corpus_zh.jsonl.gz and vocab_zh.txt")
	nodePath := flag.String("node-path", envOr("TOKENIZERS_NODE_PATH", "/tmp/rocketqa-tok-npm"), "directory whose node_modules holds tokenizers@0.23.2")
	reps := flag.Int("reps", 5, "repetitions (the median is reported)")
	maxLen := flag.Int("maxlen", 384, "maxLen of each sequence")
	flag.Parse()

	runtime.GOMAXPROCS(1)
	corpusPath := filepath.Join(*testdata, "corpus_zh.jsonl.gz")
	vocabPath := filepath.Join(*testdata, "vocab_zh.txt")
	items, err := loadCorpus(corpusPath)
	if err != nil {
		return err
	}
	tk, err := tokenizer.New(vocabPath, tokenizer.DefaultOptions())
	if err != nil {
		return err
	}
	chars := 0
	for _, it := range items {
		chars += len([]rune(it.T)) + len([]rune(it.P))
	}
	fmt.Printf("corpus: %d Chinese passages (title + para), %.0f characters on average; maxLen %d\n",
		len(items), float64(chars)/float64(len(items)), *maxLen)
	fmt.Printf("go %s GOMAXPROCS=%d, %s\n", runtime.Version(), runtime.GOMAXPROCS(0), cpuModel())

	// Go side
	var goPairs, goSingle []float64
	var goPairsSum, goSingleSum int64
	for r := 0; r < *reps; r++ {
		encs := make([]tokenizer.Encoding, len(items))
		t0 := time.Now()
		for i, it := range items {
			encs[i] = tk.EncodePassage(it.T, it.P, *maxLen)
		}
		goPairs = append(goPairs, time.Since(t0).Seconds())
		if r == 0 {
			goPairsSum = sumIDs(encs)
		}
		t0 = time.Now()
		for i, it := range items {
			encs[i] = tk.EncodeQuery(it.P, *maxLen)
		}
		goSingle = append(goSingle, time.Since(t0).Seconds())
		if r == 0 {
			goSingleSum = sumIDs(encs)
		}
	}

	// HF side, same corpus, same run
	script := filepath.Join(filepath.Dir(*testdata), "bench", "hf_bench.mjs")
	cmd := exec.Command("node", script, corpusPath, vocabPath, fmt.Sprint(*maxLen), fmt.Sprint(*reps))
	cmd.Env = append(os.Environ(), "NODE_PATH="+*nodePath, "TOKENIZERS_PARALLELISM=false", "RAYON_NUM_THREADS=1", "UV_THREADPOOL_SIZE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("node %s: %v: %s", script, err, stderr.String())
	}
	var hf hfResult
	if err := json.Unmarshal(stdout.Bytes(), &hf); err != nil {
		return fmt.Errorf("node output %q: %w", stdout.String(), err)
	}

	n := float64(len(items))
	report := func(name, hfHow string, goT, hfT []float64, goSum, hfSum int64) {
		g, h := n/median(goT), n/median(hfT)
		same := "same ids"
		if goSum != hfSum {
			same = fmt.Sprintf("ID SUMS DIFFER: go %d, hf %d", goSum, hfSum)
		}
		fmt.Printf("%-7s go %9.0f seq/s   hf %9.0f seq/s (%s)   ratio %.1fx   [%s]\n", name, g, h, hfHow, g/h, same)
		fmt.Printf("        go runs %s\n        hf runs %s\n", fmtRuns(goT), fmtRuns(hfT))
	}
	fmt.Printf("median of %d runs each:\n", *reps)
	report("pairs", "encode in a loop", goPairs, hf.Pairs, goPairsSum, hf.PairsSum)
	report("single", "encodeBatch", goSingle, hf.Single, goSingleSum, hf.SingleSum)
	return nil
}

func sumIDs(encs []tokenizer.Encoding) int64 {
	var s int64
	for _, e := range encs {
		for _, id := range e.IDs {
			s += int64(id)
		}
	}
	return s
}

func fmtRuns(ts []float64) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%.3fs", t)
	}
	return strings.Join(parts, " ")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "cpu unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.IndexByte(l, ':'); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return "cpu unknown"
}
