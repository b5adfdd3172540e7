package main

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPipeline runs every stage on the tiny dataset, each output checked against an independent computation:
// train-de -> encode -> index -> search -> eval; train-ce -> score -> mine / augment -> merge; and train-de under
// launch with 2 processes, whose cross-batch losses must equal the single-process run's.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	ctx := context.Background()
	de := filepath.Join(dir, "de")
	common := []string{"--config", f.config, "--vocab", f.vocab, "--q-len", "16", "--p-len", "48", "--save-every", "0", "--threads", "1"}
	lr := []string{"--lr", "1e-3"} // large enough for the second step to depend on the first one's gradients

	// train-de, started without OPENBLAS_CORETYPE: the binary restarts itself with it on an AVX2/AVX-512 CPU
	var env []string
	for _, e := range testEnv() {
		if !strings.HasPrefix(e, coretypeEnv+"=") {
			env = append(env, e)
		}
	}
	args := append([]string{"train-de", "--train", f.dualTrain, "--out", de, "--max-steps", "3", "--batch", "4",
		"--dev", f.data, "--eval-batch", "8"}, append(lr, common...)...)
	r := rq(t, env, args...)
	require.Equal(t, 0, r.code, "%s", r)
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil && coretypeFor(string(b)) != "" {
		assert.Contains(t, r.stderr, coretypeEnv+"="+coretypeFor(string(b))+",", "restarted with the BLAS core type set")
	}
	assert.Contains(t, r.stderr, "1 process(es) x batch 4, 7 negatives per query")
	assert.Contains(t, r.stdout, "final\t"+filepath.Join(de, "final")+"\n")
	assert.Contains(t, r.stdout, "best\t"+filepath.Join(de, "best")+"\n")
	single := stepStats(t, filepath.Join(de, "metrics.jsonl"))
	require.Len(t, single, 3)
	for s, st := range single {
		assert.True(t, st[0] > 0 && !math.IsInf(st[0], 0), "step %d loss %v", s, st[0])
	}
	assert.Greater(t, math.Abs(single[1][0]-math.Log(8)), 0.1, "scores are not degenerate: loss %v is not ln 8", single[1][0])
	model := filepath.Join(de, "final")

	// encode: two shards (one per part) equal to the library's encoding of the same passages
	emb := filepath.Join(dir, "emb")
	r = ok(t, "encode", "--model", model, "--collection", f.coll, "--out", emb, "--batch", "5")
	shards := []string{filepath.Join(emb, "part-00.emb"), filepath.Join(emb, "part-01.emb")}
	assert.Equal(t, strings.Join(shards, "\n")+"\n", r.stdout)
	assert.Contains(t, r.stderr, "12/12 passages (100.0%)")
	m, err := rocketqa.Load(model, rocketqa.LoadOptions{})
	require.NoError(t, err)
	defer m.Close()
	want, err := m.EncodePara(ctx, fixturePassages, nil)
	require.NoError(t, err)
	pvec := map[string][]float32{}
	for si, sh := range shards {
		ids, vecs, err := retrieval.ReadEmbeddings(sh)
		require.NoError(t, err)
		lo, hi := 0, fixturePart0
		if si == 1 {
			lo, hi = fixturePart0, len(fixturePassages)
		}
		require.Equal(t, fixturePIDs()[lo:hi], ids)
		require.Len(t, vecs, (hi-lo)*32)
		for i := lo; i < hi; i++ {
			got := vecs[(i-lo)*32 : (i-lo+1)*32]
			assert.InDeltaSlice(t, want[i], got, 1e-4, "passage %d", i)
			pvec[fixturePID(i)] = got
		}
	}

	// index: one flat index per shard
	idx := filepath.Join(dir, "index")
	r = ok(t, "index", "--emb", emb, "--out", idx, "--factory", "Flat")
	assert.Equal(t, filepath.Join(idx, "part-00.index")+"\n"+filepath.Join(idx, "part-01.index")+"\n", r.stdout)
	r = ok(t, "index", "--emb", emb, "--out", idx)
	assert.Contains(t, r.stderr, "exists, kept")

	// search: the exact top 10 by inner product, merged over both indexes
	run, runJSON := filepath.Join(dir, "run.tsv"), filepath.Join(dir, "run.json")
	ok(t, "search", "--model", model, "--index", idx, "--queries", f.q2qid, "--top-k", "10", "--out", run, "--json", runJSON)
	qids, hits, err := dataset.ReadRun(run, 0)
	require.NoError(t, err)
	var devQIDs, devQueries []string
	for _, d := range fixtureDev {
		devQIDs, devQueries = append(devQIDs, d.qid), append(devQueries, d.query)
	}
	require.Equal(t, devQIDs, qids)
	qv, err := m.EncodeQuery(ctx, devQueries)
	require.NoError(t, err)
	for i := range qids {
		type scored struct {
			pid string
			s   float64
		}
		var all []scored
		for pid, v := range pvec {
			all = append(all, scored{pid, dot(qv[i], v)})
		}
		sort.Slice(all, func(a, b int) bool { return all[a].s > all[b].s })
		require.Len(t, hits[i], 10)
		for j, h := range hits[i] {
			assert.InDelta(t, all[j].s, float64(h.Score), 1e-3, "query %s rank %d", qids[i], j+1)
			if j > 0 {
				assert.LessOrEqual(t, h.Score, hits[i][j-1].Score)
			}
		}
		assert.Equal(t, all[0].pid, hits[i][0].PID, "query %s top hit", qids[i])
	}
	jq, jh, err := dataset.ReadRunJSON(runJSON)
	require.NoError(t, err)
	require.Equal(t, qids, jq)
	for i := range jh {
		assert.Equal(t, pidsOf(hits[i]), pidsOf(jh[i]))
	}

	// eval: the DuReader metrics recomputed here from the run
	metricsPath := filepath.Join(dir, "metrics.json")
	r = ok(t, "eval", "--run", runJSON, "--ref", f.devJSON, "--out", metricsPath)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
	pos := fixturePositives()
	var mrr, r1, r50 float64
	for i, q := range qids {
		for j, h := range hits[i] {
			if slices.Contains(pos[q], h.PID) {
				if j < 10 {
					mrr += 1 / float64(j+1)
				}
				if j == 0 {
					r1++
				}
				r50++
				break
			}
		}
	}
	n := float64(len(fixtureDev))
	assert.InDelta(t, mrr/n, got["MRR@10"], 1e-12)
	assert.InDelta(t, r1/n, got["recall@1"], 1e-12)
	assert.InDelta(t, r50/n, got["recall@50"], 1e-12)
	assert.Equal(t, "dureader", got["convention"])
	fromFile, err := os.ReadFile(metricsPath)
	require.NoError(t, err)
	assert.JSONEq(t, r.stdout, string(fromFile))
	r = ok(t, "eval", "--run", run, "--ref", f.devJSON, "--convention", "dureader")
	var got2 map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got2))
	assert.Equal(t, got["MRR@10"], got2["MRR@10"], "TSV and JSON runs score the same")

	// train-ce and score: the top 5 of each query re-ranked by P(relevant), equal to the library's Matching
	ce := filepath.Join(dir, "ce")
	r = ok(t, append([]string{"train-ce", "--train", f.crossTrain, "--out", ce, "--max-steps", "2", "--batch", "4", "--max-len", "64"}, common[:4]...)...)
	assert.Contains(t, r.stdout, "final\t"+filepath.Join(ce, "final")+"\n")
	assert.Len(t, stepStats(t, filepath.Join(ce, "metrics.jsonl")), 2)
	scoredPath := filepath.Join(dir, "scored.tsv")
	ok(t, "score", "--model", filepath.Join(ce, "final"), "--run", run, "--queries", f.q2qid, "--collection", f.coll,
		"--top-k", "5", "--out", scoredPath, "--batch", "3")
	sq, sh, err := dataset.ReadRun(scoredPath, 0)
	require.NoError(t, err)
	require.Equal(t, qids, sq)
	cm, err := rocketqa.Load(filepath.Join(ce, "final"), rocketqa.LoadOptions{})
	require.NoError(t, err)
	defer cm.Close()
	ceScore := map[string]map[string]float32{}
	var allScores []float64
	for i, q := range sq {
		assert.ElementsMatch(t, pidsOf(hits[i][:5]), pidsOf(sh[i]), "query %s: the top 5 of the run", q)
		var paras []string
		for _, h := range sh[i] {
			paras = append(paras, passageText(h.PID))
		}
		want, err := cm.Matching(ctx, slices.Repeat([]string{devQueries[i]}, len(paras)), paras, nil)
		require.NoError(t, err)
		ceScore[q] = map[string]float32{}
		for j, h := range sh[i] {
			assert.InDelta(t, want[j], h.Score, 1e-5, "query %s pid %s", q, h.PID)
			assert.True(t, h.Score >= 0 && h.Score <= 1, "P(relevant) %v", h.Score)
			if j > 0 {
				assert.LessOrEqual(t, h.Score, sh[i][j-1].Score, "sorted by CE score")
			}
			ceScore[q][h.PID] = h.Score
			allScores = append(allScores, float64(h.Score))
		}
	}

	// mine: with threshold 1 every scored non-positive is a negative; 4 per positive at most
	mined := filepath.Join(dir, "mined.tsv")
	r = ok(t, "mine", "--de-run", run, "--ce-run", scoredPath, "--queries", f.q2qid, "--qrels", f.devJSON,
		"--collection", f.coll, "--out", mined, "--threshold", "1")
	wantLines := 0
	negText := map[string][]string{}
	for i, q := range qids {
		var negs int
		for _, h := range hits[i] {
			if s, scored := ceScore[q][h.PID]; scored && s < 1 && !slices.Contains(pos[q], h.PID) {
				negs++
				negText[q] = append(negText[q], passageText(h.PID))
			}
		}
		wantLines += min(4*len(pos[q]), negs)
	}
	assert.Equal(t, mined+"\t"+strconv.Itoa(wantLines)+" lines\n", r.stdout)
	exs, err := rocketqa.ReadDualExamples(context.Background(), mined)
	require.NoError(t, err)
	require.Len(t, exs, wantLines)
	for _, ex := range exs {
		d := fixtureDev[slices.IndexFunc(fixtureDev, func(d struct {
			qid, query string
			pos        []int
		}) bool {
			return d.query == ex.Query
		})]
		assert.Equal(t, fixturePassages[d.pos[0]], ex.PosPara)
		assert.Contains(t, negText[d.qid], ex.NegPara)
	}

	// augment: thresholds at the median CE score; lines counted here from the scored run
	sort.Float64s(allScores)
	th := (allScores[len(allScores)/2-1] + allScores[len(allScores)/2]) / 2
	aug := filepath.Join(dir, "aug.tsv")
	ths := strconv.FormatFloat(th, 'g', -1, 64)
	r = ok(t, "augment", "--de-run", run, "--ce-run", scoredPath, "--queries", f.q2qid, "--collection", f.coll,
		"--out", aug, "--pos-threshold", ths, "--neg-threshold", ths, "--neg-count", "2", "--top-k", "10")
	augLines := 0
	for i, q := range sq {
		best := sh[i][0]
		if float64(best.Score) <= th {
			continue
		}
		negs := 0
		for _, h := range hits[i] { // DE rank order
			if s, scored := ceScore[q][h.PID]; scored && h.PID != best.PID && float64(s) < th {
				negs++
			}
		}
		augLines += min(2, negs)
	}
	assert.Equal(t, aug+"\t"+strconv.Itoa(augLines)+" lines\n", r.stdout)

	// merge
	merged := filepath.Join(dir, "merged.tsv")
	r = ok(t, "merge", "--out", merged, mined, aug)
	assert.Equal(t, merged+"\t"+strconv.Itoa(wantLines+augLines)+" lines\n", r.stdout)

	// launch: 2 processes x batch 2 with cross-batch negatives see the same 8 passages per query as 1 process x
	// batch 4 (no dropout, same data order), so the losses and gradient norms of the first two steps must agree:
	// the gathered passages, the targets 2*B*rank+i and the gradients (all_gather backward, then averaged over
	// the processes) are those of one process
	de2 := filepath.Join(dir, "de2")
	r = ok(t, append([]string{"launch", "--nproc", "2", "--", "train-de", "--train", f.dualTrain, "--out", de2,
		"--max-steps", "2", "--batch", "2"}, append(lr, common...)...)...)
	assert.Contains(t, r.stderr, "[rank 0] rocketqa train-de: ")
	assert.Contains(t, r.stderr, "2 process(es) x batch 2, 7 negatives per query")
	assert.Contains(t, r.stdout, "[rank 0] final\t"+filepath.Join(de2, "final"))
	for _, rank := range []string{"rng-0.bin", "rng-1.bin"} {
		assert.FileExists(t, filepath.Join(de2, "checkpoints", "step-00000002", rank), "both ranks wrote their RNG state")
	}
	multi := stepStats(t, filepath.Join(de2, "metrics.jsonl"))
	require.Len(t, multi, 2)
	for s := 1; s <= 2; s++ {
		assert.InDelta(t, single[s][0], multi[s][0], 1e-4*single[s][0], "step %d loss: 1 x 4 vs 2 x 2 cross-batch", s)
		assert.InDelta(t, single[s][1], multi[s][1], 1e-4*single[s][1], "step %d gradient norm: 1 x 4 vs 2 x 2 cross-batch", s)
	}
	// without cross-batch each process sees only its own 4 passages: the first loss differs
	de3 := filepath.Join(dir, "de3")
	ok(t, append([]string{"launch", "--nproc", "2", "--", "train-de", "--train", f.dualTrain, "--out", de3,
		"--max-steps", "1", "--batch", "2", "--no-cross-batch"}, append(lr, common...)...)...)
	inBatch := stepStats(t, filepath.Join(de3, "metrics.jsonl"))
	assert.Greater(t, math.Abs(inBatch[1][0]-single[1][0]), 0.1, "in-batch loss %v vs cross-batch %v", inBatch[1][0], single[1][0])
}

