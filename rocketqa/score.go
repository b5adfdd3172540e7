package rocketqa

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// ScoreOptions tune ScoreHits.
type ScoreOptions struct {
	TopK int // passages of each query scored (the official: 50); 0: all of them
	// Progress, when set, is called with the number of pairs scored and the total.
	Progress func(done, total int)
}

// byScore orders hits by descending score.
func byScore(a, b dataset.Hit) int {
	switch {
	case a.Score > b.Score:
		return -1
	case a.Score < b.Score:
		return 1
	}
	return 0
}

// ScoreHits re-scores the top passages of each query (queries[i] is the text of qids[i], hits[i] its hits in
// rank order) with a cross-encoder and hands each query's hits, re-ranked by CE score (ties keep the retrieval
// order), to emit in query order. It streams: the pairs of about 8 batches of whole queries are scored at a time.
// A retrieved pid missing from pool is an error naming the query.
func ScoreHits(ctx context.Context, rr *Reranker, qids, queries []string, hits [][]dataset.Hit, pool *dataset.Passages, o ScoreOptions, emit func(qid string, hits []dataset.Hit) error) error {
	if len(qids) != len(hits) || len(queries) != len(hits) {
		return fmt.Errorf("rocketqa: ScoreHits: %d qids, %d queries, %d hit lists", len(qids), len(queries), len(hits))
	}
	top := func(i int) []dataset.Hit {
		if o.TopK > 0 && len(hits[i]) > o.TopK {
			return hits[i][:o.TopK]
		}
		return hits[i]
	}
	total := 0
	for i, q := range qids {
		for _, h := range top(i) {
			if _, ok := pool.Get(h.PID); !ok {
				return fmt.Errorf("rocketqa: qid %q: retrieved passage %q is not in the collection", q, h.PID)
			}
		}
		total += len(top(i))
	}
	group := 8 * max(rr.BatchSize, 1)
	r, done := *rr, 0
	for start := 0; start < len(qids); {
		end, n := start, 0
		for end < len(qids) && (n == 0 || n+len(top(end)) <= group) {
			n += len(top(end))
			end++
		}
		var qq, tt, pp []string
		for i := start; i < end; i++ {
			for _, h := range top(i) {
				p, _ := pool.Get(h.PID)
				qq, tt, pp = append(qq, queries[i]), append(tt, p.Title), append(pp, p.Text)
			}
		}
		if o.Progress != nil {
			r.Progress = func(d, _ int) { o.Progress(done+d, total) }
		}
		scores, err := r.Score(ctx, qq, tt, pp)
		if err != nil {
			return err
		}
		for i := start; i < end; i++ {
			re := make([]dataset.Hit, len(top(i)))
			for j, h := range top(i) {
				re[j], scores = dataset.Hit{PID: h.PID, Score: scores[0]}, scores[1:]
			}
			slices.SortStableFunc(re, byScore)
			if err := emit(qids[i], re); err != nil {
				return err
			}
		}
		done += n
		start = end
	}
	return nil
}

// ScoreFiles is a re-scoring from and to files: a run, the query texts (any format of dataset.ReadQueries), the
// passages (a DuReader collection directory, or a pid\tpassage file with an optional pid\ttitle file) and the
// run files to write.
type ScoreFiles struct {
	Run, Queries, Collection, Titles string
	Out, JSON                        string
}

// ScoreInfo describes a scoring job once its inputs are read (for the log).
type ScoreInfo struct {
	Queries, Pairs int
}

// ScoreToFiles reads the top-k of every query of a run, their query texts and passages (only the needed ones),
// re-scores them with ScoreHits and streams the re-ranked run to the output files, which appear only when it
// succeeded: the CE run that denoise.LoadCandidates reads (qid, pid, rank, CE score). start, when set, is called
// once the inputs are read.
func ScoreToFiles(ctx context.Context, rr *Reranker, f ScoreFiles, o ScoreOptions, start func(ScoreInfo)) error {
	ro := dataset.Options{Context: ctx}
	qids, hits, err := dataset.ReadRun(f.Run, o.TopK, ro)
	if err != nil {
		return err
	}
	if len(qids) == 0 {
		return fmt.Errorf("%s: empty run file", f.Run)
	}
	qs, qt, err := dataset.ReadQueries(f.Queries, ro)
	if err != nil {
		return err
	}
	text := make(map[string]string, len(qs))
	for i, q := range qs {
		text[q] = qt[i]
	}
	queries, need, pairs := make([]string, len(qids)), map[string]bool{}, 0
	for i, q := range qids {
		t, ok := text[q]
		if !ok {
			return fmt.Errorf("%s: qid %q has no text in %s", f.Run, q, f.Queries)
		}
		queries[i] = t
		for _, h := range hits[i] {
			need[h.PID] = true
		}
		pairs += len(hits[i])
	}
	pool, err := dataset.LoadPassages(f.Collection, f.Titles, need, ro)
	if err != nil {
		return err
	}
	if pool.Len() < len(need) {
		return missingPassage(f, qids, hits, pool, len(need))
	}
	if start != nil {
		start(ScoreInfo{Queries: len(qids), Pairs: pairs})
	}
	w, err := dataset.CreateRun(f.Out, f.JSON)
	if err != nil {
		return err
	}
	if err := ScoreHits(ctx, rr, qids, queries, hits, pool, o, w.Write); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

func missingPassage(f ScoreFiles, qids []string, hits [][]dataset.Hit, pool *dataset.Passages, need int) error {
	for i, q := range qids {
		for _, h := range hits[i] {
			if _, ok := pool.Get(h.PID); !ok {
				return fmt.Errorf("%s: qid %q pid %q is not in the collection %s (%d of %d pids missing)", f.Run, q, h.PID, f.Collection, need-pool.Len(), need)
			}
		}
	}
	return fmt.Errorf("%s: passages missing from %s", f.Run, f.Collection)
}

// exists reports whether a path exists.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
