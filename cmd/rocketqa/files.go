package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/retrieval"
)

// isJSON reports whether a path names a JSON file (by its extension).
func isJSON(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".json")
}

// firstLine returns the first non-blank line of a file (up to 1 MiB), for format sniffing.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(dataset.SkipBOM(f))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			return l, nil
		}
	}
	return "", nil
}

// loadQueries reads queries with their ids from one of:
//   - q2qid.dev.json: {"<query text>": "<qid>", ...} (DuReader-retrieval);
//   - dev.json: JSON lines {"question_id": ..., "question": ...} (DuReader-retrieval);
//   - a TSV of "qid \t query" lines (MS MARCO queries.*.tsv, RocketQA *.query.txt).
//
// Order is the file's; a repeated qid is an error.
func loadQueries(path string) (qids, texts []string, err error) {
	if isJSON(path) {
		l, err := firstLine(path)
		if err != nil {
			return nil, nil, err
		}
		if strings.Contains(l, `"question_id"`) {
			r, err := dataset.OpenDev(path)
			if err != nil {
				return nil, nil, err
			}
			defer r.Close()
			for r.Next() {
				ex := r.Example()
				qids, texts = append(qids, ex.QuestionID), append(texts, ex.Question)
			}
			if err := r.Err(); err != nil {
				return nil, nil, err
			}
		} else {
			qs, err := dataset.ReadQ2QID(path)
			if err != nil {
				return nil, nil, err
			}
			for _, q := range qs {
				qids, texts = append(qids, q.QID), append(texts, q.Query)
			}
		}
	} else {
		recs, err := dataset.ReadIDText(path)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range recs {
			qids, texts = append(qids, r.ID), append(texts, r.Text)
		}
	}
	if len(qids) == 0 {
		return nil, nil, fmt.Errorf("%s: no queries", path)
	}
	seen := make(map[string]bool, len(qids))
	for i, q := range qids {
		if seen[q] {
			return nil, nil, fmt.Errorf("%s: qid %q appears twice", path, q)
		}
		seen[q] = true
		if strings.TrimSpace(texts[i]) == "" {
			return nil, nil, fmt.Errorf("%s: qid %q (query %d) has an empty query text; fix or drop that query", path, q, i+1)
		}
	}
	return qids, texts, nil
}

