package dataset

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DualExample is one line of a dual-encoder training file (dual.train.tsv,
// RocketQA's *_de*_denoise.tsv, PAIR's *_pretrain.tsv / *_finetune.tsv): a query,
// a positive and a hard negative passage. Titles may be empty (DuReader).
type DualExample struct {
	Query    string
	PosTitle string
	PosPara  string
	NegTitle string
	NegPara  string
	// Label is the sixth column, always 0 in the official files and unused by training.
	Label int
}

// DualReader streams a dual-encoder training file.
type DualReader struct {
	*records[DualExample]
}

// OpenDualTrain opens a 6-column dual-encoder training file:
// query, title_pos, para_pos, title_neg, para_neg, label.
// The query and both passages must be non-empty; the label must be an integer.
func OpenDualTrain(path string, opts ...Options) (*DualReader, error) {
	r, err := openRecords(path, opts, parseDual)
	if err != nil {
		return nil, err
	}
	return &DualReader{r}, nil
}

// Example is the current example.
func (r *DualReader) Example() DualExample { return r.cur }

func parseDual(line []byte) (DualExample, error) {
	f, err := splitTab(line, 6)
	if err != nil {
		return DualExample{}, err
	}
	label, err := parseLabel(f[5])
	if err != nil {
		return DualExample{}, err
	}
	ex := DualExample{Query: f[0], PosTitle: f[1], PosPara: f[2], NegTitle: f[3], NegPara: f[4], Label: label}
	switch {
	case strings.TrimSpace(ex.Query) == "":
		return ex, errors.New("empty query (column 1)")
	case strings.TrimSpace(ex.PosPara) == "":
		return ex, errors.New("empty positive passage (column 3)")
	case strings.TrimSpace(ex.NegPara) == "":
		return ex, errors.New("empty negative passage (column 5)")
	}
	return ex, nil
}

func parseLabel(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("label %q is not an integer", clip(s, 40))
	}
	return v, nil
}

// DualWriter writes a dual-encoder training file atomically.
type DualWriter struct{ *rowWriter }

// CreateDualTrain starts writing a 6-column dual-encoder training file.
func CreateDualTrain(path string) (*DualWriter, error) {
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &DualWriter{w}, nil
}

// Write appends one example.
func (w *DualWriter) Write(ex DualExample) error {
	return w.row(ex.Query, ex.PosTitle, ex.PosPara, ex.NegTitle, ex.NegPara, strconv.Itoa(ex.Label))
}

// CrossExample is one line of a cross-encoder training file (cross.train.tsv):
// a query, a passage and a 0/1 relevance label.
type CrossExample struct {
	Query string
	Title string
	Para  string
	Label int
}

// CrossReader streams a cross-encoder training file.
type CrossReader struct {
	*records[CrossExample]
}

// OpenCrossTrain opens a 4-column cross-encoder training file:
// query, title, para, label, with label 0 or 1.
func OpenCrossTrain(path string, opts ...Options) (*CrossReader, error) {
	r, err := openRecords(path, opts, parseCross)
	if err != nil {
		return nil, err
	}
	return &CrossReader{r}, nil
}

// Example is the current example.
func (r *CrossReader) Example() CrossExample { return r.cur }

// parseCross reads a cross-encoder training line: a 4-column line (parseQueryPassage) whose label is 0 or 1 and
// whose passage is not empty.
func parseCross(line []byte) (CrossExample, error) {
	ex, err := parseQueryPassage(line, func(label int) error {
		if label != 0 && label != 1 {
			return fmt.Errorf("label %d is not 0 or 1", label)
		}
		return nil
	})
	if err == nil && strings.TrimSpace(ex.Para) == "" {
		return ex, errors.New("empty passage (column 3)")
	}
	return ex, err
}

// parseQueryPassage reads query, title, para and an integer label, checks the label with checkLabel (when not
// nil), then requires a non-empty query. A joint-training line is just that; parseCross checks more.
func parseQueryPassage(line []byte, checkLabel func(int) error) (CrossExample, error) {
	f, err := splitTab(line, 4)
	if err != nil {
		return CrossExample{}, err
	}
	label, err := parseLabel(f[3])
	if err != nil {
		return CrossExample{}, err
	}
	if checkLabel != nil {
		if err := checkLabel(label); err != nil {
			return CrossExample{}, err
		}
	}
	ex := CrossExample{Query: f[0], Title: f[1], Para: f[2], Label: label}
	if strings.TrimSpace(ex.Query) == "" {
		return ex, errors.New("empty query (column 1)")
	}
	return ex, nil
}

// CrossWriter writes a cross-encoder training file atomically.
type CrossWriter struct{ *rowWriter }

// CreateCrossTrain starts writing a 4-column cross-encoder training file.
func CreateCrossTrain(path string) (*CrossWriter, error) {
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &CrossWriter{w}, nil
}

