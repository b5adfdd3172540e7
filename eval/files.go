package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// LoadDuReaderReference reads DuReader-retrieval dev.json into Qrels: each
// question_id maps to its answer_paragraphs' paragraph_ids. A question_id on
// several lines collects the paragraphs of all of them (as evaluation.py does).
func LoadDuReaderReference(path string) (Qrels, error) {
	r, err := dataset.OpenDev(path)
	if err != nil {
		return nil, err
	}
	return collect(path, r, Qrels{}, "no questions", func(q Qrels) error {
		ex := r.Example()
		q.Add(ex.QuestionID, "")
		for _, p := range ex.AnswerParagraphs {
			q.Add(ex.QuestionID, p.ParagraphID)
		}
		return nil
	})
}

// recordReader is what collect needs of a dataset reader.
type recordReader interface {
	Next() bool
	Err() error
	Close() error
}

// collect reads every record of r with add, which files the current record into m, and closes r. It returns the
// first error of add or r, or an error saying empty when m is still empty.
func collect[M ~map[string]V, V any](path string, r recordReader, m M, empty string, add func(M) error) (M, error) {
	defer r.Close()
	for r.Next() {
		if err := add(m); err != nil {
			return nil, err
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: %s", path, empty)
	}
	return m, nil
}

// LoadQrels reads a qrels file ("qid \t pid", or TREC "qid 0 pid rel") into
// Qrels. A TREC line with rel <= 0 puts its query in the reference without
// making the pid relevant.
func LoadQrels(path string) (Qrels, error) {
	r, err := dataset.OpenQrels(path)
	if err != nil {
		return nil, err
	}
	return collect(path, r, Qrels{}, "no judgements", func(q Qrels) error {
		x := r.Qrel()
		if x.Rel > 0 {
			q.Add(x.QID, x.PID)
		} else {
			q.Add(x.QID, "")
		}
		return nil
	})
}

// LoadDuReaderRun reads a DuReader prediction file: one JSON object
// {"<qid>": ["<pid>", ...]} (pids may be JSON numbers, kept as their text),
// with dataset.ReadRunJSON. Whole lists are kept; Compute reads the first
// Depth. A repeated qid is an error.
func LoadDuReaderRun(path string) (Run, error) {
	qids, hits, err := dataset.ReadRunJSON(path)
	if err != nil {
		return nil, err
	}
	run := make(Run, len(qids))
	for i, q := range qids {
		pids := make([]string, len(hits[i]))
		for j, h := range hits[i] {
			pids[j] = h.PID
		}
		run[q] = pids
	}
	return run, nil
}

// MaxRunRank bounds the rank accepted in a run file.
const MaxRunRank = 100_000

// LoadRunTSV reads a ranked run file with dataset.OpenRun: "qid \t pid \t rank
// [\t score]" (RocketQA res.top*, MS MARCO) or the six TREC columns
// "qid Q0 pid rank score tag". Each pid is put in the slot of its 1-based
// rank, so line order does not matter; a rank given twice for a query keeps
// the later line (as msmarco_eval.py does) and a rank never given is an empty
// slot. Ranks beyond MaxRunRank are errors.
func LoadRunTSV(path string) (Run, error) {
	r, err := dataset.OpenRun(path)
	if err != nil {
		return nil, err
	}
	r.IgnoreScores()
	return collect(path, r, Run{}, "empty run", func(run Run) error {
		e := r.Entry()
		if e.Rank > MaxRunRank {
			return &dataset.LineError{Path: path, Line: r.Line(),
				Msg: fmt.Sprintf("rank %d is not an integer in 1..%d", e.Rank, MaxRunRank)}
		}
		slots := run[e.QID]
		for len(slots) < e.Rank {
			slots = append(slots, "")
		}
		slots[e.Rank-1] = e.PID
		run[e.QID] = slots
		return nil
	})
}

// WriteDuReaderRun writes run as a DuReader prediction file
// {"<qid>": ["<pid>", ...]} (qids sorted), atomically. Empty slots are
// refused: the official format has none.
func WriteDuReaderRun(path string, run Run) error {
	qids := make([]string, 0, len(run))
	for q, pids := range run {
		for i, p := range pids {
			if p == "" {
				return fmt.Errorf("%s: qid %q has an empty pid at rank %d", path, q, i+1)
			}
		}
		qids = append(qids, q)
	}
	sort.Strings(qids)
	return dataset.WriteFileAtomic(path, func(w *dataset.AtomicFile) error {
		w.WriteString("{")
		for i, q := range qids {
			if i > 0 {
				w.WriteString(",")
			}
			w.WriteString("\n  ")
			b, err := marshalNoEscape(q)
			if err != nil {
				return err
			}
			w.Write(b)
			w.WriteString(": ")
			b, err = marshalNoEscape(run[q])
			if err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		_, err := w.WriteString("\n}\n")
		return err
	})
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// LoadRun reads a run file by its extension: a DuReader prediction file (.json, LoadDuReaderRun) or a TSV / TREC
// run (LoadRunTSV).
func LoadRun(path string) (Run, error) {
	if dataset.IsJSON(path) {
		return LoadDuReaderRun(path)
	}
	return LoadRunTSV(path)
}

// LoadReference reads the relevance judgements by the file's extension: DuReader dev.json (.json,
// LoadDuReaderReference) or a qrels file (LoadQrels).
func LoadReference(path string) (Qrels, error) {
	if dataset.IsJSON(path) {
		return LoadDuReaderReference(path)
	}
	return LoadQrels(path)
}

// Convention returns the Options of a named convention: "dureader" (DuReaderOfficial), "msmarco"
// (MSMarcoOfficial) or "seed" (SeedCandidateDenominator); "" picks by the reference file: dureader for a .json
// reference, msmarco for a qrels file.
func Convention(name, refPath string) (Options, error) {
	switch name {
	case "":
		if dataset.IsJSON(refPath) {
			return DuReaderOfficial, nil
		}
		return MSMarcoOfficial, nil
	case "dureader":
		return DuReaderOfficial, nil
	case "msmarco":
		return MSMarcoOfficial, nil
	case "seed":
		return SeedCandidateDenominator, nil
	}
	return Options{}, fmt.Errorf("eval: unknown convention %q: want dureader, msmarco or seed", name)
}
