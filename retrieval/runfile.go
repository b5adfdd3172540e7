package retrieval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// checkRun validates the arguments of the run writers.
func checkRun(op, path string, qids []string, hits [][]Hit) error {
	if len(qids) != len(hits) {
		return fmt.Errorf("retrieval: %s %s: %d qids but %d hit lists", op, path, len(qids), len(hits))
	}
	seen := make(map[string]int, len(qids))
	for i, q := range qids {
		if err := checkID(q); err != nil {
			return fmt.Errorf("retrieval: %s %s: qid %d %q: %w", op, path, i, q, err)
		}
		if j, dup := seen[q]; dup {
			return fmt.Errorf("retrieval: %s %s: qid %q appears at %d and %d", op, path, q, j, i)
		}
		seen[q] = i
		for r, h := range hits[i] {
			if err := checkID(h.PID); err != nil {
				return fmt.Errorf("retrieval: %s %s: qid %q rank %d pid %q: %w", op, path, q, r+1, h.PID, err)
			}
		}
	}
	return nil
}

// writeFileAtomic streams a file through fill into a temporary file and renames it to path.
func writeFileAtomic(path string, fill func(w *bufio.Writer) error) error {
	return atomicWrite(path, func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("retrieval: %w", err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := fill(bw); err != nil {
			f.Close()
			return err
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("retrieval: %s: %w", path, err)
		}
		return f.Close()
	})
}

// WriteRunTSV writes a run file, one line per hit: "qid \t pid \t rank \t score" with 1-based ranks in the
// order of hits[i] and scores in the shortest form that reads back to the same float32. This is the
// res.top{K} format of the official RocketQA scripts and the candidate format of msmarco_eval.py. Qids must
// be distinct; the file is written atomically.
func WriteRunTSV(path string, qids []string, hits [][]Hit) error {
	if err := checkRun("WriteRunTSV", path, qids, hits); err != nil {
		return err
	}
	return writeFileAtomic(path, func(w *bufio.Writer) error {
		var line []byte
		for i, q := range qids {
			for r, h := range hits[i] {
				line = line[:0]
				line = append(line, q...)
				line = append(line, '\t')
				line = append(line, h.PID...)
				line = append(line, '\t')
				line = strconv.AppendInt(line, int64(r+1), 10)
				line = append(line, '\t')
				line = strconv.AppendFloat(line, float64(h.Score), 'g', -1, 32)
				line = append(line, '\n')
				if _, err := w.Write(line); err != nil {
					return fmt.Errorf("retrieval: %s: %w", path, err)
				}
			}
		}
		return nil
	})
}

type rankedHit struct {
	rank int
	line int
	hit  Hit
}

// ReadRunTSV reads a run file of "qid \t pid \t rank [\t score]" lines (a missing score reads as 0; blank
// lines are skipped). Qids come back in order of first appearance and each qid's hits sorted by rank. A bad
// line (wrong column count, empty or malformed id, rank < 1 or not an integer, bad score, a rank repeated
// for one qid) gives an error naming the file and line.
func ReadRunTSV(path string) (qids []string, hits [][]Hit, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("retrieval: %w", err)
	}
	defer f.Close()
	br := dataset.SkipBOM(bufio.NewReaderSize(f, 1<<20))
	index := map[string]int{}
	var lists [][]rankedHit
	ranks := map[string]map[int]int{} // qid -> rank -> line
	bad := func(line int, format string, a ...any) error {
		return fmt.Errorf("retrieval: %s:%d: %s", path, line, fmt.Sprintf(format, a...))
	}
	for lineNo := 1; ; lineNo++ {
		s, rerr := br.ReadString('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, nil, fmt.Errorf("retrieval: %s: %w", path, rerr)
		}
		if s == "" && rerr != nil {
			break
		}
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
		if s != "" {
			cols := strings.Split(s, "\t")
			if len(cols) != 3 && len(cols) != 4 {
				return nil, nil, bad(lineNo, "want 3 or 4 tab-separated columns (qid, pid, rank[, score]), got %d", len(cols))
			}
			q, p := cols[0], cols[1]
			if err := checkID(q); err != nil {
				return nil, nil, bad(lineNo, "qid %q: %v", q, err)
			}
			if err := checkID(p); err != nil {
				return nil, nil, bad(lineNo, "pid %q: %v", p, err)
			}
			rank, err := strconv.Atoi(cols[2])
			if err != nil || rank < 1 {
				return nil, nil, bad(lineNo, "rank %q is not a positive integer", cols[2])
			}
			var score float32
			if len(cols) == 4 {
				v, err := strconv.ParseFloat(cols[3], 32)
				if err != nil {
					return nil, nil, bad(lineNo, "score %q is not a number", cols[3])
				}
				score = float32(v)
			}
			i, ok := index[q]
			if !ok {
				i = len(qids)
				index[q] = i
				qids = append(qids, q)
				lists = append(lists, nil)
				ranks[q] = map[int]int{}
			}
			if prev, dup := ranks[q][rank]; dup {
				return nil, nil, bad(lineNo, "qid %q has rank %d again (first on line %d)", q, rank, prev)
			}
			ranks[q][rank] = lineNo
			lists[i] = append(lists[i], rankedHit{rank: rank, line: lineNo, hit: Hit{PID: p, Score: score}})
		}
		if rerr != nil {
			break
		}
	}
	hits = make([][]Hit, len(lists))
	for i, l := range lists {
		slices.SortStableFunc(l, func(a, b rankedHit) int { return a.rank - b.rank })
		hits[i] = make([]Hit, len(l))
		for j, rh := range l {
			hits[i][j] = rh.hit
		}
	}
	return qids, hits, nil
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // cannot fail for a string
	buf.Truncate(buf.Len() - 1)
}

