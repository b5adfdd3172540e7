// Package eval computes passage-retrieval metrics exactly as the official
// RocketQA / DuReader-retrieval scripts do (spec sections 1.5, 6.3 and 7):
// MRR@10, Recall@1, Recall@50 and Recall@all (Recall@1000 on a top-1000 run),
// each a per-query hit rate averaged over a stated set of queries.
//
// The conventions:
//
//   - DuReader (DuReader-Retrieval-Baseline metric/evaluation.py at
//     PaddlePaddle/RocketQA e2bfcfc): only the first 50 candidates of each query
//     are read; every metric is divided by the number of REFERENCE queries
//     (dev.json); candidate queries absent from the reference are ignored (but
//     counted in QueriesRanked); duplicate pids in a candidate list are reported
//     and do not stop the evaluation.
//   - MSMarco (RocketQA metric/msmarco_eval.py): the same logic over 1000 rank
//     slots, also reporting recall@all (hits anywhere in the 1000 slots).
//   - Seed (flyingflying/IntroNLP examples/RocketQA/evaluation.py): the first 50
//     candidates, every metric divided by the number of CANDIDATE queries. The
//     seed crashes on a candidate query missing from the reference; here such a
//     query counts as a miss.
//
// A later revision of the DuReader script (December 2023, after the commit the
// spec pins) divides MRR@10 by the number of candidate queries while keeping
// the reference denominator for the recalls; the numbers agree whenever every
// reference query is ranked, as in the official 2,000-query dev run.
//
// Ids are compared as strings. Two quirks of the official scripts are not
// reproduced: msmarco_eval.py parses ids as integers (so "007" equals "7"), and
// it pads unranked slots with pid 0, so a relevant pid 0 counts as found in a
// short list. Here an empty pid marks an empty slot and never matches.
package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// Run maps a query id to its ranked passage ids, best first. An empty string
// marks an empty rank slot (a gap in a run file); it never matches.
type Run map[string][]string

// Qrels maps a query id to the set of its relevant passage ids. A query with
// an empty set is part of the reference (it counts in the denominator) but can
// never be answered.
type Qrels map[string]map[string]struct{}

// Add marks pid relevant for qid.
func (q Qrels) Add(qid, pid string) {
	s := q[qid]
	if s == nil {
		s = map[string]struct{}{}
		q[qid] = s
	}
	if pid != "" {
		s[pid] = struct{}{}
	}
}

// Denominator chooses the set of queries the metrics are averaged over.
type Denominator int

const (
	// ReferenceQueries divides by the number of queries in the reference
	// (official DuReader and MS MARCO scripts).
	ReferenceQueries Denominator = iota
	// CandidateQueries divides by the number of queries in the run (the seed
	// re-implementation's evaluation.py).
	CandidateQueries
)

// String names the denominator ("reference" or "candidate").
func (d Denominator) String() string {
	switch d {
	case ReferenceQueries:
		return "reference"
	case CandidateQueries:
		return "candidate"
	}
	return fmt.Sprintf("Denominator(%d)", int(d))
}

// Options set a convention.
type Options struct {
	// Name labels the convention in Metrics.
	Name string
	// Depth is how many candidates of each query are read (DuReader 50,
	// MS MARCO 1000). It must be at least 50.
	Depth int
	// Denominator is the set of queries averaged over.
	Denominator Denominator
	// RejectDuplicates makes a duplicate pid within Depth an error instead of
	// a report in Metrics.Duplicates.
	RejectDuplicates bool
}

// The official conventions.
var (
	// DuReaderOfficial is DuReader-retrieval's metric/evaluation.py.
	DuReaderOfficial = Options{Name: "dureader", Depth: 50, Denominator: ReferenceQueries}
	// MSMarcoOfficial is RocketQA's metric/msmarco_eval.py.
	MSMarcoOfficial = Options{Name: "msmarco", Depth: 1000, Denominator: ReferenceQueries}
	// SeedCandidateDenominator is the seed's evaluation.py: DuReader metrics
	// averaged over the candidate queries.
	SeedCandidateDenominator = Options{Name: "seed", Depth: 50, Denominator: CandidateQueries}
)

// Duplicate reports a pid ranked more than once for one query.
type Duplicate struct {
	QID   string `json:"qid"`
	PID   string `json:"pid"`
	Count int    `json:"count"`
}

// Metrics are the evaluation results. The JSON keys of the four metrics and
// QueriesRanked are those the official scripts print.
type Metrics struct {
	// MRR10 is the mean over queries of 1/rank of the first relevant pid
	// within the top 10 (0 if none).
	MRR10 float64 `json:"MRR@10"`
	// Recall1 is the fraction of queries whose first candidate is relevant.
	Recall1 float64 `json:"recall@1"`
	// Recall50 is the fraction of queries with a relevant pid in the top 50.
	Recall50 float64 `json:"recall@50"`
	// Recall1000 is the fraction of queries with a relevant pid anywhere in
	// the Depth candidates read: recall@1000 for MS MARCO (the official
	// "recall@all"); for DuReader (Depth 50) it equals Recall50.
	Recall1000 float64 `json:"recall@all"`
	// Queries is the denominator: the number of reference queries, or of
	// candidate queries under CandidateQueries.
	Queries int `json:"Queries"`
	// QueriesRanked is the number of queries in the run (the official
	// "QueriesRanked", whatever the denominator).
	QueriesRanked int `json:"QueriesRanked"`
	// QueriesMatched is the number of run queries that are in the reference.
	QueriesMatched int `json:"QueriesMatched"`
	// ReferenceQueries is the number of queries in the reference.
	ReferenceQueries int `json:"ReferenceQueries"`
	// Depth is the number of candidates read per query.
	Depth int `json:"depth"`
	// Convention names the options used ("dureader", "msmarco", "seed").
	Convention string `json:"convention"`
	// Denominator is "reference" or "candidate".
	Denominator string `json:"denominator"`
	// Duplicates lists pids ranked twice within Depth (the official scripts'
	// quality check), sorted by qid then pid.
	Duplicates []Duplicate `json:"duplicates,omitempty"`
}

