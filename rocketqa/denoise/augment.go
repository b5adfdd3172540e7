package denoise

import (
	"context"
	"fmt"
)

// AugmentOptions are the knobs of data augmentation with pseudo-labelled queries (step 4 of the RocketQA v1
// pipeline). A zero field takes its default, given in brackets; DefaultAugmentOptions returns them all.
type AugmentOptions struct {
	// PosThreshold is the CE score a pseudo-positive must exceed, strictly [0.9].
	PosThreshold float64
	// NegThreshold is the CE score a negative must be below, strictly [0.1].
	NegThreshold float64
	// NegCount is the most negatives (and so lines) per query [4]; the official script uses 4 on MS MARCO and 1
	// on NQ.
	NegCount int
	// TopK is the deepest rank examined [50].
	TopK int
}

// DefaultAugmentOptions returns the MS MARCO settings of the official construct_unlabel_train_de.py:
// pseudo-positive above 0.9, negatives below 0.1, 4 negatives, top 50.
func DefaultAugmentOptions() AugmentOptions {
	return AugmentOptions{PosThreshold: 0.9, NegThreshold: 0.1, NegCount: 4, TopK: 50}
}

func (o AugmentOptions) withDefaults() AugmentOptions {
	d := DefaultAugmentOptions()
	if o.PosThreshold == 0 {
		o.PosThreshold = d.PosThreshold
	}
	if o.NegThreshold == 0 {
		o.NegThreshold = d.NegThreshold
	}
	if o.NegCount == 0 {
		o.NegCount = d.NegCount
	}
	if o.TopK == 0 {
		o.TopK = d.TopK
	}
	return o
}

func (o AugmentOptions) validate() error {
	switch {
	case o.NegCount < 0:
		return fmt.Errorf("denoise: AugmentOptions.NegCount %d is negative", o.NegCount)
	case o.TopK < 0:
		return fmt.Errorf("denoise: AugmentOptions.TopK %d is negative", o.TopK)
	case o.PosThreshold < o.NegThreshold:
		return fmt.Errorf("denoise: AugmentOptions.PosThreshold %g is below NegThreshold %g", o.PosThreshold, o.NegThreshold)
	}
	return nil
}

// augmentedQuery is the outcome of AugmentQuery with the counts Stats needs.
type augmentedQuery struct {
	havePos bool
	pos     string
	negs    []string
	examined
}

// AugmentQuery pseudo-labels one unlabelled query (construct_unlabel_train_de.py). The pseudo-positive is the
// single highest-CE-scoring Scored candidate of the top TopK if its score is strictly above PosThreshold (on a tie
// the better-ranked one). The negatives are the Scored top-TopK candidates with CE < NegThreshold, in rank order,
// without repeats and excluding the pseudo-positive, up to NegCount. ok is false when there is no pseudo-positive
// or no negative. Zero option fields take their defaults (see AugmentOptions).
func AugmentQuery(cands []Candidate, o AugmentOptions) (pos string, negs []string, ok bool) {
	a := augmentQuery(cands, o.withDefaults())
	if !a.havePos || len(a.negs) == 0 {
		return "", nil, false
	}
	return a.pos, a.negs, true
}

func augmentQuery(cands []Candidate, o AugmentOptions) augmentedQuery {
	var a augmentedQuery
	cands = inRankOrder(cands)
	best := o.PosThreshold
	for _, c := range cands {
		if c.Rank > o.TopK {
			break
		}
		if c.Scored && float64(c.CEScore) > best {
			best = float64(c.CEScore)
			a.pos, a.havePos = c.PID, true
		}
	}
	if !a.havePos {
		return a
	}
	// The pseudo-positive is excluded by exact pid comparison. The official script writes `_pid in pos_qp[qid]`
	// where pos_qp[qid] is the pseudo-positive's pid string, a substring test: it also drops every candidate whose
	// pid is a substring of the pseudo-positive's (pid "12" when the pseudo-positive is "3125"). That is a bug and
	// is deliberately not reproduced.
	a.negs = ceNegatives(cands, o.TopK, o.NegCount, o.NegThreshold, map[string]bool{a.pos: true}, map[string]bool{}, &a.examined)
	return a
}

// Augment writes a dual.train.tsv of pseudo-labelled training lines for unlabelled queries
// (construct_unlabel_train_de.py): for each query of in.QIDs, in that order, one line (query, pseudo-positive,
// negative) per negative found by AugmentQuery. in.Positives and in.Additional are ignored. Queries without
// candidates, without a pseudo-positive or without a negative are skipped and counted. A missing query text or
// passage is an error and leaves no file. The output is written atomically.
//
// The result is usually concatenated after the step-3 file with Merge (the official `cat de1 unlabel > de2`).
// When ctx ends, Augment returns ctx.Err() (checked every checkEvery queries) and leaves no file.
func Augment(ctx context.Context, in MineInput, o AugmentOptions, out string) (Stats, error) {
	o = o.withDefaults()
	return writeQueries(ctx, "Augment", in, o.validate(), out, func(st *Stats, qid string, lines []pidPair) []pidPair {
		cands := in.Candidates[qid]
		if len(cands) == 0 {
			st.SkippedNoCandidates++
			return lines // none
		}
		a := augmentQuery(cands, o)
		st.addExamined(a.examined)
		if !a.havePos {
			st.SkippedNoPseudoPositive++
			return lines // none
		}
		if len(a.negs) == 0 {
			st.SkippedNoNegatives++
			return lines // none
		}
		st.Positives++
		st.CENegatives += len(a.negs)
		for _, n := range a.negs {
			lines = append(lines, pidPair{a.pos, n})
		}
		return lines
	})
}