// WriteRunJSON writes the DuReader-retrieval prediction format, one JSON object {qid: [pid, ...]} with
// the qids in the given order, one per line, pids in the order of hits (scores are not stored). Qids must be
// distinct; the file is written atomically.
func WriteRunJSON(path string, qids []string, hits [][]Hit) error {
	if err := checkRun("WriteRunJSON", path, qids, hits); err != nil {
		return err
	}
	return writeFileAtomic(path, func(w *bufio.Writer) error {
		var buf bytes.Buffer
		buf.WriteString("{")
		for i, q := range qids {
			if i > 0 {
				buf.WriteString(",")
			}
			buf.WriteString("\n")
			jsonString(&buf, q)
			buf.WriteString(": [")
			for j, h := range hits[i] {
				if j > 0 {
					buf.WriteString(", ")
				}
				jsonString(&buf, h.PID)
			}
			buf.WriteString("]")
			if buf.Len() > 1<<16 {
				if _, err := w.Write(buf.Bytes()); err != nil {
					return fmt.Errorf("retrieval: %s: %w", path, err)
				}
				buf.Reset()
			}
		}
		buf.WriteString("\n}\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("retrieval: %s: %w", path, err)
		}
		return nil
	})
}

// ReadRunJSON reads a DuReader-retrieval prediction file {qid: [pid, ...]} keeping the file's qid order.
// Pids may be JSON strings or numbers; hits carry the pids in file order with Score 0. Malformed JSON, a
// value that is not an array of ids, or a repeated qid gives an error naming the file and line.
func ReadRunJSON(path string) (qids []string, hits [][]Hit, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("retrieval: %w", err)
	}
	b = dataset.StripBOM(b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	lineAt := func(off int64) int { return 1 + bytes.Count(b[:min(off, int64(len(b)))], []byte{'\n'}) }
	bad := func(format string, a ...any) error {
		return fmt.Errorf("retrieval: %s:%d: %s", path, lineAt(dec.InputOffset()), fmt.Sprintf(format, a...))
	}
	token := func() (json.Token, error) {
		t, err := dec.Token()
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("retrieval: %s:%d: %v", path, lineAt(se.Offset), se)
			}
			if errors.Is(err, io.EOF) {
				return nil, bad("unexpected end of file")
			}
			return nil, bad("%v", err)
		}
		return t, nil
	}
	t, err := token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, nil, bad("want a JSON object {qid: [pid, ...]}, got %v", t)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := token()
		if err != nil {
			return nil, nil, err
		}
		q := t.(string) // object keys are always strings
		if err := checkID(q); err != nil {
			return nil, nil, bad("qid %q: %v", q, err)
		}
		if seen[q] {
			return nil, nil, bad("qid %q appears twice", q)
		}
		seen[q] = true
		if t, err = token(); err != nil {
			return nil, nil, err
		}
		if d, ok := t.(json.Delim); !ok || d != '[' {
			return nil, nil, bad("qid %q: want an array of pids, got %v", q, t)
		}
		var list []Hit
		for dec.More() {
			t, err := token()
			if err != nil {
				return nil, nil, err
			}
			var p string
			switch v := t.(type) {
			case string:
				p = v
			case json.Number:
				p = v.String()
			default:
				return nil, nil, bad("qid %q: pid %v is not a string or number", q, t)
			}
			if err := checkID(p); err != nil {
				return nil, nil, bad("qid %q: pid %q: %v", q, p, err)
			}
			list = append(list, Hit{PID: p})
		}
		if _, err := token(); err != nil { // ']'
			return nil, nil, err
		}
		qids = append(qids, q)
		hits = append(hits, list)
	}
	if _, err := token(); err != nil { // '}'
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, bad("trailing data after the JSON object")
	}
	return qids, hits, nil
}
