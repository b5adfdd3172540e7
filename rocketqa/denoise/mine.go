package denoise

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// Candidate is one retrieved passage of a query: its 1-based rank in the dual-encoder run and, for the top ranks
// that the cross-encoder scored, its CE score (Scored=false otherwise).
type Candidate struct {
	PID     string
	Rank    int
	CEScore float32
	Scored  bool
}

// MineOptions are the knobs of denoised hard-negative mining (step 3 of the RocketQA v1 pipeline). A zero field
// takes its default, given in brackets; DefaultMineOptions returns them all.
type MineOptions struct {
	// Threshold is the CE score below which a retrieved passage is a confident negative [0.1]. The comparison is
	// strict: a passage scored exactly Threshold is not a negative. CE scores are float32, compared as
	// float64(score) < Threshold.
	Threshold float64
	// NegPerPos is the number of negatives per positive [4].
	NegPerPos int
	// TopK is the deepest rank examined with the CE filter [50].
	TopK int
	// FillFrom and FillTo bound the ranks of the random fill used when the CE filter found too few negatives
	// [TopK+1 and 1000]. FillFrom must be above TopK, so the fill never takes a passage the CE filter rejected.
	// A negative FillFrom disables the fill.
	FillFrom, FillTo int
	// Seed seeds the random fill and Sample [1].
	Seed uint64
	// Sample draws the CE negatives uniformly (without replacement) from every top-K candidate that passes the CE
	// filter, instead of taking the first ones in rank order as the official scripts do [false]: less hard
	// negatives, and fewer of the near-duplicates of the positive that the top ranks can hold (as
	// sentence-transformers' mine_hard_negatives with sampling_strategy "random").
	Sample bool
}

// DefaultMineOptions returns the settings of the official construct_marco_train_de.py: threshold 0.1, 4 negatives
// per positive, CE filter on the top 50, fill from ranks 51-1000, seed 1.
func DefaultMineOptions() MineOptions {
	return MineOptions{Threshold: 0.1, NegPerPos: 4, TopK: 50, FillFrom: 51, FillTo: 1000, Seed: 1}
}

// withDefaults replaces zero fields by their defaults.
func (o MineOptions) withDefaults() MineOptions {
	d := DefaultMineOptions()
	if o.Threshold == 0 {
		o.Threshold = d.Threshold
	}
	if o.NegPerPos == 0 {
		o.NegPerPos = d.NegPerPos
	}
	if o.TopK == 0 {
		o.TopK = d.TopK
	}
	if o.FillFrom == 0 {
		o.FillFrom = o.TopK + 1
	}
	if o.FillTo == 0 {
		o.FillTo = d.FillTo
	}
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	return o
}

// fill reports whether the random fill is enabled.
func (o MineOptions) fill() bool { return o.FillFrom >= 0 }

// validate checks options after withDefaults.
func (o MineOptions) validate() error {
	switch {
	case o.NegPerPos < 0:
		return fmt.Errorf("denoise: MineOptions.NegPerPos %d is negative", o.NegPerPos)
	case o.TopK < 0:
		return fmt.Errorf("denoise: MineOptions.TopK %d is negative", o.TopK)
	case o.fill() && o.FillFrom <= o.TopK:
		return fmt.Errorf("denoise: MineOptions.FillFrom %d must be above TopK %d (the fill must not take passages the CE filter examined)", o.FillFrom, o.TopK)
	case o.fill() && o.FillTo < o.FillFrom:
		return fmt.Errorf("denoise: MineOptions.FillTo %d is below FillFrom %d", o.FillTo, o.FillFrom)
	}
	return nil
}

// byRank orders candidates by rank.
func byRank(a, b Candidate) int { return a.Rank - b.Rank }

// inRankOrder returns cands sorted by rank, copying only when they are not sorted already.
func inRankOrder(cands []Candidate) []Candidate {
	if slices.IsSortedFunc(cands, byRank) {
		return cands
	}
	c := slices.Clone(cands)
	slices.SortStableFunc(c, byRank)
	return c
}

