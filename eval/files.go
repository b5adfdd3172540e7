package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

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
	defer r.Close()
	q := Qrels{}
	for r.Next() {
		ex := r.Example()
		q.Add(ex.QuestionID, "")
		for _, p := range ex.AnswerParagraphs {
			q.Add(ex.QuestionID, p.ParagraphID)
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, fmt.Errorf("%s: no questions", path)
	}
	return q, nil
}

// LoadQrels reads a qrels file ("qid \t pid", or TREC "qid 0 pid rel") into
// Qrels. A TREC line with rel <= 0 puts its query in the reference without
// making the pid relevant.
func LoadQrels(path string) (Qrels, error) {
	r, err := dataset.OpenQrels(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	q := Qrels{}
	for r.Next() {
		x := r.Qrel()
		if x.Rel > 0 {
			q.Add(x.QID, x.PID)
		} else {
			q.Add(x.QID, "")
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, fmt.Errorf("%s: no judgements", path)
	}
	return q, nil
}

// LoadDuReaderRun reads a DuReader prediction file: one JSON object
// {"<qid>": ["<pid>", ...]} (pids may be JSON numbers, kept as their text).
// Whole lists are kept; Compute reads the first Depth. A repeated qid is an
// error.
func LoadDuReaderRun(path string) (Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	bom := int64(0)
	if b, _ := br.Peek(len(dataset.BOM)); string(b) == dataset.BOM {
		bom = int64(len(dataset.BOM))
	}
	dec := json.NewDecoder(dataset.SkipBOM(br))
	dec.UseNumber()
	fail := func(format string, a ...any) error {
		return &dataset.LineError{Path: path, Line: dataset.LineAtOffset(path, bom+dec.InputOffset()), Msg: fmt.Sprintf(format, a...)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fail("not a JSON object: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fail("want a JSON object {qid: [pid, ...]}, found %v", tok)
	}
	run := Run{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("malformed JSON: %v", err)
		}
		qid, ok := tok.(string)
		if !ok {
			return nil, fail("want a qid key, found %v", tok)
		}
		var raw []any // strings, json.Number (UseNumber) or invalid values
		if err := dec.Decode(&raw); err != nil {
			return nil, fail("value of qid %q: want a list of pids: %v", qid, err)
		}
		if _, dup := run[qid]; dup {
			return nil, fail("qid %q appears twice", qid)
		}
		pids := make([]string, len(raw))
		for i, v := range raw {
			switch v := v.(type) {
			case string:
				pids[i] = v
			case json.Number:
				pids[i] = v.String()
			default:
				return nil, fail("qid %q, candidate %d: pid %v is neither a string nor a number", qid, i+1, v)
			}
		}
		run[qid] = pids
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fail("malformed end of object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail("data after the JSON object")
	}
	return run, nil
}

// MaxRunRank bounds the rank accepted in a run file.
const MaxRunRank = 100_000

// LoadRunTSV reads a ranked run file: "qid \t pid \t rank [\t score ...]"
// (RocketQA res.top*, MS MARCO) or the six TREC columns
// "qid Q0 pid rank score tag". Each pid is put in the slot of its 1-based
// rank, so line order does not matter; a rank given twice for a query keeps
// the later line (as msmarco_eval.py does) and a rank never given is an empty
// slot. Ranks beyond MaxRunRank are errors.
func LoadRunTSV(path string) (Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(dataset.SkipBOM(f))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	run := Run{}
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" {
			return nil, &dataset.LineError{Path: path, Line: line, Msg: "empty line"}
		}
		var fs []string
		if strings.Contains(s, "\t") {
			fs = strings.Split(s, "\t")
			for i := range fs {
				fs[i] = strings.TrimSpace(fs[i])
			}
		} else {
			fs = strings.Fields(s)
		}
		var qid, pid, rankText string
		switch {
		case len(fs) == 6 && fs[1] == "Q0":
			qid, pid, rankText = fs[0], fs[2], fs[3]
		case len(fs) >= 3:
			qid, pid, rankText = fs[0], fs[1], fs[2]
		default:
			return nil, &dataset.LineError{Path: path, Line: line,
				Msg: fmt.Sprintf("want qid, pid, rank[, score] or TREC qid Q0 pid rank score tag; got %d columns", len(fs))}
		}
		if qid == "" || pid == "" {
			return nil, &dataset.LineError{Path: path, Line: line, Msg: "empty qid or pid"}
		}
		rank, err := strconv.Atoi(rankText)
		if err != nil || rank < 1 || rank > MaxRunRank {
			return nil, &dataset.LineError{Path: path, Line: line,
				Msg: fmt.Sprintf("rank %q is not an integer in 1..%d", rankText, MaxRunRank)}
		}
		slots := run[qid]
		for len(slots) < rank {
			slots = append(slots, "")
		}
		slots[rank-1] = pid
		run[qid] = slots
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	if len(run) == 0 {
		return nil, fmt.Errorf("%s: empty run", path)
	}
	return run, nil
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
