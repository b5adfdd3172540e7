package denoise

import (
	"context"
	"fmt"
	"slices"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// scanRun calls fn for every line of a run file (dataset.OpenRun: "qid \t pid \t rank [\t score]", blank lines
// skipped) with its 1-based line number. needScore demands the fourth column. Errors name the file and line. When
// ctx ends it returns its error soon, also from a blocked read (a FIFO).
func scanRun(ctx context.Context, path string, needScore bool, fn func(lineNo int, e dataset.RunEntry) error) error {
	r, err := dataset.OpenRun(path, dataset.Options{Context: ctx})
	if err != nil {
		return fmt.Errorf("denoise: %w", err)
	}
	defer r.Close()
	if !needScore {
		r.IgnoreScores()
	}
	for r.Next() {
		e := r.Entry()
		if needScore && !e.HasScore {
			return fmt.Errorf("denoise: %s:%d: want 4 tab-separated columns (qid, pid, rank, score), got 3", path, r.Line())
		}
		if err := fn(r.Line(), e); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("denoise: %w", err)
	}
	return nil
}

// findLines rescans a run file for the lines of qid that match (used to name lines in errors found after
// loading).
func findLines(path, qid string, match func(l dataset.RunEntry) bool) []int {
	var lines []int
	scanRun(context.Background(), path, false, func(lineNo int, l dataset.RunEntry) error {
		if l.QID == qid && match(l) {
			lines = append(lines, lineNo)
		}
		return nil
	})
	return lines
}

// ceRow is one line of the cross-encoder run.
type ceRow struct {
	pid   string
	score float32
	line  int
}

// LoadCandidates merges a dual-encoder run (TSV "qid \t pid \t rank [\t score]", e.g. res.top1000) with a
// cross-encoder-scored run of its top ranks (TSV "qid \t pid \t rank \t score" where score is the CE's probability
// of relevance, in [0, 1], which the thresholds of Mine, Augment and jointtrain.BuildLists are for) into per-query
// candidates. Candidates carry the dual-encoder ranks and come
// sorted by them; those the CE run names are Scored with its score (stored as float32). The CE run's rank column is
// checked but not used: its rows are matched by (qid, pid). The qids come back in order of first appearance in the
// dual-encoder run.
//
// Errors name the file and line: a malformed line, a rank or pid repeated for one query of the dual-encoder run, a
// CE row repeated, a CE score outside [0, 1] (a logit), a CE row whose qid or pid is missing from the dual-encoder
// run, and a run without lines.
func LoadCandidates(ctx context.Context, deRun, ceRun string) (map[string][]Candidate, []string, error) {
	// The CE run first: it is the small one (top 50 of each query).
	ce := map[string][]ceRow{}
	var ceQIDs []string
	var lastQID string
	err := scanRun(ctx, ceRun, true, func(lineNo int, l dataset.RunEntry) error {
		if !(l.Score >= 0 && l.Score <= 1) {
			return fmt.Errorf("denoise: %s:%d: CE score %g is outside [0, 1]: want the cross-encoder's probability of relevance (a v2-head cross-encoder's 'score' writes logits)", ceRun, lineNo, l.Score)
		}
		rows, ok := ce[l.QID]
		if !ok {
			ceQIDs = append(ceQIDs, l.QID)
		}
		ce[l.QID] = append(rows, ceRow{pid: l.PID, score: float32(l.Score), line: lineNo})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(ceQIDs) == 0 {
		return nil, nil, fmt.Errorf("denoise: %s: the cross-encoder run has no lines", ceRun)
	}

	// The dual-encoder run.
	cands := map[string][]Candidate{}
	var qids []string
	lastQID = ""
	var cur []Candidate
	flush := func() {
		if lastQID != "" {
			cands[lastQID] = cur
		}
	}
	err = scanRun(ctx, deRun, false, func(lineNo int, l dataset.RunEntry) error {
		if l.QID != lastQID {
			flush()
			lastQID = l.QID
			prev, seen := cands[lastQID]
			if !seen {
				qids = append(qids, lastQID)
				// Runs have the same depth for every query: size the slice like the previous one.
				prev = make([]Candidate, 0, max(len(cur), 16))
			}
			cur = prev
		}
		cur = append(cur, Candidate{PID: l.PID, Rank: l.Rank})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	flush()
	if len(qids) == 0 {
		return nil, nil, fmt.Errorf("denoise: %s: the dual-encoder run has no lines", deRun)
	}

	// Per query: rank order, no repeated rank or pid, attach the CE scores.
	index := map[string]int{}
	for _, q := range qids {
		c := cands[q]
		if !slices.IsSortedFunc(c, byRank) {
			slices.SortStableFunc(c, byRank)
		}
		clear(index)
		for i, x := range c {
			if i > 0 && c[i-1].Rank == x.Rank {
				lines := findLines(deRun, q, func(l dataset.RunEntry) bool { return l.Rank == x.Rank })
				return nil, nil, fmt.Errorf("denoise: %s: qid %q has rank %d more than once (lines %v)", deRun, q, x.Rank, lines)
			}
			if j, dup := index[x.PID]; dup {
				lines := findLines(deRun, q, func(l dataset.RunEntry) bool { return l.PID == x.PID })
				return nil, nil, fmt.Errorf("denoise: %s: qid %q has pid %q twice (ranks %d and %d, lines %v)", deRun, q, x.PID, c[j].Rank, x.Rank, lines)
			}
			index[x.PID] = i
		}
		for _, r := range ce[q] {
			i, ok := index[r.pid]
			if !ok {
				return nil, nil, fmt.Errorf("denoise: %s:%d: qid %q pid %q is not among the candidates of that query in the dual-encoder run %s", ceRun, r.line, q, r.pid, deRun)
			}
			if c[i].Scored {
				first := slices.IndexFunc(ce[q], func(x ceRow) bool { return x.pid == r.pid })
				return nil, nil, fmt.Errorf("denoise: %s:%d: qid %q pid %q is scored again (first on line %d)", ceRun, r.line, q, r.pid, ce[q][first].line)
			}
			c[i].CEScore, c[i].Scored = r.score, true
		}
		delete(ce, q)
	}
	for _, q := range ceQIDs {
		if rows, left := ce[q]; left {
			return nil, nil, fmt.Errorf("denoise: %s:%d: qid %q is not in the dual-encoder run %s", ceRun, rows[0].line, q, deRun)
		}
	}
	return cands, qids, nil
}

// Files names the inputs that Mine and Augment share: the dual-encoder run, its cross-encoder scores (see
// LoadCandidates), the query texts (any format of dataset.ReadQueries) and the passages (a DuReader collection
// directory, or a pid\tpassage file with an optional pid\ttitle file: dataset.LoadPassages).
type Files struct {
	DERun, CERun, Queries, Collection, Titles string
}

// LoadInput loads the candidates, the query texts and the passages that the candidates and the extra pids of
// each query (its positives, for Mine) name, as a MineInput without positives.
func LoadInput(ctx context.Context, f Files, extra map[string][]string) (MineInput, error) {
	var in MineInput
	cands, qids, err := LoadCandidates(ctx, f.DERun, f.CERun)
	if err != nil {
		return in, err
	}
	qs, texts, err := dataset.ReadQueries(f.Queries)
	if err != nil {
		return in, err
	}
	in.QIDs, in.Candidates, in.Queries = qids, cands, make(map[string]string, len(qs))
	for i, q := range qs {
		in.Queries[q] = texts[i]
	}
	need := map[string]bool{}
	for _, q := range qids {
		for _, c := range cands[q] {
			need[c.PID] = true
		}
		for _, p := range extra[q] {
			need[p] = true
		}
	}
	in.Passages, err = dataset.LoadPassages(f.Collection, f.Titles, need)
	return in, err
}
