package dataset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The inputs of the retrieval stages, whatever file format the user has: queries, positives and passages.

// IsJSON reports whether a path names a JSON file (by its extension).
func IsJSON(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".json")
}

// firstLine returns the first non-blank line of a file, or its first 1 MiB when the line is longer (a dev.json
// line may be megabytes long), for format sniffing.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := SkipBOM(bufio.NewReaderSize(f, 1<<20))
	for {
		b, err := br.ReadSlice('\n')
		if l := strings.TrimSpace(string(b)); l != "" {
			return l, nil
		}
		switch {
		case err == io.EOF:
			return "", nil
		case err != nil && err != bufio.ErrBufferFull:
			return "", err
		}
	}
}

// ReadQueries reads queries with their ids from one of:
//   - q2qid.dev.json: {"<query text>": "<qid>", ...} (DuReader-retrieval);
//   - dev.json: JSON lines {"question_id": ..., "question": ...} (DuReader-retrieval);
//   - a TSV of "qid \t query" lines (MS MARCO queries.*.tsv, RocketQA *.query.txt).
//
// Order is the file's; a repeated qid is an error.
func ReadQueries(path string, opts ...Options) (qids, texts []string, err error) {
	if IsJSON(path) {
		l, err := firstLine(path)
		if err != nil {
			return nil, nil, err
		}
		if strings.Contains(l, `"question_id"`) {
			r, err := OpenDev(path, opts...)
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
			qs, err := ReadQ2QID(path, opts...)
			if err != nil {
				return nil, nil, err
			}
			for _, q := range qs {
				qids, texts = append(qids, q.QID), append(texts, q.Query)
			}
		}
	} else {
		recs, err := ReadIDText(path, opts...)
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

// ReadPositives reads relevance judgements in file order: a qrels file ("qid \t pid" or TREC "qid 0 pid rel",
// rel > 0 counts) or a DuReader dev.json (answer_paragraphs). Repeated pairs count once.
func ReadPositives(path string, opts ...Options) (map[string][]string, error) {
	out := map[string][]string{}
	seen := map[[2]string]bool{}
	add := func(q, p string) {
		if !seen[[2]string{q, p}] {
			seen[[2]string{q, p}] = true
			out[q] = append(out[q], p)
		}
	}
	if IsJSON(path) {
		r, err := OpenDev(path, opts...)
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
		r, err := OpenQrels(path, opts...)
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