// dedup returns ids without repeats, first occurrence kept.
func dedup(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// examined counts the top-K candidates that the CE filter looked at and did not take.
type examined struct {
	rejected int // scored, with CE >= the negative threshold
	unscored int // without a CE score
	excluded int // positives and additional positives (Mine), the pseudo-positive (Augment)
}

// ceNegatives is the CE filter of construct_marco_train_de.py and construct_unlabel_train_de.py: over cands (in
// rank order) down to rank topK, until limit are taken (all of them for a negative limit), it takes each candidate
// that is not excluded, not chosen already and Scored with CEScore < threshold, in rank order, and marks it in
// chosen. The others it counts in e.
func ceNegatives(cands []Candidate, topK, limit int, threshold float64, excluded, chosen map[string]bool, e *examined) []string {
	var negs []string
	for _, c := range cands {
		if c.Rank > topK || len(negs) == limit {
			break
		}
		switch {
		case excluded[c.PID]:
			e.excluded++
		case chosen[c.PID]:
		case !c.Scored:
			e.unscored++
		case float64(c.CEScore) < threshold:
			chosen[c.PID] = true
			negs = append(negs, c.PID)
		default:
			e.rejected++
		}
	}
	return negs
}

// minedQuery is the outcome of mining one query, with the counts Stats needs.
type minedQuery struct {
	negs   []string // CE negatives in rank order, then the fill in draw order
	fromCE int      // how many of negs came through the CE filter
	filled int      // how many came from the random fill
	examined
}

// MineQuery picks the negatives of one query following construct_marco_train_de.py: candidates in rank order from
// the top TopK; keep one if it is not a positive, not an "additional positive", not already chosen, and Scored with
// CEScore < Threshold; stop at NegPerPos*len(positives) (repeated positives count once); if short, fill with
// uniformly random picks (without replacement, excluding positives/additional/chosen) from ranks FillFrom..FillTo
// (no CE filter). With o.Sample the CE negatives are instead a uniform draw from every top-TopK candidate that
// passes the filter (in draw order; all of them, in rank order, when there are no more than needed). The result
// holds the CE negatives (in rank order without Sample) followed by the fill in draw order; it is shorter
// than NegPerPos*len(positives) when the candidates run out. The fill draws from rng; a nil rng means a generator
// seeded with o.Seed. Zero option fields take their defaults (see MineOptions); options that Mine would reject
// (a fill range overlapping the top K, say) are used as given.
func MineQuery(positives, additional []string, cands []Candidate, o MineOptions, rng *rand.Rand) []string {
	return mineQuery(positives, additional, cands, o.withDefaults(), rng).negs
}

func mineQuery(positives, additional []string, cands []Candidate, o MineOptions, rng *rand.Rand) minedQuery {
	var m minedQuery
	positives = dedup(positives)
	target := o.NegPerPos * len(positives)
	if target <= 0 {
		return m
	}
	blocked := make(map[string]bool, len(positives)+len(additional)+target)
	for _, p := range positives {
		blocked[p] = true
	}
	for _, p := range additional {
		blocked[p] = true
	}
	chosen := make(map[string]bool, target)
	cands = inRankOrder(cands)

	// 1. The CE filter over the top TopK, in rank order (Sample: every candidate that passes, then a draw).
	if o.Sample {
		pass := ceNegatives(cands, o.TopK, -1, o.Threshold, blocked, map[string]bool{}, &m.examined)
		if len(pass) > target && rng == nil {
			rng = rand.New(rand.NewPCG(o.Seed, 0))
		}
		for i := 0; i < min(target, len(pass)); i++ {
			if len(pass) > target {
				j := i + rng.IntN(len(pass)-i)
				pass[i], pass[j] = pass[j], pass[i]
			}
			chosen[pass[i]] = true
			m.negs = append(m.negs, pass[i])
		}
	} else {
		m.negs = ceNegatives(cands, o.TopK, target, o.Threshold, blocked, chosen, &m.examined)
	}
	m.fromCE = len(m.negs)
	if len(m.negs) == target || !o.fill() {
		return m
	}

	// 2. The random fill from ranks FillFrom..FillTo: uniform without replacement over the distinct eligible pids
	// (the official script draws with replacement and rejects repeats, which gives the same distribution).
	var pool []string
	for _, c := range cands {
		if c.Rank < o.FillFrom {
			continue
		}
		if c.Rank > o.FillTo {
			break
		}
		if blocked[c.PID] || chosen[c.PID] {
			continue
		}
		chosen[c.PID] = true // also dedups the pool
		pool = append(pool, c.PID)
	}
	need := min(target-len(m.negs), len(pool))
	if need > 0 && rng == nil {
		rng = rand.New(rand.NewPCG(o.Seed, 0))
	}
	for i := 0; i < need; i++ { // partial Fisher-Yates
		j := i + rng.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
		m.negs = append(m.negs, pool[i])
	}
	m.filled = need
	return m
}

// MineInput is what Mine and Augment read: the queries to process in output order, their texts, their positives
// (qrels) and additional positives (literal-match positives, never used as negatives), their candidates (see
// LoadCandidates) and the passage store that gives the titles and texts of the chosen pids.
type MineInput struct {
	QIDs       []string
	Queries    map[string]string
	Positives  map[string][]string
	Additional map[string][]string
	Candidates map[string][]Candidate
	Passages   *dataset.Passages
}

// Stats summarises a Mine or Augment run. The counters of examined candidates (Rejected, Unscored, Excluded)
// cover the candidates looked at before a query had all its negatives (with MineOptions.Sample: its whole top K).
type Stats struct {
	// Queries is the number of qids in the input.
	Queries int
	// Written is the number of queries that produced at least one line.
	Written int
	// Lines is the number of lines written.
	Lines int
	// Positives counts the positives (Mine) or pseudo-positives (Augment) of the written queries.
	Positives int
	// CENegatives counts the negatives taken by the CE filter.
	CENegatives int
	// FilledNegatives counts the negatives taken by the random fill (Mine only).
	FilledNegatives int
	// FilledQueries counts the queries that needed the random fill (Mine only).
	FilledQueries int
	// ShortQueries counts the written queries that got fewer than NegPerPos negatives per positive even after the
	// fill, and so fewer lines (Mine only).
	ShortQueries int
	// Rejected counts examined top-K candidates whose CE score was not below the negative threshold.
	Rejected int
	// Unscored counts examined top-K candidates that had no CE score.
	Unscored int
	// Excluded counts examined top-K candidates skipped for being a positive or an additional positive (Mine) or
	// the pseudo-positive (Augment).
	Excluded int
	// SkippedNoPositives counts queries without positives (Mine only).
	SkippedNoPositives int
	// SkippedNoCandidates counts queries without candidates.
	SkippedNoCandidates int
	// SkippedNoPseudoPositive counts queries whose best CE score was not above PosThreshold (Augment only).
	SkippedNoPseudoPositive int
	// SkippedNoNegatives counts queries for which no negative was found.
	SkippedNoNegatives int
}

// addExamined adds a query's counts of examined candidates.
func (s *Stats) addExamined(e examined) {
	s.Rejected += e.rejected
	s.Unscored += e.unscored
	s.Excluded += e.excluded
}

// String is a one-line summary.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queries=%d written=%d lines=%d positives=%d ce_negatives=%d filled_negatives=%d filled_queries=%d short_queries=%d",
		s.Queries, s.Written, s.Lines, s.Positives, s.CENegatives, s.FilledNegatives, s.FilledQueries, s.ShortQueries)
	fmt.Fprintf(&b, " rejected=%d unscored=%d excluded=%d", s.Rejected, s.Unscored, s.Excluded)
	fmt.Fprintf(&b, " skipped(no_positives=%d no_candidates=%d no_pseudo_positive=%d no_negatives=%d)",
		s.SkippedNoPositives, s.SkippedNoCandidates, s.SkippedNoPseudoPositive, s.SkippedNoNegatives)
	return b.String()
}

