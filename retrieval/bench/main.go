// Command bench compares exact inner-product search through package retrieval (Go + cgo shim + FAISS) with
// Python faiss on the same synthetic corpus, the same queries and the same thread count, and prints the QPS
// ratio Go/Python per query batch size and OPENBLAS_CORETYPE setting, with peak RSS. It is a separate main,
// never run by go test.
//
//	go run ./retrieval/bench                       # 1M x 768, batches 1,16,256, 2 threads, 5 reps
//	go run ./retrieval/bench -n 200000 -coretypes Haswell -batches 1,16,256,1024 -nq 1024
//
// The corpus (n x d standard normal float32, fixed seed) is generated once into -dir and streamed by both
// sides into an IndexFlatIP. For each OPENBLAS_CORETYPE setting (OpenBLAS reads it only when it loads) a
// fresh Go child (this binary re-executed) and a fresh Python child (/usr/bin/python3 faiss_bench.py) load
// the corpus, then take turns over a line protocol: every repetition of every batch size runs on one side and
// then the other (alternating who goes first), so that both see the same background load. The table shows the
// median QPS of -reps repetitions per side. Both children get OMP_NUM_THREADS and OPENBLAS_NUM_THREADS =
// -threads, also set the OpenMP thread count through their API, and report the BLAS library they loaded.
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/rocketqa-go/rocketqa/retrieval"
)

//go:embed faiss_bench.py
var pythonBench []byte

type config struct {
	n, d, nq, k, threads, reps int
	batches                    []int
	dir, python, child         string
	data, queries, idsOut      string
	coretypes                  []string
	keep                       bool
}

func main() {
	var c config
	var batches, coretypes string
	flag.IntVar(&c.n, "n", 1000000, "corpus vectors")
	flag.IntVar(&c.d, "d", 768, "dimension")
	flag.IntVar(&c.nq, "nq", 256, "query pool (at least the largest batch)")
	flag.IntVar(&c.k, "k", 100, "top k")
	flag.IntVar(&c.threads, "threads", 2, "OpenMP threads on both sides")
	flag.IntVar(&c.reps, "reps", 5, "repetitions per batch size and side (median reported)")
	flag.StringVar(&batches, "batches", "1,16,256", "query batch sizes")
	flag.StringVar(&coretypes, "coretypes", "default,Haswell", "OPENBLAS_CORETYPE values to run ('default' = unset)")
	flag.StringVar(&c.dir, "dir", os.TempDir(), "where the synthetic corpus is written")
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "Python with faiss")
	flag.BoolVar(&c.keep, "keep", false, "keep the corpus files")
	flag.StringVar(&c.child, "child", "", "internal: run one side (go)")
	flag.StringVar(&c.data, "data", "", "internal: corpus file")
	flag.StringVar(&c.queries, "queries", "", "internal: query file")
	flag.StringVar(&c.idsOut, "ids-out", "", "internal: where the first batch's ids go")
	flag.Parse()
	for _, s := range strings.Split(batches, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || b <= 0 {
			fail(fmt.Errorf("bad batch size %q", s))
		}
		c.batches = append(c.batches, b)
	}
	c.coretypes = strings.Split(coretypes, ",")
	if slices.Max(c.batches) > c.nq {
		fail(fmt.Errorf("largest batch %d exceeds the query pool -nq %d", slices.Max(c.batches), c.nq))
	}
	if c.child == "go" {
		if err := runGoChild(&c); err != nil {
			fail(err)
		}
		return
	}
	if err := runParent(&c); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// queriesFor is how many queries one repetition searches at batch size b: enough for a stable time, few
// enough that FAISS's per-query path (b < 20 queries, one pass over the corpus per query) stays short.
func queriesFor(b, nq int) int {
	if b < 20 {
		return min(nq, max(b, min(16, 4*b)))
	}
	return min(nq, max(b, 256))
}

