package denoise

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/rocketqa-go/rocketqa/internal/ctxread"
)

// runLine is one parsed line of a run file.
type runLine struct {
	qid, pid []byte // valid until the next line
	rank     int
	score    float64 // only read when the scanner is asked for scores
}

// scanRun calls fn for every non-blank line of a run file "qid \t pid \t rank [\t score]" with its 1-based line
// number. needScore demands the fourth column and a finite score; otherwise a fourth column is not read. Errors
// name the file and line. When ctx ends it returns ctx.Err() within a second, also from a blocked read (a FIFO).
func scanRun(ctx context.Context, path string, needScore bool, fn func(lineNo int, l runLine) error) error {
	f, stop, err := ctxread.OpenCloser(ctx, path)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("denoise: %w", err)
	}
	defer stop()
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	lineNo := 0
	bad := func(format string, a ...any) error {
		return fmt.Errorf("denoise: %s:%d: %s", path, lineNo, fmt.Sprintf(format, a...))
	}
	var cols [4][]byte
	for sc.Scan() {
		lineNo++
		if lineNo%(16*checkEvery) == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line := bytes.TrimSuffix(sc.Bytes(), []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n := bytes.Count(line, []byte{'\t'}) + 1
		if n <= len(cols) {
			rest := line
			for i := 0; i < n-1; i++ {
				j := bytes.IndexByte(rest, '\t')
				cols[i], rest = rest[:j], rest[j+1:]
			}
			cols[n-1] = rest
		}
		switch {
		case needScore && n != 4:
			return bad("want 4 tab-separated columns (qid, pid, rank, score), got %d", n)
		case n != 3 && n != 4:
			return bad("want 3 or 4 tab-separated columns (qid, pid, rank[, score]), got %d", n)
		}
		l := runLine{qid: bytes.TrimSpace(cols[0]), pid: bytes.TrimSpace(cols[1])}
		if len(l.qid) == 0 {
			return bad("empty qid")
		}
		if len(l.pid) == 0 {
			return bad("empty pid")
		}
		if l.rank, err = strconv.Atoi(string(bytes.TrimSpace(cols[2]))); err != nil || l.rank < 1 {
			return bad("rank %q is not a positive integer", cols[2])
		}
		if n == 4 && needScore {
			v, err := strconv.ParseFloat(string(bytes.TrimSpace(cols[3])), 64)
			if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = errors.New("not finite")
			}
			if err != nil {
				return bad("score %q is not a finite number", cols[3])
			}
			l.score = v
		}
		if err := fn(lineNo, l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil { // the cancellation closed the file
			return ctx.Err()
		}
		lineNo++
		return bad("%v", err)
	}
	return ctx.Err() // a read cut short by the cancellation looks like the end of the file
}

// findLines rescans a run file for the lines of qid that match (used to name lines in errors found after
// loading).
func findLines(path, qid string, match func(l runLine) bool) []int {
	var lines []int
	scanRun(context.Background(), path, false, func(lineNo int, l runLine) error {
		if string(l.qid) == qid && match(l) {
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
// cross-encoder-scored run of its top ranks (TSV "qid \t pid \t rank \t score" where score is the CE score, e.g.
// the CE's probability of relevance) into per-query candidates. Candidates carry the dual-encoder ranks and come
// sorted by them; those the CE run names are Scored with its score (stored as float32). The CE run's rank column is
// checked but not used: its rows are matched by (qid, pid). The qids come back in order of first appearance in the
// dual-encoder run.
//
// Errors name the file and line: a malformed line, a rank or pid repeated for one query of the dual-encoder run, a
// CE row repeated, and a CE row whose qid or pid is missing from the dual-encoder run. When ctx ends,
// LoadCandidates returns ctx.Err() within a second, also while a read is blocked (a run file that is a FIFO).
func LoadCandidates(ctx context.Context, deRun, ceRun string) (map[string][]Candidate, []string, error) {
	// The CE run first: it is the small one (top 50 of each query).
	ce := map[string][]ceRow{}
	var ceQIDs []string
	var lastQID string
	err := scanRun(ctx, ceRun, true, func(lineNo int, l runLine) error {
		if string(l.qid) != lastQID {
			lastQID = string(l.qid)
		}
		rows, ok := ce[lastQID]
		if !ok {
			ceQIDs = append(ceQIDs, lastQID)
		}
		ce[lastQID] = append(rows, ceRow{pid: string(l.pid), score: float32(l.score), line: lineNo})
		return nil
	})
	if err != nil {
		return nil, nil, err
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
	err = scanRun(ctx, deRun, false, func(lineNo int, l runLine) error {
		if string(l.qid) != lastQID {
			flush()
			lastQID = string(l.qid)
			prev, seen := cands[lastQID]
			if !seen {
				qids = append(qids, lastQID)
				// Runs have the same depth for every query: size the slice like the previous one.
				prev = make([]Candidate, 0, max(len(cur), 16))
			}
			cur = prev
		}
		cur = append(cur, Candidate{PID: string(l.pid), Rank: l.rank})
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
				lines := findLines(deRun, q, func(l runLine) bool { return l.rank == x.Rank })
				return nil, nil, fmt.Errorf("denoise: %s: qid %q has rank %d more than once (lines %v)", deRun, q, x.Rank, lines)
			}
			if j, dup := index[x.PID]; dup {
				lines := findLines(deRun, q, func(l runLine) bool { return string(l.pid) == x.PID })
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
