package rocketqa

import (
	"fmt"

	"github.com/rocketqa-go/rocketqa/torch"
)

// Reps is what a dual-encoder loss sees of one training step on one process: the local query vectors and the
// local passage vectors in the grouped layout (Tevatron's train_group_size), plus the process group to gather
// across processes. The task builds it the same way whether it encoded the batch at once, in chunks, or with
// gradient caching; in the last case Q and P are leaves and only their gradients are used.
type Reps struct {
	// Q holds the B local query vectors, [B, H].
	Q *torch.Tensor
	// P holds the passage vectors grouped per query, [B*G, H]: rows G·i .. G·i+G-1 are query i's group, the
	// positive first (row G·i), then its negatives.
	P *torch.Tensor
	// G is the group size (2 for RocketQA v1 and PAIR lines).
	G int
	// PG gathers the batch from every process (cross-batch negatives); nil in one process or with cross-batch off.
	PG *torch.ProcessGroup
}

// DualLoss is a dual-encoder training loss: the mean loss of the local queries. With a process group, the trainer
// averages parameter gradients over processes, so the objective is the mean of the per-process losses. A loss
// that needs only the gradients of r.Q and r.P (every loss built from them) works with gradient caching.
type DualLoss func(s *torch.Scope, r Reps) *torch.Tensor

// B is the number of local queries.
func (r Reps) B() int64 { return r.Q.Size(0) }

// Rank is this process's rank (0 without a process group).
func (r Reps) Rank() int {
	if r.PG == nil {
		return 0
	}
	return r.PG.Rank()
}

// World is the number of processes the batch is gathered from (1 without a process group).
func (r Reps) World() int {
	if r.PG == nil {
		return 1
	}
	return r.PG.WorldSize()
}

// Gather concatenates x [N, ...] from every process, rank-major ([x_0; x_1; ...], [N·W, ...]), through c10d's
// differentiable all_gather: the backward pass sums every process's gradient into the local rows (a
// reduce-scatter). Without a process group it returns x.
func (r Reps) Gather(x *torch.Tensor) *torch.Tensor {
	if r.PG == nil {
		return x
	}
	return r.PG.AllGather(x.Contiguous())
}

// Positives returns the positive of every group, [B, H] (a view of P).
func (r Reps) Positives() *torch.Tensor {
	return r.P.Reshape(r.B(), int64(r.G), -1).Select(1, 0)
}

// Negatives returns the negatives of every group, query-major, [B*(G-1), H].
func (r Reps) Negatives() *torch.Tensor {
	b, g := r.B(), int64(r.G)
	return r.P.Reshape(b, g, -1).Narrow(1, 1, g-1).Reshape(b*(g-1), -1)
}

// Check reports a P whose rows do not match B·G, naming the shapes.
func (r Reps) Check() error {
	// a tensor in error state (a failed forward pass) reports libtorch's error, not sizes of -1
	if err := r.Q.Err(); err != nil {
		return err
	}
	if err := r.P.Err(); err != nil {
		return err
	}
	if r.G < 1 {
		return fmt.Errorf("rocketqa: group size %d", r.G)
	}
	if r.Q.Dim() != 2 || r.P.Dim() != 2 || r.P.Size(0) != r.B()*int64(r.G) || r.P.Size(1) != r.Q.Size(1) {
		return fmt.Errorf("rocketqa: loss inputs: queries %v, passages %v: want passages [B*G, H] with B=%d, G=%d",
			r.Q.Shape(), r.P.Shape(), r.Q.Size(0), r.G)
	}
	return nil
}

// Targets returns the index of every local query's positive among the gathered passages: (B·rank + i)·G.
func (r Reps) Targets(s *torch.Scope) *torch.Tensor {
	g := int64(r.G)
	off := r.B() * int64(r.Rank()) * g
	return s.Arange(float64(off), float64(off+r.B()*g), float64(g), torch.Int64, r.Q.Device())
}

// CrossBatchLoss is the RocketQA v1 loss (its official dual_encoder.py): every local query against all passages
// gathered from every process (its positive, its own and the other queries' hard negatives: G·B·W candidates),
// cross-entropy towards its own positive, mean over the local queries. In one process these are in-batch
// negatives.
//
// The scores are computed in the official column order (per process: all first passages, i.e. the positives,
// then all second passages, ...; target G·B·rank + i) rather than in the grouped order (target (B·rank + i)·G).
// The two differ by a permutation of the columns, which leaves the cross-entropy unchanged in exact arithmetic;
// keeping the official order keeps the floating-point results, and so earlier v1 runs, bit for bit.
func CrossBatchLoss(s *torch.Scope, r Reps) *torch.Tensor {
	if err := r.Check(); err != nil {
		return s.Error(err)
	}
	b, g := r.B(), int64(r.G)
	all := r.Gather(r.P)
	if g > 1 {
		all = all.Reshape(int64(r.World()), b, g, -1).Transpose(1, 2).Reshape(int64(r.World())*g*b, -1)
	}
	off := g * b * int64(r.Rank())
	target := s.Arange(float64(off), float64(off+b), 1, torch.Int64, r.Q.Device())
	return torch.CrossEntropy(r.Q.MatMul(all.T()), target)
}