// queryRNG is the fill generator of one query: seeded with (seed, FNV-1a of the qid), so a query's negatives do
// not depend on the other queries of the input or on their order.
func queryRNG(seed uint64, qid string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(qid))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// checkQIDs rejects an empty or repeating qid list.
func checkQIDs(op string, qids []string) error {
	if len(qids) == 0 {
		return fmt.Errorf("denoise: %s: no qids", op)
	}
	seen := make(map[string]bool, len(qids))
	for _, q := range qids {
		if seen[q] {
			return fmt.Errorf("denoise: %s: qid %q is listed twice", op, q)
		}
		seen[q] = true
	}
	return nil
}

// checkEvery is how many queries (or run-file lines, times 16) are handled between two looks at the context.
const checkEvery = 256

// lineWriter turns (query, positive pid, negative pid) triples into dual.train.tsv lines.
type lineWriter struct {
	op   string
	w    *dataset.DualWriter
	ps   *dataset.Passages
	rows int
}

func (lw *lineWriter) passage(qid, pid, role string) (dataset.Passage, error) {
	p, ok := lw.ps.Get(pid)
	if !ok {
		return p, fmt.Errorf("denoise: %s: qid %q: %s pid %q is not in the passage store", lw.op, qid, role, pid)
	}
	if strings.TrimSpace(p.Text) == "" {
		return p, fmt.Errorf("denoise: %s: qid %q: %s pid %q has an empty text", lw.op, qid, role, pid)
	}
	return p, nil
}

func (lw *lineWriter) write(qid, query, pos, neg string) error {
	p, err := lw.passage(qid, pos, "positive")
	if err != nil {
		return err
	}
	n, err := lw.passage(qid, neg, "negative")
	if err != nil {
		return err
	}
	if err := lw.w.Write(dataset.DualExample{Query: query, PosTitle: p.Title, PosPara: p.Text, NegTitle: n.Title, NegPara: n.Text}); err != nil {
		return fmt.Errorf("denoise: %s: qid %q: %w", lw.op, qid, err)
	}
	lw.rows++
	return nil
}