// Write appends one example; the label must be 0 or 1.
func (w *CrossWriter) Write(ex CrossExample) error {
	if ex.Label != 0 && ex.Label != 1 {
		return w.fail("label %d is not 0 or 1", ex.Label)
	}
	return w.row(ex.Query, ex.Title, ex.Para, strconv.Itoa(ex.Label))
}

// JointList is one list of a RocketQA v2 joint-training file: m lines that
// share one query, the first of which is the positive (docs/method.md §5.3).
type JointList struct {
	Query string
	// Items are the m lines in file order; Items[0] is the positive. Each
	// item's Query equals the list's Query.
	Items []CrossExample
}

// JointReader streams a RocketQA v2 joint-training file list by list.
type JointReader struct {
	src      *lineSource
	opts     Options
	m        int
	cur      JointList
	curLine  int
	skipped  int
	err      error
	finished bool
}

// OpenJointLists opens a joint-training file (query, title, para, label per
// line) whose consecutive blocks of listSize lines form the lists. Every line
// of a block must carry the same query. A trailing block shorter than listSize
// is an error (the official reader silently drops it; SkipBad skips it too).
// Under SkipBad a block with a malformed line is skipped whole and reading
// resumes at the next block boundary, so lists stay aligned.
func OpenJointLists(path string, listSize int, opts ...Options) (*JointReader, error) {
	if listSize < 1 {
		return nil, fmt.Errorf("%s: list size %d must be at least 1", path, listSize)
	}
	o := pickOptions(opts)
	src, err := openLines(path, o)
	if err != nil {
		return nil, err
	}
	return &JointReader{src: src, opts: o, m: listSize}, nil
}

// Next reads the next list.
func (r *JointReader) Next() bool {
	if r.err != nil || r.finished {
		return false
	}
	for {
		first := r.src.lineNo + 1
		items := make([]CrossExample, 0, r.m)
		var bad error
		n, eof := 0, false
		for n < r.m {
			line, err := r.src.next()
			if err == io.EOF {
				eof = true
				break
			}
			n++
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) {
					r.err = err
					return false
				}
				if bad == nil {
					bad = le
				}
				continue
			}
			if bad != nil {
				continue // consume the rest of the block
			}
			ex, perr := parseQueryPassage(line, nil)
			if perr == nil && len(items) > 0 && ex.Query != items[0].Query {
				perr = fmt.Errorf("query differs from the one on line %d, where this list of %d lines starts", first, r.m)
			}
			if perr != nil {
				bad = &LineError{Path: r.src.path, Line: r.src.lineNo, Msg: perr.Error()}
				continue
			}
			items = append(items, ex)
		}
		if n == 0 {
			r.finished = true
			return false
		}
		if n < r.m && bad == nil {
			bad = &LineError{Path: r.src.path, Line: r.src.lineNo,
				Msg: fmt.Sprintf("file ends inside a list: %d of %d lines (the list starts at line %d)", n, r.m, first)}
		}
		if bad != nil {
			if !r.opts.SkipBad {
				r.err = bad
				return false
			}
			r.skipped++
			if eof {
				r.finished = true
				return false
			}
			continue
		}
		r.cur = JointList{Query: items[0].Query, Items: items}
		r.curLine = first
		return true
	}
}

// List is the current list.
func (r *JointReader) List() JointList { return r.cur }

// Line is the 1-based line number of the current list's first line.
func (r *JointReader) Line() int { return r.curLine }

// Skipped counts the lists skipped under Options.SkipBad.
func (r *JointReader) Skipped() int { return r.skipped }

// Err is the first error met, or nil at a clean end of file.
func (r *JointReader) Err() error { return r.err }

// Close releases the file. It is safe to call twice.
func (r *JointReader) Close() error { return r.src.close() }

// JointWriter writes a RocketQA v2 joint-training file atomically.
type JointWriter struct {
	*rowWriter
	m int
}

// CreateJointLists starts writing a joint-training file of lists of listSize lines.
func CreateJointLists(path string, listSize int) (*JointWriter, error) {
	if listSize < 1 {
		return nil, fmt.Errorf("%s: list size %d must be at least 1", path, listSize)
	}
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &JointWriter{w, listSize}, nil
}

// Write appends one list. It must have exactly listSize items; each line is
// written with the list's Query (the items' Query fields are ignored).
func (w *JointWriter) Write(l JointList) error {
	if len(l.Items) != w.m {
		return w.fail("list of %d items, want %d", len(l.Items), w.m)
	}
	for _, it := range l.Items {
		if err := w.row(l.Query, it.Title, it.Para, strconv.Itoa(it.Label)); err != nil {
			return err
		}
	}
	return nil
}
