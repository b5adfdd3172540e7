package torch_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/internal/closeto"
	"github.com/rocketqa-go/rocketqa/internal/proctest"
	"github.com/rocketqa-go/rocketqa/torch"
)

// The two-process tests re-run this test binary as the workers (TORCH_TEST_WORKER selects the role).

const nLocal, dim, featDim = 3, 4, 5

// localBatch is rank r's deterministic slice of the global batch: queries and passages features.
func localBatch(s *torch.Scope, rank int) (xq, xp *torch.Tensor) {
	q := make([]float32, nLocal*featDim)
	p := make([]float32, 2*nLocal*featDim)
	for i := range q {
		q[i] = float32((i*7+rank*13)%11)/11 - 0.5
	}
	for i := range p {
		p[i] = float32((i*5+rank*3)%13)/13 - 0.5
	}
	return s.FromFloat32(q, nLocal, featDim), s.FromFloat32(p, 2*nLocal, featDim)
}

func weights(s *torch.Scope) (wq, wp *torch.Tensor) {
	a := make([]float32, featDim*dim)
	b := make([]float32, featDim*dim)
	for i := range a {
		a[i] = float32(i%7)/7 - 0.3
		b[i] = float32(i%5)/5 - 0.4
	}
	return s.FromFloat32(a, featDim, dim).SetRequiresGrad(true), s.FromFloat32(b, featDim, dim).SetRequiresGrad(true)
}

type workerResult struct {
	Loss   float64
	GradQ  []float32
	GradP  []float32
	Error  string
	Gather []float32
}

// TestDistCrossBatchGradients: loss over the all-gathered passages of 2 processes gives, after summing parameter
// gradients across ranks, exactly the gradients of one process holding the whole batch.
func TestDistCrossBatchGradients(t *testing.T) {
	res := proctest.Run[workerResult](t, "TestDistWorker", 2, "TORCH_TEST_WORKER=crossbatch")
	for r := range res {
		require.Empty(t, res[r].Error)
	}

	// single-process reference over the concatenated batch
	s := torch.NewScope()
	defer s.Close()
	wq, wp := weights(s)
	var qs, ps []*torch.Tensor
	for r := 0; r < 2; r++ {
		xq, xp := localBatch(s, r)
		qs, ps = append(qs, xq), append(ps, xp)
	}
	q := torch.Cat(qs, 0).MatMul(wq)
	p := torch.Cat(ps, 0).MatMul(wp)
	logits := q.MatMul(p.T())
	tgt := make([]int64, 2*nLocal)
	for r := 0; r < 2; r++ {
		for i := 0; i < nLocal; i++ {
			tgt[r*nLocal+i] = int64(2*nLocal*r + i)
		}
	}
	loss := torch.CrossEntropyLoss(logits, s.FromInt64(tgt, int64(len(tgt))), torch.ReduceSum, -100, 0)
	require.NoError(t, loss.Backward())
	want, _ := loss.Item()
	gq, _ := s.Adopt(wq.Grad()).Float32s()
	gp, _ := s.Adopt(wp.Grad()).Float32s()
	gathered, _ := p.Float32s()

	// the ranks multiply smaller blocks than the single process (other BLAS blocking, other summation order), so
	// compare as torch.testing.assert_close does for float32
	tol := closeto.Float32
	require.NoError(t, closeto.Number(res[0].Loss+res[1].Loss, want, tol), "sum of per-rank losses")
	for r := 0; r < 2; r++ {
		require.NoError(t, closeto.Slices(res[r].Gather, gathered, tol), "rank %d gathered passages", r)
		require.NoError(t, closeto.Slices(res[r].GradQ, gq, tol), "rank %d grad q", r)
		require.NoError(t, closeto.Slices(res[r].GradP, gp, tol), "rank %d grad p", r)
	}
}

// TestDistPeerDeath: when one rank dies, the other gets an error within the timeout instead of hanging.
func TestDistPeerDeath(t *testing.T) {
	start := time.Now()
	cmds, dir := proctest.Start(t, "TestDistWorker", 2, "TORCH_TEST_WORKER=die")
	errc := make(chan error, 1)
	go func() { errc <- cmds[0].Wait() }()
	_ = cmds[1].Wait()
	select {
	case <-errc:
	case <-time.After(60 * time.Second):
		_ = cmds[0].Process.Kill()
		t.Fatal("surviving rank hung")
	}
	b, err := os.ReadFile(filepath.Join(dir, "rank0.json"))
	log, _ := os.ReadFile(filepath.Join(dir, "log0.txt"))
	require.NoError(t, err, "rank 0 log:\n%s", log)
	var res workerResult
	require.NoError(t, json.Unmarshal(b, &res))
	require.NotEmpty(t, res.Error, "rank 0 should report the dead peer")
	t.Logf("rank 0 got, after %v: %s", time.Since(start).Round(time.Millisecond), res.Error)
}

