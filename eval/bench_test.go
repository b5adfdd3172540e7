package eval

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEvalSpeedVsPython times loading and scoring a DuReader-dev-sized run
// (2,000 queries x 50 pids, the official dev set's shape) in Go and in the
// Python re-statement of the official script (testdata/official_eval.py, run
// by /usr/bin/python3 in the same test), prints both medians of 5 passes and
// their ratio, and checks that both give the same metrics. Opt-in:
//
//	ROCKETQA_BENCH=1 go test -run EvalSpeed -v ./eval/
func TestEvalSpeedVsPython(t *testing.T) {
	if os.Getenv("ROCKETQA_BENCH") == "" {
		t.Skip("set ROCKETQA_BENCH=1 to run")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3")
	}
	dir := t.TempDir()
	devPath, candPath := filepath.Join(dir, "dev.json"), filepath.Join(dir, "cand.json")
	rng := rand.New(rand.NewPCG(1, 2))
	pid := func() string { return fmt.Sprintf("%032x", rng.Uint64()%200_000) }
	var dev strings.Builder
	run := Run{}
	for q := 0; q < 2000; q++ {
		qid := fmt.Sprintf("q%05d", q)
		pos := []string{pid(), pid()}
		fmt.Fprintf(&dev, `{"question_id": %q, "question": "问题", "answer_paragraphs": [{"paragraph_id": %q}, {"paragraph_id": %q}]}`+"\n", qid, pos[0], pos[1])
		list := make([]string, 50)
		for i := range list {
			list[i] = pid()
		}
		if rng.IntN(3) > 0 {
			list[rng.IntN(50)] = pos[rng.IntN(2)]
		}
		run[qid] = list
	}
	require.NoError(t, os.WriteFile(devPath, []byte(dev.String()), 0o644))
	require.NoError(t, WriteDuReaderRun(candPath, run))

	var times []time.Duration
	var m Metrics
	for i := 0; i < 5; i++ {
		start := time.Now()
		ref, err := LoadDuReaderReference(devPath)
		require.NoError(t, err)
		r, err := LoadDuReaderRun(candPath)
		require.NoError(t, err)
		m, err = DuReader(r, ref)
		require.NoError(t, err)
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	goMedian := times[2]

	out, err := exec.Command("/usr/bin/python3", "testdata/official_eval.py", "time", devPath, candPath, "5").Output()
	require.NoError(t, err)
	var py struct {
		MRR10    float64 `json:"MRR@10"`
		Recall1  float64 `json:"recall@1"`
		Recall50 float64 `json:"recall@50"`
		Seconds  float64 `json:"seconds"`
	}
	require.NoError(t, json.Unmarshal(out, &py))
	assert.InDelta(t, py.MRR10, m.MRR10, 1e-12)
	assert.InDelta(t, py.Recall1, m.Recall1, 1e-12)
	assert.InDelta(t, py.Recall50, m.Recall50, 1e-12)
	t.Logf("metrics: %v", m)
	t.Logf("Go load+score: %v; Python official logic: %.1f ms; Python/Go time ratio %.1f",
		goMedian, py.Seconds*1000, py.Seconds/goMedian.Seconds())
}