// writeRandom writes rows x d standard normal float32 values, little-endian, streaming.
func writeRandom(path string, rows, d int, seed uint64) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	buf := make([]byte, 4*d*4096)
	for s := 0; s < rows; s += 4096 {
		m := min(4096, rows-s) * d
		for i := 0; i < m; i++ {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(rng.NormFloat64())))
		}
		if _, err := f.Write(buf[:4*m]); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func runParent(c *config) error {
	c.data = filepath.Join(c.dir, fmt.Sprintf("rq-bench-%dx%d.f32", c.n, c.d))
	c.queries = filepath.Join(c.dir, fmt.Sprintf("rq-bench-q%dx%d.f32", c.nq, c.d))
	if st, err := os.Stat(c.data); err != nil || st.Size() != int64(c.n)*int64(c.d)*4 {
		fmt.Printf("writing corpus %s (%d x %d float32, %.1f GB)\n", c.data, c.n, c.d, float64(c.n)*float64(c.d)*4/1e9)
		t := time.Now()
		if err := writeRandom(c.data, c.n, c.d, 1); err != nil {
			return err
		}
		fmt.Printf("  %.1fs\n", time.Since(t).Seconds())
	}
	if err := writeRandom(c.queries, c.nq, c.d, 2); err != nil {
		return err
	}
	if !c.keep {
		defer os.Remove(c.data)
		defer os.Remove(c.queries)
	}
	pyScript := filepath.Join(c.dir, "rq-faiss-bench.py")
	if err := os.WriteFile(pyScript, pythonBench, 0o644); err != nil {
		return err
	}
	defer os.Remove(pyScript)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	fmt.Printf("flat IP search, %d x %d corpus, k=%d, %d threads, %d reps per side (median), CPU %s, %d cores visible\n",
		c.n, c.d, c.k, c.threads, c.reps, cpu, numCPU())
	fmt.Println("both sides hold their index at once and take turns, rep by rep, so that they share the machine's load")

	type row struct {
		coretype string
		goF, pyF *childReport
		goQ, pyQ map[int][]float64
		goL, pyL float64
		sameIDs  bool
	}
	var rows []row
	for _, ct := range c.coretypes {
		env := childEnv(ct, c.threads)
		goIDs := filepath.Join(c.dir, "rq-bench-go.ids")
		pyIDs := filepath.Join(c.dir, "rq-bench-py.ids")
		common := func(prefix string) []string {
			return []string{prefix + "data=" + c.data, prefix + "queries=" + c.queries,
				prefix + "n=" + strconv.Itoa(c.n), prefix + "d=" + strconv.Itoa(c.d), prefix + "nq=" + strconv.Itoa(c.nq),
				prefix + "k=" + strconv.Itoa(c.k), prefix + "threads=" + strconv.Itoa(c.threads)}
		}
		fmt.Printf("OPENBLAS_CORETYPE=%s: loading the Go side ...\n", ct)
		goC, err := startChild(self, append([]string{"-child=go", "-ids-out=" + goIDs}, common("-")...), env)
		if err != nil {
			return fmt.Errorf("go child: %w", err)
		}
		fmt.Printf("OPENBLAS_CORETYPE=%s: loading the Python side ...\n", ct)
		pyC, err := startChild(c.python, append([]string{pyScript, "--ids-out=" + pyIDs}, common("--")...), env)
		if err != nil {
			goC.kill()
			return fmt.Errorf("python child: %w", err)
		}
		r := row{coretype: ct, goQ: map[int][]float64{}, pyQ: map[int][]float64{}, goL: goC.loadS, pyL: pyC.loadS}
		for _, b := range c.batches {
			nq := queriesFor(b, c.nq)
			for rep := 0; rep < c.reps; rep++ {
				// Alternate which side goes first, so that neither always follows the other.
				sides := []*child{goC, pyC}
				if rep%2 == 1 {
					sides = []*child{pyC, goC}
				}
				for _, ch := range sides {
					q, err := ch.search(b, nq)
					if err != nil {
						goC.kill()
						pyC.kill()
						return err
					}
					if ch == goC {
						r.goQ[b] = append(r.goQ[b], q)
					} else {
						r.pyQ[b] = append(r.pyQ[b], q)
					}
				}
			}
			fmt.Printf("  batch %4d: Go %s | Python %s QPS\n", b, fmtList(r.goQ[b]), fmtList(r.pyQ[b]))
		}
		if r.goF, err = goC.quit(); err != nil {
			pyC.kill()
			return fmt.Errorf("go child: %w", err)
		}
		if r.pyF, err = pyC.quit(); err != nil {
			return fmt.Errorf("python child: %w", err)
		}
		fmt.Printf("  Go BLAS:     %s\n  Python BLAS: %s\n", r.goF.BLAS, r.pyF.BLAS)
		a, errA := os.ReadFile(goIDs)
		b, errB := os.ReadFile(pyIDs)
		r.sameIDs = errA == nil && errB == nil && len(a) > 0 && bytes.Equal(a, b)
		os.Remove(goIDs)
		os.Remove(pyIDs)
		rows = append(rows, r)
	}

	fmt.Println()
	fmt.Printf("%-10s %6s %8s %12s %12s %10s %14s\n", "CORETYPE", "batch", "queries", "Go QPS", "Python QPS", "Go/Python", "paired ratio")
	for _, r := range rows {
		for _, b := range c.batches {
			g, p := median(r.goQ[b]), median(r.pyQ[b])
			// paired: the median over repetitions of Go/Python within the same repetition, which cancels
			// load changes slower than one repetition.
			paired := make([]float64, len(r.goQ[b]))
			for i := range paired {
				paired[i] = r.goQ[b][i] / r.pyQ[b][i]
			}
			fmt.Printf("%-10s %6d %8d %12.2f %12.2f %10.3f %14.3f\n", r.coretype, b, queriesFor(b, c.nq), g, p, g/p, median(paired))
		}
	}
	fmt.Println()
	for _, r := range rows {
		fmt.Printf("%-10s peak RSS Go %.0f MB (flat storage reserved: %v), Python %.0f MB; load Go %.1fs, Python %.1fs; threads Go %d, Python %d; first batch top-%d ids identical: %v\n",
			r.coretype, r.goF.PeakRSS, r.goF.Reserved, r.pyF.PeakRSS, r.goL, r.pyL, r.goF.Threads, r.pyF.Threads, c.k, r.sameIDs)
	}
	fmt.Printf("index data alone: %.0f MB\n", float64(c.n)*float64(c.d)*4/(1<<20))
	return nil
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

func childEnv(coretype string, threads int) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "OPENBLAS_CORETYPE=") || strings.HasPrefix(e, "OMP_NUM_THREADS=") ||
			strings.HasPrefix(e, "OPENBLAS_NUM_THREADS=") {
			continue
		}
		env = append(env, e)
	}
	if coretype != "default" && coretype != "" {
		env = append(env, "OPENBLAS_CORETYPE="+coretype)
	}
	return append(env, fmt.Sprintf("OMP_NUM_THREADS=%d", threads), fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", threads))
}

