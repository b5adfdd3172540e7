// Package jointtrain is RocketQA v2 (Ren et al., EMNLP 2021): joint training of a dual encoder (the retriever) and a
// cross-encoder (the re-ranker) by dynamic listwise distillation on lists of m passages per query, the positive
// first. The official code (RocketQAv2_EMNLP2021 joint_encoder.py) is the default; the seed re-implementation's,
// the paper's and the static-distillation variants are selectable.
//
// The step can run chunk by chunk with the same result (Task.Cached): pass 1 computes every query and passage
// vector and every cross-encoder score without a graph, the loss and its gradients are computed on those detached
// values, and pass 2 re-runs the chunks with the same dropout masks and backpropagates the cached gradients, so
// memory is one chunk's graph (EstimateMemory). Train runs the whole thing; BuildLists writes the list files.
package jointtrain

import (
	"fmt"

	"github.com/rocketqa-go/rocketqa/torch"
)

// Variant selects the loss semantics.
type Variant string

// Loss variants. Every one is L = L_sup + L_KL with L_sup = mean_b CrossEntropy(ce_b, target 0) (the positive is
// list item 0); they differ in L_KL and in what reaches the cross-encoder.
const (
	// Official is the RocketQA v2 code: L_KL = kl_div(log_softmax(de), softmax(ce), reduction='mean'), i.e.
	// KL(CE‖DE) summed over a list and averaged over all B·m elements; Paddle's kldiv has no target gradient, so
	// the cross-encoder's distribution is detached: the cross-encoder learns from L_sup alone, the dual encoder
	// from L_KL alone.
	Official Variant = "official"
	// Seed is the seed re-implementation (IntroNLP joint_train.py): KL(CE‖DE) with reduction 'batchmean' (sum over
	// the list, mean over queries) and the cross-encoder's distribution not detached.
	Seed Variant = "seed"
	// Paper is equation 4 of the paper as written: KL(DE‖CE), batchmean, both models receive its gradient.
	Paper Variant = "paper"
	// Static is the paper's static-distillation ablation: the Official loss with the cross-encoder frozen (eval
	// mode, no gradient, not updated).
	Static Variant = "static"
)

// Variants lists the loss variants.
var Variants = []Variant{Official, Seed, Paper, Static}

// ParseVariant checks a variant name.
func ParseVariant(s string) (Variant, error) {
	for _, v := range Variants {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("jointtrain: unknown loss variant %q (want official, seed, paper or static)", s)
}

// FrozenCE reports whether the variant trains the dual encoder alone.
func (v Variant) FrozenCE() bool { return v == Static }

// Losses holds the loss and its two terms (scalars in the scope of Loss).
type Losses struct {
	Total, Sup, KL *torch.Tensor
}

// Loss computes the variant's loss from the dual-encoder scores de[b,j] = <q_b, p_bj> and the cross-encoder scores
// ce[b,j], both [B, m] with the positive in column 0.
func Loss(s *torch.Scope, v Variant, de, ce *torch.Tensor) Losses {
	if de.Dim() != 2 || ce.Dim() != 2 || de.Size(0) != ce.Size(0) || de.Size(1) != ce.Size(1) {
		e := s.Error(fmt.Errorf("jointtrain: loss inputs de %v, ce %v: want both [B, m]", de.Shape(), ce.Shape()))
		return Losses{e, e, e}
	}
	b := de.Size(0)
	target := s.Zeros([]int64{b}, torch.Int64, de.Device())
	sup := torch.CrossEntropy(ce, target)
	lde, lce := de.LogSoftmax(1), ce.LogSoftmax(1)
	var kl *torch.Tensor
	switch v {
	case Official, Static:
		// p_ce·(log p_ce − log p_de), teacher detached, mean over the B·m elements
		t := lce.Detach()
		kl = t.Exp().Mul(t.Sub(lde)).Mean()
	case Seed:
		kl = lce.Exp().Mul(lce.Sub(lde)).Sum().DivScalar(float64(b))
	case Paper:
		kl = lde.Exp().Mul(lde.Sub(lce)).Sum().DivScalar(float64(b))
	default:
		e := s.Error(fmt.Errorf("jointtrain: unknown loss variant %q", v))
		return Losses{e, e, e}
	}
	return Losses{Total: sup.Add(kl), Sup: sup, KL: kl}
}
