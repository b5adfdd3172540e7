package denoise

// Benchmarks (not part of the normal test run): go test -run '^$' -bench . ./rocketqa/denoise/
//
// A synthetic MS MARCO-like pair of runs: 2,000 queries x 1,000 dual-encoder candidates drawn from 200,000 pids,
// CE scores for the top 50. LoadCandidates is measured against a reference taken in the same run: a bare scan of
// the same two files that splits each line on tabs and nothing more (the I/O and tokenising floor). Mine and
// Augment are measured on the loaded candidates.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
)

const (
	benchQueries = 2000
	benchDepth   = 1000
	benchPool    = 200000
)

// benchRuns writes the synthetic runs and returns their paths, the qids and a passage store of every pid.
func benchRuns(b *testing.B) (de, ce string, qids []string, ps *dataset.Passages) {
	b.Helper()
	dir := b.TempDir()
	de, ce = filepath.Join(dir, "de.tsv"), filepath.Join(dir, "ce.tsv")
	rng := rand.New(rand.NewPCG(1, 2))
	fd, err := os.Create(de)
	if err != nil {
		b.Fatal(err)
	}
	fc, err := os.Create(ce)
	if err != nil {
		b.Fatal(err)
	}
	wd, wc := bufio.NewWriter(fd), bufio.NewWriter(fc)
	seen := map[int]bool{}
	for q := range benchQueries {
		qid := fmt.Sprintf("%d", 1000000+q)
		qids = append(qids, qid)
		clear(seen)
		for r := 1; r <= benchDepth; r++ {
			p := rng.IntN(benchPool)
			for seen[p] {
				p = rng.IntN(benchPool)
			}
			seen[p] = true
			fmt.Fprintf(wd, "%s\t%d\t%d\t%.4f\n", qid, p, r, 100-float64(r)*0.01)
			if r <= 50 {
				fmt.Fprintf(wc, "%s\t%d\t%d\t%.5f\n", qid, p, r, rng.Float64()*rng.Float64())
			}
		}
	}
	for _, w := range []*bufio.Writer{wd, wc} {
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	fd.Close()
	fc.Close()
	ps = dataset.NewPassages()
	for p := range benchPool {
		ps.Add(fmt.Sprintf("%d", p), "", fmt.Sprintf("passage %d", p))
	}
	return de, ce, qids, ps
}

// scanFloor reads both files and splits every line on tabs, keeping nothing.
func scanFloor(paths ...string) (fields int) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			panic(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields += bytes.Count(sc.Bytes(), []byte{'\t'}) + 1
		}
		f.Close()
	}
	return fields
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkLoadCandidates(b *testing.B) {
	de, ce, _, _ := benchRuns(b)
	const reps = 5
	var tLoad, tFloor []time.Duration
	var retained uint64
	b.ResetTimer()
	for range b.N {
		for range reps {
			t0 := time.Now()
			scanFloor(de, ce)
			tFloor = append(tFloor, time.Since(t0))

			before := heapInUse()
			t0 = time.Now()
			cands, _, err := LoadCandidates(context.Background(), de, ce)
			tLoad = append(tLoad, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			retained = heapInUse() - before
			runtime.KeepAlive(cands)
		}
	}
	b.StopTimer()
	n := float64(benchQueries * benchDepth)
	load, floor := median(tLoad), median(tFloor)
	b.ReportMetric(float64(load.Nanoseconds())/n, "ns/candidate")
	b.ReportMetric(float64(floor.Nanoseconds())/n, "floor-ns/candidate")
	b.ReportMetric(float64(load)/float64(floor), "x-floor")
	b.ReportMetric(float64(retained)/n, "B/candidate")
	b.Logf("LoadCandidates %d candidates: median %v; bare tab-split scan of the same files: median %v (ratio %.2f); retained heap %.1f MB (%.1f B/candidate); GOMAXPROCS=%d",
		int(n), load, floor, float64(load)/float64(floor), float64(retained)/1e6, float64(retained)/n, runtime.GOMAXPROCS(0))
}

func BenchmarkMineAndAugment(b *testing.B) {
	de, ce, qids, ps := benchRuns(b)
	cands, _, err := LoadCandidates(context.Background(), de, ce)
	if err != nil {
		b.Fatal(err)
	}
	queries, positives := map[string]string{}, map[string][]string{}
	for i, q := range qids {
		queries[q] = "query " + q
		positives[q] = []string{fmt.Sprintf("%d", i%benchPool)}
	}
	in := MineInput{QIDs: qids, Queries: queries, Positives: positives, Candidates: cands, Passages: ps}
	out := filepath.Join(b.TempDir(), "out.tsv")
	const reps = 5
	var tMine, tAug []time.Duration
	var stM, stA Stats
	b.ResetTimer()
	for range b.N {
		for range reps {
			t0 := time.Now()
			if stM, err = Mine(context.Background(), in, MineOptions{}, out); err != nil {
				b.Fatal(err)
			}
			tMine = append(tMine, time.Since(t0))
			t0 = time.Now()
			if stA, err = Augment(context.Background(), in, AugmentOptions{PosThreshold: 0.8}, out); err != nil {
				b.Fatal(err)
			}
			tAug = append(tAug, time.Since(t0))
		}
	}
	b.StopTimer()
	m, a := median(tMine), median(tAug)
	b.ReportMetric(float64(benchQueries)/m.Seconds(), "mine-queries/s")
	b.ReportMetric(float64(benchQueries)/a.Seconds(), "augment-queries/s")
	b.Logf("Mine: median %v for %d queries (%s); Augment: median %v (%s)", m, benchQueries, stM, a, stA)
}