func TestDistOptionsFromEnv(t *testing.T) {
	t.Setenv("RANK", "")
	_, err := torch.DistOptionsFromEnv()
	require.ErrorContains(t, err, "RANK")
	t.Setenv("RANK", "1")
	t.Setenv("WORLD_SIZE", "x")
	_, err = torch.DistOptionsFromEnv()
	require.ErrorContains(t, err, "WORLD_SIZE")
	t.Setenv("WORLD_SIZE", "2")
	t.Setenv("MASTER_PORT", "1234")
	o, err := torch.DistOptionsFromEnv()
	require.NoError(t, err)
	require.Equal(t, 1, o.Rank)
	require.Equal(t, 1234, o.Port)
	_, err = torch.NewProcessGroup(torch.DistOptions{Rank: 2, WorldSize: 2, Port: 1})
	require.Error(t, err)
	_, err = torch.NewProcessGroup(torch.DistOptions{Backend: "mpi", Rank: 0, WorldSize: 1, Addr: "127.0.0.1", Port: proctest.FreePort(t), Timeout: time.Second})
	require.ErrorContains(t, err, "unknown backend")
}

// TestDistWorker is the body of a worker process; it does nothing in a normal test run.
func TestDistWorker(t *testing.T) {
	role := os.Getenv("TORCH_TEST_WORKER")
	if role == "" {
		t.Skip("only runs as a spawned worker")
	}
	var res workerResult
	o, err := torch.DistOptionsFromEnv()
	require.NoError(t, err)
	o.Backend, o.Timeout = "gloo", 10*time.Second
	err = func() error {
		pg, err := torch.NewProcessGroup(o)
		if err != nil {
			return err
		}
		defer pg.Close()
		switch role {
		case "die":
			if pg.Rank() == 1 {
				os.Exit(3) // die without a word
			}
			time.Sleep(500 * time.Millisecond)
			s := torch.NewScope()
			defer s.Close()
			x := s.Ones([]int64{4}, torch.Float32, torch.CPU)
			for i := 0; i < 5; i++ {
				if err := pg.AllReduce(x, torch.ReduceOpSum); err != nil {
					return err
				}
			}
			return fmt.Errorf("no error although the peer died")
		case "crossbatch":
			s := torch.NewScope()
			defer s.Close()
			wq, wp := weights(s)
			xq, xp := localBatch(s, pg.Rank())
			q := xq.MatMul(wq)
			p := pg.AllGather(xp.MatMul(wp))
			tgt := make([]int64, nLocal)
			for i := range tgt {
				tgt[i] = int64(2*nLocal*pg.Rank() + i)
			}
			loss := torch.CrossEntropyLoss(q.MatMul(p.T()), s.FromInt64(tgt, nLocal), torch.ReduceSum, -100, 0)
			if err := loss.Backward(); err != nil {
				return err
			}
			res.Loss, _ = loss.Item()
			res.Gather, _ = p.Float32s()
			for _, w := range []*torch.Tensor{wq, wp} {
				g := s.Adopt(w.Grad())
				if err := pg.AllReduce(g, torch.ReduceOpSum); err != nil {
					return err
				}
			}
			res.GradQ, _ = s.Adopt(wq.Grad()).Float32s()
			res.GradP, _ = s.Adopt(wp.Grad()).Float32s()
			if err := pg.Barrier(); err != nil {
				return err
			}
			return s.Err()
		case "order":
			return gathersOutOfOrder(pg)
		}
		return fmt.Errorf("unknown role %q", role)
	}()
	if err != nil {
		res.Error = err.Error()
	}
	proctest.WriteResult(t, res)
	if role == "die" && !strings.Contains(res.Error, "no error") || role == "order" {
		return
	}
	require.Empty(t, res.Error)
}

// TestDistGatherBackwardOrder: two gathers of one shape whose graphs were built on different OS threads on rank 0
// and on one thread on rank 1. libtorch numbers autograd nodes per thread, so the ranks run the two backward
// all-reduces in opposite orders; Gloo would sum one gather's gradient with the other's and give every rank wrong
// gradients without a word. Both ranks must fail with an error saying so.
func TestDistGatherBackwardOrder(t *testing.T) {
	res := proctest.Run[workerResult](t, "TestDistWorker", 2, "TORCH_TEST_WORKER=order")
	for r := range res {
		t.Logf("rank %d: %s", r, res[r].Error)
		require.Contains(t, res[r].Error, "different orders", "rank %d", r)
	}
}

// gathersOutOfOrder builds loss = 1·sum(gather(w·x)) + 2·sum(gather(w·y)) as TestDistGatherBackwardOrder describes
// and returns the error of its backward pass.
func gathersOutOfOrder(pg *torch.ProcessGroup) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := torch.NewScope()
	defer s.Close()
	w := s.Ones([]int64{4}, torch.Float32, torch.CPU).SetRequiresGrad(true)
	for i := 0; i < 20000; i++ { // number many autograd nodes on this thread
		s.Use(w).MulScalar(1).Close()
	}
	a := pg.AllGather(w.MulScalar(3))
	var b *torch.Tensor
	if pg.Rank() == 0 {
		done := make(chan struct{})
		go func() { // a thread whose count is far lower
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b = pg.AllGather(w.MulScalar(5))
			close(done)
		}()
		<-done
	} else {
		b = pg.AllGather(w.MulScalar(5))
	}
	loss := a.Sum().Add(b.Sum().MulScalar(2))
	if err := loss.Backward(); err != nil {
		return err
	}
	return fmt.Errorf("backward succeeded (gradient %v)", must(s.Adopt(w.Grad()).Float32s()))
}

func must[T any](v T, _ error) T { return v }