// loadPositives reads relevance judgements in file order: a qrels file ("qid \t pid" or TREC "qid 0 pid rel",
// rel > 0 counts) or a DuReader dev.json (answer_paragraphs). Repeated pairs count once.
func loadPositives(path string) (map[string][]string, error) {
	out := map[string][]string{}
	seen := map[[2]string]bool{}
	add := func(q, p string) {
		if !seen[[2]string{q, p}] {
			seen[[2]string{q, p}] = true
			out[q] = append(out[q], p)
		}
	}
	if isJSON(path) {
		r, err := dataset.OpenDev(path)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		for r.Next() {
			ex := r.Example()
			for _, p := range ex.AnswerParagraphs {
				add(ex.QuestionID, p.ParagraphID)
			}
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
	} else {
		r, err := dataset.OpenQrels(path)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		for r.Next() {
			if q := r.Qrel(); q.Rel > 0 {
				add(q.QID, q.PID)
			}
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no relevant passages", path)
	}
	return out, nil
}

// loadPassages reads the passages whose pids are in need (all when need is nil) from a DuReader collection
// directory (part-* + passage2id.map.json) or from a "pid \t text" file (MS MARCO para.txt / collection.tsv) with
// an optional "pid \t title" file. Streaming: only the needed passages are kept in memory.
func loadPassages(collection, titles string, need map[string]bool) (*dataset.Passages, error) {
	st, err := os.Stat(collection)
	if err != nil {
		return nil, err
	}
	ps := dataset.NewPassages()
	if st.IsDir() {
		mapPath := filepath.Join(collection, "passage2id.map.json")
		pids, err := dataset.ReadPassageIDMap(mapPath)
		if err != nil {
			return nil, err
		}
		r, err := dataset.OpenCollection(collection)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		for r.Next() {
			p := r.Passage()
			if p.Row >= len(pids) {
				return nil, fmt.Errorf("%s: row %d has no pid in %s (%d rows mapped)", r.Path(), p.Row, mapPath, len(pids))
			}
			if need == nil || need[pids[p.Row]] {
				if err := ps.Add(pids[p.Row], p.Title, p.Text); err != nil {
					return nil, fmt.Errorf("%s: %w", r.Path(), err)
				}
			}
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
		if r.Rows() != len(pids) {
			return nil, fmt.Errorf("%s maps %d rows but the part files of %s hold %d passages: the map belongs to another collection, or a part is missing or extra", mapPath, len(pids), collection, r.Rows())
		}
		return ps, nil
	}
	title := map[string]string{}
	if titles != "" {
		recs, err := dataset.OpenIDText(titles)
		if err != nil {
			return nil, err
		}
		defer recs.Close()
		for recs.Next() {
			if t := recs.Record(); need == nil || need[t.ID] {
				if t.Text != "-" {
					title[t.ID] = t.Text
				}
			}
		}
		if err := recs.Err(); err != nil {
			return nil, err
		}
	}
	r, err := dataset.OpenIDText(collection)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for r.Next() {
		if t := r.Record(); need == nil || need[t.ID] {
			if err := ps.Add(t.ID, title[t.ID], t.Text); err != nil {
				return nil, fmt.Errorf("%s: %w", collection, err)
			}
		}
	}
	return ps, r.Err()
}

// readRunTop streams a run file ("qid \t pid \t rank [\t score]") keeping the hits of rank <= k of every query
// (all when k <= 0), sorted by rank; qids in order of first appearance. Errors name the file and line.
func readRunTop(path string, k int) (qids []string, hits [][]retrieval.Hit, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	type ranked struct {
		rank int
		hit  retrieval.Hit
	}
	index := map[string]int{}
	var lists [][]ranked
	seen := map[string]map[int]int{}
	br := dataset.SkipBOM(bufio.NewReaderSize(f, 1<<20))
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, lineNo, rerr)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			cols := strings.Split(string(line), "\t")
			if len(cols) != 3 && len(cols) != 4 {
				return nil, nil, fmt.Errorf("%s:%d: want 3 or 4 tab-separated columns (qid, pid, rank[, score]), got %d", path, lineNo, len(cols))
			}
			q, p := cols[0], cols[1]
			if q == "" || p == "" {
				return nil, nil, fmt.Errorf("%s:%d: empty qid or pid", path, lineNo)
			}
			rank, err := strconv.Atoi(cols[2])
			if err != nil || rank < 1 {
				return nil, nil, fmt.Errorf("%s:%d: rank %q is not a positive integer", path, lineNo, cols[2])
			}
			var score float64
			if len(cols) == 4 {
				if score, err = strconv.ParseFloat(cols[3], 32); err != nil {
					return nil, nil, fmt.Errorf("%s:%d: score %q is not a number", path, lineNo, cols[3])
				}
			}
			i, ok := index[q]
			if !ok {
				i = len(qids)
				index[q] = i
				qids = append(qids, q)
				lists = append(lists, nil)
				seen[q] = map[int]int{}
			}
			if prev, dup := seen[q][rank]; dup {
				return nil, nil, fmt.Errorf("%s:%d: qid %q has rank %d again (first on line %d)", path, lineNo, q, rank, prev)
			}
			seen[q][rank] = lineNo
			if k <= 0 || rank <= k {
				lists[i] = append(lists[i], ranked{rank, retrieval.Hit{PID: p, Score: float32(score)}})
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if len(qids) == 0 {
		return nil, nil, fmt.Errorf("%s: empty run file", path)
	}
	hits = make([][]retrieval.Hit, len(lists))
	for i, l := range lists {
		slices.SortStableFunc(l, func(a, b ranked) int { return a.rank - b.rank })
		hits[i] = make([]retrieval.Hit, len(l))
		for j, r := range l {
			hits[i][j] = r.hit
		}
	}
	return qids, hits, nil
}

// runWriter streams a run to a TSV file ("qid \t pid \t rank \t score", the format of retrieval.WriteRunTSV) and
// optionally to a DuReader JSON prediction file ({qid: [pid, ...]}, as retrieval.WriteRunJSON); both appear only
// when Commit succeeds.
type runWriter struct {
	tsv, js *dataset.AtomicFile
	n       int
	seen    map[string]bool
	line    []byte
}

func newRunWriter(tsvPath, jsonPath string) (*runWriter, error) {
	w := &runWriter{seen: map[string]bool{}}
	var err error
	if w.tsv, err = dataset.CreateAtomic(tsvPath); err != nil {
		return nil, err
	}
	if jsonPath != "" {
		if w.js, err = dataset.CreateAtomic(jsonPath); err != nil {
			w.tsv.Abort()
			return nil, err
		}
		w.js.WriteString("{")
	}
	return w, nil
}

// write appends one query's hits, best first.
func (w *runWriter) write(qid string, hits []retrieval.Hit) error {
	if w.seen[qid] {
		return fmt.Errorf("%s: qid %q twice", w.tsv.Path(), qid)
	}
	w.seen[qid] = true
	for r, h := range hits {
		w.line = w.line[:0]
		w.line = append(w.line, qid...)
		w.line = append(w.line, '\t')
		w.line = append(w.line, h.PID...)
		w.line = append(w.line, '\t')
		w.line = strconv.AppendInt(w.line, int64(r+1), 10)
		w.line = append(w.line, '\t')
		w.line = strconv.AppendFloat(w.line, float64(h.Score), 'g', -1, 32)
		w.line = append(w.line, '\n')
		if _, err := w.tsv.Write(w.line); err != nil {
			return err
		}
	}
	if w.js != nil {
		var b bytes.Buffer
		if w.n > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n")
		b.Write(jsonStr(qid))
		b.WriteString(": [")
		for j, h := range hits {
			if j > 0 {
				b.WriteString(", ")
			}
			b.Write(jsonStr(h.PID))
		}
		b.WriteString("]")
		if _, err := w.js.Write(b.Bytes()); err != nil {
			return err
		}
	}
	w.n++
	return nil
}

func (w *runWriter) commit() error {
	if w.js != nil {
		w.js.WriteString("\n}\n")
		if err := w.js.Commit(); err != nil {
			w.tsv.Abort()
			return err
		}
	}
	return w.tsv.Commit()
}

func (w *runWriter) abort() {
	w.tsv.Abort()
	if w.js != nil {
		w.js.Abort()
	}
}

func jsonStr(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// expandFiles turns a flag value into files: a directory gives its files ending in ext (sorted), otherwise a
// comma-separated list of files.
func expandFiles(flagName, value, ext string) ([]string, error) {
	var out []string
	for _, p := range splitList(value) {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", flagName, p, pathErr(err))
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*"+ext))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s %s: no *%s files in the directory", flagName, p, ext)
		}
		out = append(out, m...) // Glob sorts
	}
	if len(out) == 0 {
		return nil, usagef("%s: no files given", flagName)
	}
	return out, nil
}
