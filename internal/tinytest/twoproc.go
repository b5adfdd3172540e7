package tinytest

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/proctest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// workerEnv marks a worker process of TwoProcesses.
const workerEnv = "TINYTEST_WORKER"

// WorkerResult is what a worker process of TwoProcesses reports: the loss and the gradients of its local step,
// both averaged over the two processes as the trainer does, or the error that stopped it.
type WorkerResult struct {
	Loss  float64
	Grads map[string][]float32
	Error string
}

// TwoProcesses runs the test named worker (which calls Worker) as ranks 0 and 1 of a Gloo group in two processes
// of this test binary (proctest.Run), with env added to their environment, and returns their results by rank. A
// worker that fails or reports an error fails the test.
func TwoProcesses(t *testing.T, worker string, env ...string) [2]WorkerResult {
	res := proctest.Run[WorkerResult](t, worker, 2, append([]string{workerEnv + "=1"}, env...)...)
	for r := range res {
		require.Empty(t, res[r].Error, "rank %d", r)
	}
	return [2]WorkerResult(res)
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
	proctest.WriteResult(t, res)
	require.NoError(t, err)
}
