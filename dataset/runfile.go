package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Run files: the one reader and the one writer of the module (packages retrieval, eval, rocketqa and
// rocketqa/denoise use them).
//
//   - TSV: "qid \t pid \t rank [\t score]" (RocketQA res.top{K}, MS MARCO runs), or TREC's six columns
//     "qid Q0 pid rank score tag"; columns are separated by tabs, or by spaces on a line without a tab.
//   - JSON: the DuReader-retrieval prediction file, one object {qid: [pid, ...]}.

// Hit is one ranked passage of a run: its id and its score (inner product, CE score, or squared L2 distance).
type Hit struct {
	PID   string
	Score float32
}

// RunEntry is one line of a TSV run file.
type RunEntry struct {
	QID, PID string
	Rank     int // 1-based
	Score    float64
	HasScore bool // the line has a score column
}

// RunReader streams a TSV run file line by line; blank lines are skipped.
type RunReader struct {
	*records[RunEntry]
	noScores *bool
}

// OpenRun opens a TSV run file. A line is malformed (a *LineError naming the file and line) when it has another
// column count, an empty id, a rank that is not a positive integer or a score that is not a finite number.
// Consecutive lines of one query share one qid string.
func OpenRun(path string, opts ...Options) (*RunReader, error) {
	var last string
	noScores := new(bool)
	parse := func(line []byte) (RunEntry, error) {
		e, err := parseRunLine(line, last, *noScores)
		last = e.QID
		return e, err
	}
	r, err := openRecords(path, opts, parse)
	if err != nil {
		return nil, err
	}
	return &RunReader{r, noScores}, nil
}

// IgnoreScores makes the reader skip the score column (HasScore still tells whether a line has one): for readers
// of ranks only, such as the evaluation, it saves the parsing of every score.
func (r *RunReader) IgnoreScores() { *r.noScores = true }

// Entry is the current line.
func (r *RunReader) Entry() RunEntry { return r.cur }

// errBlank marks a blank line, which the run reader skips.
var errBlank = errors.New("blank line")

func parseRunLine(line []byte, last string, noScores bool) (RunEntry, error) {
	var buf [7][]byte
	f := splitRunFields(line, buf[:0])
	if len(f) == 0 {
		return RunEntry{}, errBlank
	}
	var q, p, rank, score []byte
	switch {
	case len(f) == 3 || len(f) == 4:
		q, p, rank = f[0], f[1], f[2]
		if len(f) == 4 {
			score = f[3]
		}
	case len(f) == 6 && string(f[1]) == "Q0":
		q, p, rank, score = f[0], f[2], f[3], f[4]
	default:
		n := strconv.Itoa(len(f))
		if len(f) > 7 {
			n = "more than 7"
		}
		return RunEntry{}, fmt.Errorf("want 3 or 4 tab-separated columns (qid, pid, rank[, score]) or TREC's 6 (qid Q0 pid rank score tag), got %s columns", n)
	}
	switch {
	case len(q) == 0:
		return RunEntry{}, errors.New("empty qid")
	case len(p) == 0:
		return RunEntry{}, errors.New("empty pid")
	}
	e := RunEntry{QID: last, PID: string(p)}
	if string(q) != last {
		e.QID = string(q)
	}
	for _, c := range rank { // strconv.Atoi would copy the bytes to the heap
		if c < '0' || c > '9' || e.Rank > 1e15 {
			e.Rank = 0
			break
		}
		e.Rank = 10*e.Rank + int(c-'0')
	}
	if e.Rank < 1 {
		return e, fmt.Errorf("rank %q is not a positive integer", clip(string(rank), 40))
	}
	e.HasScore = score != nil
	if score != nil && !noScores {
		var err error
		e.Score, err = strconv.ParseFloat(string(score), 64)
		if err != nil || math.IsNaN(e.Score) || math.IsInf(e.Score, 0) {
			return e, fmt.Errorf("score %q is not a finite number", clip(string(score), 40))
		}
	}
	return e, nil
}

// splitRunFields splits a line on tabs (fields trimmed of spaces) or, on a line without a tab, on runs of spaces;
// it stops after cap(f)+1 fields (enough to tell a bad column count).
func splitRunFields(line []byte, f [][]byte) [][]byte {
	if bytes.IndexByte(line, '\t') < 0 {
		for len(line) > 0 && len(f) <= cap(f) {
			line = bytes.TrimLeft(line, " ")
			if len(line) == 0 {
				break
			}
			i := bytes.IndexByte(line, ' ')
			if i < 0 {
				i = len(line)
			}
			f, line = append(f, line[:i]), line[i:]
		}
		return f
	}
	for len(f) <= cap(f) {
		i := bytes.IndexByte(line, '\t')
		if i < 0 {
			return append(f, bytes.TrimSpace(line))
		}
		f, line = append(f, bytes.TrimSpace(line[:i])), line[i+1:]
	}
	return f
}

// ReadRun reads a TSV run file into memory keeping the hits of rank <= k of every query (all when k <= 0),
// sorted by rank; qids come in order of first appearance (an empty file gives none). A rank repeated for one
// query is an error naming both lines.
func ReadRun(path string, k int, opts ...Options) (qids []string, hits [][]Hit, err error) {
	r, err := OpenRun(path, opts...)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	type ranked struct {
		rank int
		hit  Hit
	}
	index := map[string]int{}
	var lists [][]ranked
	lines := map[string]map[int]int{} // qid -> rank -> line
	for r.Next() {
		e := r.Entry()
		i, ok := index[e.QID]
		if !ok {
			i = len(qids)
			index[e.QID] = i
			qids, lists = append(qids, e.QID), append(lists, nil)
			lines[e.QID] = map[int]int{}
		}
		if prev, dup := lines[e.QID][e.Rank]; dup {
			return nil, nil, &LineError{Path: path, Line: r.Line(), Msg: fmt.Sprintf("qid %q has rank %d again (first on line %d)", e.QID, e.Rank, prev)}
		}
		lines[e.QID][e.Rank] = r.Line()
		if k <= 0 || e.Rank <= k {
			lists[i] = append(lists[i], ranked{e.Rank, Hit{PID: e.PID, Score: float32(e.Score)}})
		}
	}
	if err := r.Err(); err != nil {
		return nil, nil, err
	}
	hits = make([][]Hit, len(lists))
	for i, l := range lists {
		slices.SortStableFunc(l, func(a, b ranked) int { return a.rank - b.rank })
		hits[i] = make([]Hit, len(l))
		for j, x := range l {
			hits[i][j] = x.hit
		}
	}
	return qids, hits, nil
}

// RunWriter streams a run to a TSV file ("qid \t pid \t rank \t score", 1-based ranks in the order given, scores
// in the shortest form that reads back to the same float32: the official res.top{K} format) and/or a DuReader
// JSON prediction file ({qid: [pid, ...]}, qids in the order written). The files appear only when Commit succeeds.
type RunWriter struct {
	tsv, js *AtomicFile
	seen    map[string]int
	line    []byte
}

// CreateRun starts writing a run; either path may be empty (not both).
func CreateRun(tsvPath, jsonPath string) (*RunWriter, error) {
	if tsvPath == "" && jsonPath == "" {
		return nil, errors.New("dataset: CreateRun: no output path")
	}
	w := &RunWriter{seen: map[string]int{}}
	var err error
	if tsvPath != "" {
		if w.tsv, err = CreateAtomic(tsvPath); err != nil {
			return nil, err
		}
	}
	if jsonPath != "" {
		if w.js, err = CreateAtomic(jsonPath); err != nil {
			w.Abort()
			return nil, err
		}
		w.js.WriteString("{")
	}
	return w, nil
}

func (w *RunWriter) path() string {
	if w.tsv != nil {
		return w.tsv.Path()
	}
	return w.js.Path()
}

var errBadRunID = errors.New("empty, or holds a tab or newline")

func checkRunID(id string) error {
	if id == "" || strings.ContainsAny(id, "\t\n\r") {
		return errBadRunID
	}
	return nil
}

// Write appends one query's hits, best first. Qids must be distinct; ids must be non-empty without tabs or
// newlines. A refused write is sticky: Commit then fails and leaves no file.
func (w *RunWriter) Write(qid string, hits []Hit) error {
	n := len(w.seen)
	if err := checkRunID(qid); err != nil {
		return w.fail(fmt.Errorf("%s: qid %d %q: %w", w.path(), n, qid, err))
	}
	if j, dup := w.seen[qid]; dup {
		return w.fail(fmt.Errorf("%s: qid %q appears at %d and %d", w.path(), qid, j, n))
	}
	for r, h := range hits {
		if err := checkRunID(h.PID); err != nil {
			return w.fail(fmt.Errorf("%s: qid %q rank %d pid %q: %w", w.path(), qid, r+1, h.PID, err))
		}
	}
	w.seen[qid] = n
	if w.tsv != nil {
		for r, h := range hits {
			w.line = append(append(append(w.line[:0], qid...), '\t'), h.PID...)
			w.line = strconv.AppendInt(append(w.line, '\t'), int64(r+1), 10)
			w.line = strconv.AppendFloat(append(w.line, '\t'), float64(h.Score), 'g', -1, 32)
			if _, err := w.tsv.Write(append(w.line, '\n')); err != nil {
				return err
			}
		}
	}
	if w.js != nil {
		w.line = w.line[:0]
		if n > 0 {
			w.line = append(w.line, ',')
		}
		w.line = append(append(append(w.line, '\n'), jsonString(qid)...), ": ["...)
		for j, h := range hits {
			if j > 0 {
				w.line = append(w.line, ", "...)
			}
			w.line = append(w.line, jsonString(h.PID)...)
		}
		if _, err := w.js.Write(append(w.line, ']')); err != nil {
			return err
		}
	}
	return nil
}

func (w *RunWriter) fail(err error) error {
	for _, a := range []*AtomicFile{w.tsv, w.js} {
		if a != nil && a.err == nil {
			a.err = err
		}
	}
	return err
}

// Commit writes the files into place.
func (w *RunWriter) Commit() error {
	if w.js != nil {
		w.js.WriteString("\n}\n")
		if err := w.js.Commit(); err != nil {
			w.Abort()
			return err
		}
	}
	if w.tsv != nil {
		return w.tsv.Commit()
	}
	return nil
}

// Abort discards the files.
func (w *RunWriter) Abort() {
	for _, a := range []*AtomicFile{w.tsv, w.js} {
		if a != nil {
			a.Abort()
		}
	}
}

// WriteRun writes a whole run (qids[i] with hits[i]) through a RunWriter: a TSV file, a JSON file, or both.
func WriteRun(tsvPath, jsonPath string, qids []string, hits [][]Hit) error {
	if len(qids) != len(hits) {
		return fmt.Errorf("dataset: WriteRun %s%s: %d qids but %d hit lists", tsvPath, jsonPath, len(qids), len(hits))
	}
	w, err := CreateRun(tsvPath, jsonPath)
	if err != nil {
		return err
	}
	for i, q := range qids {
		if err := w.Write(q, hits[i]); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Commit()
}

// ReadRunJSON reads a DuReader-retrieval prediction file {qid: [pid, ...]} keeping the file's qid order. Pids may
// be JSON strings or numbers; hits carry the pids in file order with Score 0. Malformed JSON (bytes that are not
// UTF-8 included: encoding/json would read them as U+FFFD), a value that is not
// a list of ids, or a repeated qid gives a *LineError naming the file and line.
func ReadRunJSON(path string) (qids []string, hits [][]Hit, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	b = StripBOM(b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	at := func(off int64, format string, a ...any) error {
		return &LineError{Path: path, Line: 1 + bytes.Count(b[:min(off, int64(len(b)))], []byte{'\n'}), Msg: fmt.Sprintf(format, a...)}
	}
	token := func() (json.Token, error) {
		t, err := dec.Token()
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, at(se.Offset, "%v", se)
		case errors.Is(err, io.EOF):
			return nil, at(dec.InputOffset(), "unexpected end of file")
		case err != nil:
			return nil, at(dec.InputOffset(), "%v", err)
		}
		return t, nil
	}
	if !utf8.Valid(b) {
		i := 0
		for c, size := utf8.DecodeRune(b); c != utf8.RuneError || size > 1; c, size = utf8.DecodeRune(b[i:]) {
			i += size
		}
		return nil, nil, at(int64(i), "not valid UTF-8")
	}
	if t, err := token(); err != nil {
		return nil, nil, err
	} else if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, nil, at(dec.InputOffset(), "want a JSON object {qid: [pid, ...]}, got %v", t)
	}
	seen := map[string]bool{}
	for dec.More() {
		list, q, err := readJSONRunMember(dec, token, at, seen)
		if err != nil {
			return nil, nil, err
		}
		qids, hits = append(qids, q), append(hits, list)
	}
	if _, err := token(); err != nil { // '}'
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, at(dec.InputOffset(), "trailing data after the JSON object")
	}
	return qids, hits, nil
}

func readJSONRunMember(dec *json.Decoder, token func() (json.Token, error), at func(int64, string, ...any) error, seen map[string]bool) ([]Hit, string, error) {
	t, err := token()
	if err != nil {
		return nil, "", err
	}
	q := t.(string) // object keys are always strings
	switch {
	case checkRunID(q) != nil:
		return nil, "", at(dec.InputOffset(), "qid %q: %v", q, errBadRunID)
	case seen[q]:
		return nil, "", at(dec.InputOffset(), "qid %q appears twice", q)
	}
	seen[q] = true
	if t, err = token(); err != nil {
		return nil, "", err
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return nil, "", at(dec.InputOffset(), "qid %q: want a list of pids, got %v", q, t)
	}
	var list []Hit
	for dec.More() {
		t, err := token()
		if err != nil {
			return nil, "", err
		}
		var p string
		switch v := t.(type) {
		case string:
			p = v
		case json.Number:
			p = v.String()
		default:
			return nil, "", at(dec.InputOffset(), "qid %q, candidate %d: pid %v is not a string or number", q, len(list)+1, t)
		}
		if err := checkRunID(p); err != nil {
			return nil, "", at(dec.InputOffset(), "qid %q: pid %q: %v", q, p, err)
		}
		list = append(list, Hit{PID: p})
	}
	_, err = token() // ']'
	return list, q, err
}
