package rocketqa

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/retrieval"
)

// Building blocks of the 4-step pipeline (docs/method.md §3.4) that sit between the stages: labelled training queries,
// cross-encoder training data from a retrieval run, and cross-encoder scoring of a run.

// LabelledQueries are training queries with ids and their positive passages.
type LabelledQueries struct {
	QIDs      []string
	Text      map[string]string
	Positives map[string][]string
}

// QueriesFromDualTrain recovers labelled queries from a DuReader-style dual.train.tsv (which has no ids): each
// distinct query becomes q<N> (first-appearance order), and its positive passages are found in pool by their text
// (title + text): every pid of the pool with that title and text, in pool order. Lines whose positive is not in the
// pool are counted in missing.
func QueriesFromDualTrain(ctx context.Context, path string, pool *dataset.Passages) (lq *LabelledQueries, missing int, err error) {
	// every pid of a text: a passage the collection holds twice is the positive under both pids (one left out
	// could be mined as a negative with the positive's very text)
	byText := make(map[[2]string][]string, pool.Len())
	for i := 0; i < pool.Len(); i++ {
		p := pool.At(i)
		k := [2]string{p.Title, p.Text}
		byText[k] = append(byText[k], p.PID)
	}
	exs, err := ReadDualExamples(ctx, path)
	if err != nil {
		return nil, 0, err
	}
	lq = &LabelledQueries{Text: map[string]string{}, Positives: map[string][]string{}}
	ids := map[string]string{}
	for _, ex := range exs {
		qid, ok := ids[ex.Query]
		if !ok {
			qid = fmt.Sprintf("q%d", len(ids))
			ids[ex.Query] = qid
			lq.QIDs = append(lq.QIDs, qid)
			lq.Text[qid] = ex.Query
		}
		pids, ok := byText[[2]string{ex.PosTitle, ex.PosPara}]
		if !ok {
			missing++
			continue
		}
		for _, pid := range pids {
			if !slices.Contains(lq.Positives[qid], pid) {
				lq.Positives[qid] = append(lq.Positives[qid], pid)
			}
		}
	}
	return lq, missing, nil
}

// Split divides the queries by a seeded shuffle: the first share stays labelled, the rest is returned as unlabelled
// query ids (their positives are dropped), the way the small pipeline preset simulates step 4's unlabelled queries.
func (lq *LabelledQueries) Split(share float64, seed uint64) (labelled *LabelledQueries, unlabelled []string) {
	ids := slices.Clone(lq.QIDs)
	rand.New(rand.NewPCG(seed, 3)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	n := int(share * float64(len(ids)))
	keep := map[string]bool{}
	for _, q := range ids[:n] {
		keep[q] = true
	}
	labelled = &LabelledQueries{Text: lq.Text, Positives: map[string][]string{}}
	for _, q := range lq.QIDs {
		if keep[q] {
			labelled.QIDs = append(labelled.QIDs, q)
			labelled.Positives[q] = lq.Positives[q]
		} else {
			unlabelled = append(unlabelled, q)
		}
	}
	return labelled, unlabelled
}

// Texts returns the query texts of qids in order.
func (lq *LabelledQueries) Texts(qids []string) []string {
	out := make([]string, len(qids))
	for i, q := range qids {
		out[i] = lq.Text[q]
	}
	return out
}

// WriteDualTrain writes the labelled queries with one random negative (not a positive) per positive, as the
// random-negative training file of step 1.
func (lq *LabelledQueries) WriteDualTrain(path string, pool *dataset.Passages, seed uint64) error {
	w, err := dataset.CreateDualTrain(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 5))
	for _, q := range lq.QIDs {
		for _, pos := range lq.Positives[q] {
			pp, ok := pool.Get(pos)
			if !ok {
				w.Abort()
				return fmt.Errorf("rocketqa: positive %s of %s is not in the collection", pos, q)
			}
			var neg dataset.Passage
			for {
				neg = pool.At(r.IntN(pool.Len()))
				if !slices.Contains(lq.Positives[q], neg.PID) {
					break
				}
			}
			if err := w.Write(dataset.DualExample{Query: lq.Text[q], PosTitle: pp.Title, PosPara: pp.Text, NegTitle: neg.Title, NegPara: neg.Text}); err != nil {
				w.Abort()
				return err
			}
		}
	}
	return w.Close()
}

// WriteCrossTrain builds the cross-encoder training file of step 2 as construct_marco_train_ce.py does: every
// positive with label 1, and negPerQuery negatives sampled uniformly (seeded) from the query's retrieved passages
// that are not positives, label 0.
func WriteCrossTrain(path string, lq *LabelledQueries, hits [][]retrieval.Hit, pool *dataset.Passages, negPerQuery int, seed uint64) error {
	if len(hits) != len(lq.QIDs) {
		return fmt.Errorf("rocketqa: %d hit lists for %d queries", len(hits), len(lq.QIDs))
	}
	w, err := dataset.CreateCrossTrain(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 111))
	for i, q := range lq.QIDs {
		pos := lq.Positives[q]
		for _, pid := range pos {
			p, ok := pool.Get(pid)
			if !ok {
				w.Abort()
				return fmt.Errorf("rocketqa: positive %s of %s is not in the collection", pid, q)
			}
			if err := w.Write(dataset.CrossExample{Query: lq.Text[q], Title: p.Title, Para: p.Text, Label: 1}); err != nil {
				w.Abort()
				return err
			}
		}
		var cands []string
		for _, h := range hits[i] {
			if !slices.Contains(pos, h.PID) {
				cands = append(cands, h.PID)
			}
		}
		r.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
		for _, pid := range cands[:min(negPerQuery, len(cands))] {
			p, _ := pool.Get(pid)
			if err := w.Write(dataset.CrossExample{Query: lq.Text[q], Title: p.Title, Para: p.Text, Label: 0}); err != nil {
				w.Abort()
				return err
			}
		}
	}
	return w.Close()
}

// ScoreRun re-scores the top-k passages of each query with a cross-encoder and returns them re-ranked by CE score
// (the CE run that denoise.LoadCandidates reads: qid, pid, rank, CE score): ScoreHits into memory.
func ScoreRun(ctx context.Context, rr *Reranker, queries []string, hits [][]retrieval.Hit, pool *dataset.Passages, k int) ([][]retrieval.Hit, error) {
	qids := make([]string, len(hits))
	for i := range qids {
		qids[i] = fmt.Sprint(i)
	}
	var out [][]retrieval.Hit
	err := ScoreHits(ctx, rr, qids, queries, hits, pool, ScoreOptions{TopK: k}, func(_ string, h []dataset.Hit) error {
		out = append(out, h)
		return nil
	})
	return out, err
}
