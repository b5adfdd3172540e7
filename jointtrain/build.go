package jointtrain

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/rocketqa/denoise"
)

// ListOptions configure BuildLists. Zero values take the defaults in brackets.
type ListOptions struct {
	M    int // list size (required; the official: 128 MS MARCO, 32 NQ)
	TopN int // the dual encoder's top ranks the negatives come from [50]
	// NegThreshold: in denoised lists a negative has a cross-encoder score below it [0.1]; PosThreshold: an
	// unlabelled query's pseudo-positive scores above it [0.9] (scores as 'rocketqa score' writes them:
	// P(relevant) of a v1 cross-encoder).
	NegThreshold, PosThreshold float64
	Seed                       uint64 // [1]
	// NoDenoised writes the undenoised lists only (the paper's "without denoised instances" ablation).
	NoDenoised bool
}

// ListStats counts what BuildLists wrote and skipped.
type ListStats struct {
	Undenoised, Denoised, PseudoPositive int // lists written (PseudoPositive: denoised lists of unlabelled queries)
	ShortUndenoised, ShortDenoised       int // queries skipped for too few negatives
	NoPassage                            int // queries skipped because a positive is not in the collection
}

func (s ListStats) String() string {
	return fmt.Sprintf("%d undenoised + %d denoised lists (%d of unlabelled queries with a pseudo-positive); skipped: %d undenoised and %d denoised for too few negatives, %d without the positive's text",
		s.Undenoised, s.Denoised, s.PseudoPositive, s.ShortUndenoised, s.ShortDenoised, s.NoPassage)
}

// BuildLists writes the RocketQA v2 training lists (paper section 3.3) to out, atomically, as the official
// "rand + aug" files are laid out: first the undenoised lists (for each query with a positive: the positive and
// M−1 negatives drawn at random from the dual encoder's top TopN, positives and additional positives excluded),
// then the denoised lists (negatives only among the top TopN with a cross-encoder score below NegThreshold;
// queries without a positive take their best-scored candidate above PosThreshold as the positive). A query with
// too few candidates is skipped and counted. PosThreshold must not be below NegThreshold. in is what 'rocketqa mine' reads (a DE run, its CE scores, query
// texts, positives, passages).
func BuildLists(in denoise.MineInput, o ListOptions, out string) (ListStats, error) {
	var st ListStats
	if o.M < 2 {
		return st, fmt.Errorf("jointtrain: list size %d: want at least 2", o.M)
	}
	if o.TopN == 0 {
		o.TopN = 50
	}
	if o.NegThreshold == 0 {
		o.NegThreshold = 0.1
	}
	if o.PosThreshold == 0 {
		o.PosThreshold = 0.9
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.PosThreshold < o.NegThreshold { // else a pseudo-positive could also be drawn as a negative of its list
		return st, fmt.Errorf("jointtrain: PosThreshold %g is below NegThreshold %g", o.PosThreshold, o.NegThreshold)
	}
	if o.TopN < o.M-1 {
		return st, fmt.Errorf("jointtrain: top %d candidates cannot give %d negatives per list", o.TopN, o.M-1)
	}
	w, err := dataset.CreateJointLists(out, o.M)
	if err != nil {
		return st, err
	}
	ok := false
	defer func() {
		if !ok {
			w.Abort()
		}
	}()
	item := func(pid string, label int) (dataset.CrossExample, bool) {
		p, found := in.Passages.Get(pid)
		return dataset.CrossExample{Title: p.Title, Para: p.Text, Label: label}, found
	}
	rng := func(qid string, pass uint64) *rand.Rand {
		h := fnv.New64a()
		h.Write([]byte(qid))
		return rand.New(rand.NewPCG(o.Seed, h.Sum64()^pass))
	}
	write := func(qid, pos string, negs []string) (bool, error) {
		l := dataset.JointList{Query: in.Queries[qid]}
		it, found := item(pos, 1)
		if !found {
			st.NoPassage++
			return false, nil
		}
		l.Items = append(l.Items, it)
		for _, n := range negs {
			it, found := item(n, 0)
			if !found {
				return false, fmt.Errorf("jointtrain: query %s: candidate %s is not in the collection", qid, n)
			}
			l.Items = append(l.Items, it)
		}
		return true, w.Write(l)
	}
	pick := func(r *rand.Rand, c []string) []string {
		r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		return c[:o.M-1]
	}
	for pass := 0; pass < 2; pass++ {
		if pass == 1 && o.NoDenoised {
			break
		}
		for _, qid := range in.QIDs {
			if _, has := in.Queries[qid]; !has {
				return st, fmt.Errorf("jointtrain: qid %q of the run has no query text", qid)
			}
			pos := in.Positives[qid]
			excl := append(slices.Clone(pos), in.Additional[qid]...)
			var cands []string
			best, bestScore := "", float32(0)
			for _, c := range in.Candidates[qid] {
				if c.Rank > o.TopN || slices.Contains(excl, c.PID) {
					continue
				}
				if pass == 1 {
					if !c.Scored {
						continue
					}
					if float64(c.CEScore) > o.PosThreshold && (best == "" || c.CEScore > bestScore) {
						best, bestScore = c.PID, c.CEScore
					}
					if float64(c.CEScore) >= o.NegThreshold {
						continue
					}
				}
				cands = append(cands, c.PID)
			}
			p := ""
			switch {
			case len(pos) > 0:
				p = pos[0]
			case pass == 1 && best != "":
				p = best
			default:
				continue // unlabelled: undenoised lists need a real positive
			}
			if len(cands) < o.M-1 {
				if pass == 0 {
					st.ShortUndenoised++
				} else {
					st.ShortDenoised++
				}
				continue
			}
			wrote, err := write(qid, p, pick(rng(qid, uint64(pass)), cands))
			if err != nil {
				return st, err
			}
			if wrote {
				if pass == 0 {
					st.Undenoised++
				} else {
					st.Denoised++
					if len(pos) == 0 {
						st.PseudoPositive++
					}
				}
			}
		}
	}
	if st.Undenoised+st.Denoised == 0 {
		return st, fmt.Errorf("jointtrain: no list of %d could be built (%s)", o.M, st)
	}
	if err := w.Close(); err != nil {
		return st, err
	}
	ok = true
	return st, nil
}