func TestLaunchFailFast(t *testing.T) {
	dir := t.TempDir()
	f := writeFixture(t, dir)
	common := []string{"--config", f.config, "--vocab", f.vocab, "--q-len", "16", "--p-len", "48", "--threads", "1", "--out", filepath.Join(dir, "o")}

	// every rank fails at once
	r := rq(t, nil, append([]string{"launch", "--nproc", "2", "--", "train-de", "--train", filepath.Join(dir, "missing.tsv")}, common...)...)
	assert.Equal(t, 1, r.code, "%s", r)
	// the first rank to fail is reported; the other may be stopped before it prints its own error
	assert.Regexp(t, `\[rank [01]\] rocketqa train-de: --train `+regexp.QuoteMeta(filepath.Join(dir, "missing.tsv"))+`: no such file or directory\n`, r.stderr)
	assert.Regexp(t, `rocketqa launch: rank [01] of 2 failed: exit status 1\n$`, r.stderr)

	// rank 0 cannot serve the rendezvous (the port is taken by a silent listener), so rank 1 would wait for the
	// whole --dist-timeout: launch must stop it as soon as rank 0 fails
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	t0 := time.Now()
	r = rq(t, nil, append([]string{"launch", "--nproc", "2", "--master-port", port, "--grace", "1s", "--",
		"train-de", "--train", f.dualTrain, "--dist-timeout", "2m"}, common...)...)
	el := time.Since(t0)
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, "[rank 0] rocketqa train-de: join the process group")
	assert.Contains(t, r.stderr, "stopping the other processes")
	assert.Less(t, el, 60*time.Second, "fail fast, not after --dist-timeout")
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func pidsOf(hs []retrieval.Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.PID
	}
	return out
}
