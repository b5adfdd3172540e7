package tinytest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/torch"
)

// The environment of a worker process: workerEnv marks it, outEnv is the directory of its result file.
const (
	workerEnv = "TINYTEST_WORKER"
	outEnv    = "TINYTEST_OUT"
)

// WorkerResult is what a worker process of TwoProcesses reports: the loss and the gradients of its local step,
// both averaged over the two processes as the trainer does, or the error that stopped it.
type WorkerResult struct {
	Loss  float64
	Grads map[string][]float32
	Error string
}

// TwoProcesses runs the test named worker (which calls Worker) as ranks 0 and 1 of a Gloo group on a free local
// port, in two processes of this test binary with env added to their environment; it waits for both and returns
// their results by rank. A worker that fails or reports an error fails the test, with its log.
func TwoProcesses(t *testing.T, worker string, env ...string) [2]WorkerResult {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for r := 0; r < 2; r++ {
		c := exec.Command(os.Args[0], "-test.run=^"+worker+"$")
		c.Env = append(os.Environ(), workerEnv+"=1", fmt.Sprintf("RANK=%d", r), "WORLD_SIZE=2",
			"MASTER_ADDR=127.0.0.1", fmt.Sprintf("MASTER_PORT=%d", port), outEnv+"="+dir)
		c.Env = append(c.Env, env...)
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("log%d", r)))
		require.NoError(t, err)
		c.Stdout, c.Stderr = out, out
		require.NoError(t, c.Start())
		cmds = append(cmds, c)
	}
	for r, c := range cmds {
		err := c.Wait()
		log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("log%d", r)))
		require.NoError(t, err, "rank %d:\n%s", r, log)
	}
	var res [2]WorkerResult
	for r := range res {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rank%d.json", r)))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &res[r]))
		require.Empty(t, res[r].Error, "rank %d", r)
	}
	return res
}

// Worker is the body of the worker test of TwoProcesses; run outside it, it skips the test. It joins the Gloo
// group, calls step for this process's local step (its loss and the parameters holding the gradients), sums the
// loss and every gradient over the processes, divides them by 2 and writes them to its result file.
func Worker(t *testing.T, step func(pg *torch.ProcessGroup, s *torch.Scope) (float64, []encoder.Param, error)) {
	if os.Getenv(workerEnv) == "" {
		t.Skip("runs as a process of a two-process test (tinytest.TwoProcesses)")
	}
	res := WorkerResult{Grads: map[string][]float32{}}
	err := func() error {
		pg, err := torch.InitFromEnv("gloo", 30*time.Second)
		if err != nil {
			return err
		}
		defer pg.Close()
		s := torch.NewScope()
		defer s.Close()
		loss, params, err := step(pg, s)
		if err != nil {
			return err
		}
		l := s.FromFloat32([]float32{float32(loss)}, 1)
		if err := pg.AllReduce(l, torch.ReduceOpSum); err != nil {
			return err
		}
		v, _ := l.Item()
		res.Loss = v / 2
		for _, p := range params {
			g := s.Adopt(p.Tensor.Grad())
			if err := pg.AllReduce(g, torch.ReduceOpSum); err != nil {
				return err
			}
			vals, err := g.DivScalar(2).Float32s()
			if err != nil {
				return err
			}
			res.Grads[p.Name] = vals
		}
		return nil
	}()
	if err != nil {
		res.Error = err.Error()
	}
	b, _ := json.Marshal(res)
	path := filepath.Join(os.Getenv(outEnv), "rank"+os.Getenv("RANK")+".json")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	require.NoError(t, err)
}