// childReport is the last line a child prints, after "quit".
type childReport struct {
	Side     string  `json:"side"`
	Faiss    string  `json:"faiss,omitempty"`
	Threads  int     `json:"threads"`
	BLAS     string  `json:"blas"`
	LoadS    float64 `json:"load_s"`
	PeakRSS  float64 `json:"peak_rss_mb"`
	Reserved bool    `json:"reserved,omitempty"`
}

// child is a running Go or Python side, driven line by line over its stdin and stdout.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	loadS float64
}

func startChild(prog string, args, env []string) (*child, error) {
	cmd := exec.Command(prog, args...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, in: in, out: bufio.NewReader(out)}
	var ready struct {
		Ready bool    `json:"ready"`
		LoadS float64 `json:"load_s"`
	}
	if err := ch.read(&ready); err != nil || !ready.Ready {
		ch.kill()
		return nil, fmt.Errorf("no ready line: %v", err)
	}
	ch.loadS = ready.LoadS
	return ch, nil
}

func (ch *child) read(v any) error {
	line, err := ch.out.ReadString('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(line), v)
}

func (ch *child) search(batch, nq int) (float64, error) {
	if _, err := fmt.Fprintf(ch.in, "search %d %d\n", batch, nq); err != nil {
		return 0, err
	}
	var r struct {
		QPS float64 `json:"qps"`
	}
	if err := ch.read(&r); err != nil {
		return 0, fmt.Errorf("%s: %w", ch.cmd.Path, err)
	}
	return r.QPS, nil
}

func (ch *child) quit() (*childReport, error) {
	fmt.Fprintln(ch.in, "quit")
	var r childReport
	err := ch.read(&r)
	ch.in.Close()
	if werr := ch.cmd.Wait(); err == nil {
		err = werr
	}
	return &r, err
}

func (ch *child) kill() {
	ch.cmd.Process.Kill()
	ch.cmd.Wait()
}

// runGoChild is the Go side: it loads the corpus into a flat index, then serves the same line protocol as
// faiss_bench.py.
func runGoChild(c *config) error {
	retrieval.SetNumThreads(c.threads)
	t0 := time.Now()
	ix, err := retrieval.NewIndex(c.d, "Flat", retrieval.InnerProduct)
	if err != nil {
		return err
	}
	defer ix.Close()
	reserved, err := ix.Reserve(int64(c.n))
	if err != nil {
		return err
	}
	f, err := os.Open(c.data)
	if err != nil {
		return err
	}
	const step = 16384
	buf := make([]float32, step*c.d)
	for s := 0; s < c.n; s += step {
		m := min(step, c.n-s) * c.d
		if _, err := io.ReadFull(f, floatBytes(buf[:m])); err != nil {
			f.Close()
			return err
		}
		if err := ix.Add(buf[:m]); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	buf = nil
	loadS := time.Since(t0).Seconds()
	q := make([]float32, c.nq*c.d)
	qb, err := os.ReadFile(c.queries)
	if err != nil {
		return err
	}
	copy(floatBytes(q), qb)
	reply := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Printf("%s\n", b)
		return err
	}
	if err := reply(map[string]any{"ready": true, "load_s": loadS}); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	first := true
	for in.Scan() {
		var batch, nq int
		if in.Text() == "quit" {
			break
		}
		if _, err := fmt.Sscanf(in.Text(), "search %d %d", &batch, &nq); err != nil {
			return fmt.Errorf("bad command %q", in.Text())
		}
		t := time.Now()
		for s := 0; s < nq; s += batch {
			e := min(nq, s+batch)
			_, ids, err := ix.Search(q[s*c.d:e*c.d], c.k)
			if err != nil {
				return err
			}
			if first {
				out := make([]byte, 8*len(ids))
				for i, id := range ids {
					binary.LittleEndian.PutUint64(out[8*i:], uint64(id))
				}
				if err := os.WriteFile(c.idsOut, out, 0o644); err != nil {
					return err
				}
				first = false
			}
		}
		if err := reply(map[string]float64{"qps": float64(nq) / time.Since(t).Seconds()}); err != nil {
			return err
		}
	}
	return reply(childReport{Side: "go", Threads: retrieval.NumThreads(), BLAS: retrieval.BLASInfo(), LoadS: loadS,
		PeakRSS: vmHWM(), Reserved: reserved})
}

// floatBytes views float32s as their bytes (the host is little-endian, as the files are).
func floatBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}
