package pair

import (
	"fmt"

	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
)

// Stage is one of PAIR's two training stages.
type Stage string

const (
	// Pretrain is stage 1: pseudo-labelled data, loss (1-α)·L_Q + α·L_P (the official --is_pretrain true).
	Pretrain Stage = "pretrain"
	// Finetune is stage 2: labelled queries with denoised hard negatives, loss L_Q (--is_pretrain false).
	Finetune Stage = "finetune"
)

// ParseStage checks a stage name.
func ParseStage(s string) (Stage, error) {
	switch Stage(s) {
	case Pretrain, Finetune:
		return Stage(s), nil
	}
	return "", fmt.Errorf("pair: stage %q: want %q or %q", s, Pretrain, Finetune)
}

// Loss is PAIR's loss as the official dual_encoder.py (research/PAIR_ACL2021) computes it, per process r of W with
// B local queries and the grouped layout of r (groups of G: a positive and G-1 negatives; G = 2 for PAIR's
// files):
//
//	L_Q: every local query against all gathered passages (G·B·W candidates), target its own positive: the
//	     RocketQA v1 cross-batch loss (rocketqa.CrossBatchLoss);
//	L_P: every local positive p⁺ against all gathered queries and all gathered negatives ([q_r; n_r] rank-major,
//	     G·B·W candidates), target its own query;
//	L = (1-α)·mean(L_Q) + α·mean(L_P) in pre-training, L = mean(L_Q) in fine-tuning.
//
// In one process (or with cross-batch off) the candidates are those of the local batch. Only the vectors' gradients
// are needed, so gradient caching is exact. alpha must be in [0, 1].
func Loss(stage Stage, alpha float64) rocketqa.DualLoss {
	return func(s *torch.Scope, r rocketqa.Reps) *torch.Tensor {
		if !(alpha >= 0 && alpha <= 1) {
			return s.Error(fmt.Errorf("pair: alpha %v outside [0, 1]", alpha))
		}
		lq := rocketqa.CrossBatchLoss(s, r)
		if stage != Pretrain {
			return lq
		}
		lp := PassageCentricLoss(s, r)
		return lq.MulScalar(1 - alpha).Add(lp.MulScalar(alpha))
	}
}

// PassageCentricLoss is PAIR's L_P: each local positive scored against the gathered [queries; negatives] of every
// process, cross-entropy towards its own query (index G·B·rank + i), mean over the local positives.
func PassageCentricLoss(s *torch.Scope, r rocketqa.Reps) *torch.Tensor {
	if err := r.Check(); err != nil {
		return s.Error(err)
	}
	if r.G < 2 {
		return s.Error(fmt.Errorf("pair: the passage-centric loss needs hard negatives (group size %d)", r.G))
	}
	b, g := r.B(), int64(r.G)
	cand := r.Gather(torch.Cat([]*torch.Tensor{r.Q, r.Negatives()}, 0)) // [G·B·W, H]
	off := g * b * int64(r.Rank())
	target := s.Arange(float64(off), float64(off+b), 1, torch.Int64, r.Q.Device())
	return torch.CrossEntropy(r.Positives().MatMul(cand.T()), target)
}