// queryText looks up the text of a query that will be written.
func queryText(op string, in MineInput, qid string) (string, error) {
	q, ok := in.Queries[qid]
	if !ok {
		return "", fmt.Errorf("denoise: %s: qid %q has no query text", op, qid)
	}
	if strings.TrimSpace(q) == "" {
		return "", fmt.Errorf("denoise: %s: qid %q has an empty query text", op, qid)
	}
	return q, nil
}

// pidPair is one line to write: a positive (or pseudo-positive) and a negative pid.
type pidPair struct{ pos, neg string }

// writeQueries is the loop of Mine and Augment; optErr is their options' validation, returned first. For each qid
// of in.QIDs, in that order (looking at ctx every checkEvery queries), pairs appends the lines to write to buf (an
// emptied buffer reused from query to query), or none to skip the query (pairs counts why in st). The lines go to out, a dual.train.tsv committed only when every query
// succeeded. writeQueries fills Stats.Queries, Written and Lines; on an error it returns zero Stats.
func writeQueries(ctx context.Context, op string, in MineInput, optErr error, out string, pairs func(st *Stats, qid string, buf []pidPair) []pidPair) (Stats, error) {
	if optErr != nil {
		return Stats{}, optErr
	}
	if err := checkQIDs(op, in.QIDs); err != nil {
		return Stats{}, err
	}
	if in.Passages == nil {
		return Stats{}, fmt.Errorf("denoise: %s: no passage store", op)
	}
	w, err := dataset.CreateDualTrain(out)
	if err != nil {
		return Stats{}, fmt.Errorf("denoise: %s: %w", op, err)
	}
	st := Stats{Queries: len(in.QIDs)}
	lw := &lineWriter{op: op, w: w, ps: in.Passages}
	var buf []pidPair
	write := func() error {
		for i, qid := range in.QIDs {
			if i%checkEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			buf = pairs(&st, qid, buf[:0])
			ps := buf
			if len(ps) == 0 {
				continue
			}
			query, err := queryText(op, in, qid)
			if err != nil {
				return err
			}
			st.Written++
			for _, p := range ps {
				if err := lw.write(qid, query, p.pos, p.neg); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := write(); err != nil {
		return Stats{}, errors.Join(err, w.Abort())
	}
	if err := w.Close(); err != nil {
		return Stats{}, fmt.Errorf("denoise: %s: %w", op, err)
	}
	st.Lines = lw.rows
	return st, nil
}

// Mine writes a dual.train.tsv of denoised hard negatives (construct_marco_train_de.py). For each query of
// in.QIDs, in that order, that has positives and candidates, it picks the negatives with MineQuery (the fill drawing
// from a generator seeded with o.Seed and the qid) and writes NegPerPos lines per positive: NegPerPos rounds, each
// pairing every positive in order with the negative popped from the end of the list, as the official script does.
// A query whose candidates ran out gets fewer lines (Stats.ShortQueries). Queries without positives, without
// candidates or without any negative are skipped and counted. A missing query text or passage is an error and
// leaves no file. The output is written atomically and is byte-identical for the same inputs and seed.
//
// When ctx ends, Mine returns ctx.Err() (checked every checkEvery queries) and leaves no file.
func Mine(ctx context.Context, in MineInput, o MineOptions, out string) (Stats, error) {
	o = o.withDefaults()
	return writeQueries(ctx, "Mine", in, o.validate(), out, func(st *Stats, qid string, lines []pidPair) []pidPair {
		pos := dedup(in.Positives[qid])
		if len(pos) == 0 {
			st.SkippedNoPositives++
			return lines // none
		}
		cands := in.Candidates[qid]
		if len(cands) == 0 {
			st.SkippedNoCandidates++
			return lines // none
		}
		m := mineQuery(pos, in.Additional[qid], cands, o, queryRNG(o.Seed, qid))
		st.addExamined(m.examined)
		if len(m.negs) == 0 {
			st.SkippedNoNegatives++
			return lines // none
		}
		st.Positives += len(pos)
		st.CENegatives += m.fromCE
		st.FilledNegatives += m.filled
		if m.filled > 0 {
			st.FilledQueries++
		}
		if len(m.negs) < o.NegPerPos*len(pos) {
			st.ShortQueries++
		}
		// NegPerPos rounds, each pairing every positive in order with the negative popped from the end of the list.
		negs := m.negs
	rounds:
		for range o.NegPerPos {
			for _, p := range pos {
				if len(negs) == 0 {
					break rounds
				}
				lines = append(lines, pidPair{p, negs[len(negs)-1]})
				negs = negs[:len(negs)-1]
			}
		}
		return lines
	})
}
