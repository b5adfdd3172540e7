// Command bench compares the Go binding with PyTorch eager on the same libtorch, in the same run and with the same
// thread count: per-op overhead of a chain of small ops, matmul GFLOP/s, and one forward+backward of a transformer
// layer. Run it as scripts/bench-torch.sh (which sets OPENBLAS_CORETYPE) or `go run ./torch/bench`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/torch"
)

func medianTime(reps, iters int, fn func()) float64 {
	fn()
	ts := make([]float64, reps)
	for r := range ts {
		t0 := time.Now()
		for i := 0; i < iters; i++ {
			fn()
		}
		ts[r] = time.Since(t0).Seconds() / float64(iters)
	}
	sort.Float64s(ts)
	return ts[len(ts)/2]
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func activeBLAS() string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "?"
	}
	seen := map[string]bool{}
	var libs []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		p := f[len(f)-1]
		base := filepath.Base(p)
		if (strings.Contains(base, "blas") || strings.Contains(base, "lapack")) && !seen[p] {
			seen[p] = true
			real, _ := filepath.EvalSymlinks(p)
			libs = append(libs, real)
		}
	}
	return strings.Join(libs, ", ")
}

func main() {
	threads := flag.Int("threads", runtime.NumCPU(), "intra-op threads on both sides")
	reps := flag.Int("reps", 5, "repeats (the median is reported)")
	py := flag.String("python", "/usr/bin/python3", "python with torch (Debian python3-torch)")
	flag.Parse()
	// libtorch's OpenMP thread team and thread count are per OS thread: keep the benchmark on one, as train.Run does
	runtime.LockOSThread()
	torch.SetNumThreads(*threads)
	torch.ManualSeed(0)

	// 1. chain of small ops
	x := torch.Randn([]int64{16}, torch.Float32, torch.CPU)
	chain := medianTime(*reps, 200, func() {
		s := torch.NewScope()
		xs := s.Use(x)
		y := xs
		for i := 0; i < 25; i++ {
			y = y.AddScalar(1).MulScalar(0.5).Tanh().Sub(xs)
		}
		must(y.Err())
		s.Close()
	}) / 100

	// 2. matmul 512x768 · 768x768
	a := torch.Randn([]int64{512, 768}, torch.Float32, torch.CPU)
	b := torch.Randn([]int64{768, 768}, torch.Float32, torch.CPU)
	mm := medianTime(*reps, 20, func() {
		c := a.MatMul(b)
		must(c.Err())
		c.Close()
	})

	// 3. transformer layer forward + backward
	const B, L, H, I, heads = 16, 64, 256, 1024, 4
	shapes := [][]int64{{H, H}, {H}, {H, H}, {H}, {H, H}, {H}, {H, H}, {H}, {H}, {H}, {I, H}, {I}, {H, I}, {H}, {H}, {H}}
	var ws []*torch.Tensor
	for _, sh := range shapes {
		w := torch.Randn(sh, torch.Float32, torch.CPU)
		w2 := w.MulScalar(0.05).SetRequiresGrad(true)
		w.Close()
		ws = append(ws, w2)
	}
	xin := torch.Randn([]int64{B, L, H}, torch.Float32, torch.CPU)
	maskv := make([]float32, B*L)
	for i := range maskv {
		if i%L < L-8 {
			maskv[i] = 1
		}
	}
	mask := torch.FromFloat32(maskv, B, L)
	layer := medianTime(*reps, 5, func() {
		s := torch.NewScope()
		x := s.Use(xin)
		w := make([]*torch.Tensor, len(ws))
		for i := range ws {
			w[i] = s.Use(ws[i])
		}
		d := int64(H / heads)
		split := func(t *torch.Tensor) *torch.Tensor { return t.Reshape(B, L, heads, d).Permute(0, 2, 1, 3) }
		q, k, v := split(torch.Linear(x, w[0], w[1])), split(torch.Linear(x, w[2], w[3])), split(torch.Linear(x, w[4], w[5]))
		sc := q.MatMul(k.Transpose(-1, -2)).DivScalar(math.Sqrt(float64(d)))
		sc = sc.Add(s.Use(mask).RSubScalar(1).MulScalar(-10000).Reshape(B, 1, 1, L))
		att := sc.Softmax(-1).MatMul(v).Permute(0, 2, 1, 3).Reshape(B, L, H)
		h := torch.LayerNorm(x.Add(torch.Linear(att, w[6], w[7])), []int64{H}, w[8], w[9], 1e-12)
		f := torch.Linear(torch.Linear(h, w[10], w[11]).Gelu(), w[12], w[13])
		out := torch.LayerNorm(h.Add(f), []int64{H}, w[14], w[15], 1e-12)
		must(out.Square().Mean().Backward())
		for _, p := range ws {
			must(p.ZeroGrad())
		}
		s.Close()
	})

	// PyTorch eager, same workloads
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "bench.py")
	if _, err := os.Stat(script); err != nil {
		script = "torch/bench/bench.py"
	}
	out, err := exec.Command(*py, script, fmt.Sprint(*threads), fmt.Sprint(*reps)).Output()
	must(err)
	var ref struct {
		Threads              int
		Chain, Matmul, Layer float64
	}
	must(json.Unmarshal(out, &ref))

	fmt.Printf("libtorch %s | BLAS: %s | active: %s | OPENBLAS_CORETYPE=%q\n", "1.13 (linked)", torch.BLASInfo(), activeBLAS(), os.Getenv("OPENBLAS_CORETYPE"))
	fmt.Printf("threads: Go %d, PyTorch %d; median of %d repeats\n\n", torch.NumThreads(), ref.Threads, *reps)
	fmt.Printf("%-36s %14s %14s %12s\n", "workload", "Go", "PyTorch", "Go/PyTorch")
	fmt.Printf("%-36s %11.2f µs %11.2f µs %11.2fx  (speed ratio)\n", "small-op chain, per op", chain*1e6, ref.Chain*1e6, ref.Chain/chain)
	gf := func(t float64) float64 { return 2 * 512 * 768 * 768 / t / 1e9 }
	fmt.Printf("%-36s %9.1f GF/s %9.1f GF/s %11.2fx\n", "matmul 512x768x768", gf(mm), gf(ref.Matmul), ref.Matmul/mm)
	fmt.Printf("%-36s %11.2f ms %11.2f ms %11.2fx\n", "transformer layer fwd+bwd (16x64x256)", layer*1e3, ref.Layer*1e3, ref.Layer/layer)
}