// DuReader evaluates with DuReaderOfficial.
func DuReader(run Run, ref Qrels) (Metrics, error) { return Compute(run, ref, DuReaderOfficial) }

// MSMarco evaluates with MSMarcoOfficial.
func MSMarco(run Run, ref Qrels) (Metrics, error) { return Compute(run, ref, MSMarcoOfficial) }

// Seed evaluates with SeedCandidateDenominator.
func Seed(run Run, ref Qrels) (Metrics, error) { return Compute(run, ref, SeedCandidateDenominator) }

// ErrNoMatchingQueries is returned when no run query is in the reference
// (the official "No matching QIDs found").
var ErrNoMatchingQueries = errors.New("no run query is in the reference: are you scoring the evaluation set?")

// Compute evaluates run against ref under opt.
func Compute(run Run, ref Qrels, opt Options) (Metrics, error) {
	if opt.Depth < 50 {
		return Metrics{}, fmt.Errorf("eval: depth %d: must be at least 50", opt.Depth)
	}
	if opt.Denominator != ReferenceQueries && opt.Denominator != CandidateQueries {
		return Metrics{}, fmt.Errorf("eval: unknown denominator %d", int(opt.Denominator))
	}
	if len(ref) == 0 {
		return Metrics{}, errors.New("eval: the reference has no queries")
	}
	if len(run) == 0 {
		return Metrics{}, errors.New("eval: the run has no queries")
	}
	m := Metrics{
		QueriesRanked:    len(run),
		ReferenceQueries: len(ref),
		Depth:            opt.Depth,
		Convention:       opt.Name,
		Denominator:      opt.Denominator.String(),
	}
	qids := make([]string, 0, len(run))
	for q := range run {
		qids = append(qids, q)
	}
	sort.Strings(qids) // a fixed summation order

	var mrr float64
	var hit1, hit50, hitAll int
	for _, qid := range qids {
		cands := run[qid]
		if len(cands) > opt.Depth {
			cands = cands[:opt.Depth]
		}
		m.Duplicates = appendDuplicates(m.Duplicates, qid, cands)
		rel, ok := ref[qid]
		if !ok {
			continue
		}
		m.QueriesMatched++
		first := -1
		for i, pid := range cands {
			if pid == "" {
				continue
			}
			if _, hit := rel[pid]; hit {
				first = i
				break
			}
		}
		if first < 0 {
			continue
		}
		if first < 10 {
			mrr += 1 / float64(first+1)
		}
		if first < 1 {
			hit1++
		}
		if first < 50 {
			hit50++
		}
		hitAll++
	}
	if m.QueriesMatched == 0 {
		return m, ErrNoMatchingQueries
	}
	if len(m.Duplicates) > 0 && opt.RejectDuplicates {
		d := m.Duplicates[0]
		return m, fmt.Errorf("eval: query %q ranks pid %q %d times (%d duplicates in all)", d.QID, d.PID, d.Count, len(m.Duplicates))
	}
	m.Queries = len(ref)
	if opt.Denominator == CandidateQueries {
		m.Queries = len(run)
	}
	n := float64(m.Queries)
	m.MRR10 = mrr / n
	m.Recall1 = float64(hit1) / n
	m.Recall50 = float64(hit50) / n
	m.Recall1000 = float64(hitAll) / n
	return m, nil
}

func appendDuplicates(out []Duplicate, qid string, cands []string) []Duplicate {
	counts := make(map[string]int, len(cands))
	dup := false
	for _, p := range cands {
		if p == "" {
			continue
		}
		counts[p]++
		if counts[p] == 2 {
			dup = true
		}
	}
	if !dup {
		return out
	}
	start := len(out)
	for p, c := range counts {
		if c > 1 {
			out = append(out, Duplicate{QID: qid, PID: p, Count: c})
		}
	}
	added := out[start:]
	sort.Slice(added, func(i, j int) bool { return added[i].PID < added[j].PID })
	return out
}

// String formats the metrics on one line.
func (m Metrics) String() string {
	s := fmt.Sprintf("MRR@10=%.4f R@1=%.4f R@50=%.4f", m.MRR10, m.Recall1, m.Recall50)
	if m.Depth > 50 {
		s += fmt.Sprintf(" R@%d=%.4f", m.Depth, m.Recall1000)
	}
	s += fmt.Sprintf(" (over %d %s queries; %d ranked, %d matched)", m.Queries, m.Denominator, m.QueriesRanked, m.QueriesMatched)
	if len(m.Duplicates) > 0 {
		s += fmt.Sprintf("; %d duplicate pids", len(m.Duplicates))
	}
	return s
}

// WriteJSON writes the metrics as indented JSON, atomically.
func (m Metrics) WriteJSON(path string) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	return dataset.WriteFileAtomic(path, func(w *dataset.AtomicFile) error {
		_, err := w.Write(b.Bytes())
		return err
	})
}
