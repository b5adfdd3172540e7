package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Passage is one passage of a collection.
type Passage struct {
	// Row is the passage's line index over all collection parts in order
	// (0-based); it is what passage2id.map.json and FAISS ids refer to.
	Row int
	// PID is the passage id, when known (from passage2id.map.json, para.txt,
	// collection.tsv or a Passages store).
	PID   string
	Title string
	Text  string
}

// PassageReader streams the lines of passage-collection part files
// ("-", title, para, "0"), giving each passage its global row.
type PassageReader struct {
	paths   []string
	opts    Options
	part    int
	base    int // rows in the parts before the current one
	rec     *records[Passage]
	cur     Passage
	skipped int
	err     error
}

// OpenCollectionPart opens one part file whose first line has row firstRow.
func OpenCollectionPart(path string, firstRow int, opts ...Options) (*PassageReader, error) {
	r := &PassageReader{paths: []string{path}, opts: pickOptions(opts), base: firstRow}
	if err := r.openPart(); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenCollection opens the part files of a collection directory: every file
// named part-* (DuReader passage-collection/part-00..03, RocketQA
// para_8part/part-00..07), read in lexical order, rows counted across them.
func OpenCollection(dir string, opts ...Options) (*PassageReader, error) {
	parts, err := CollectionParts(dir)
	if err != nil {
		return nil, err
	}
	r := &PassageReader{paths: parts, opts: pickOptions(opts)}
	if err := r.openPart(); err != nil {
		return nil, err
	}
	return r, nil
}

// CollectionParts lists the part-* files of dir in lexical order.
func CollectionParts(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasPrefix(e.Name(), "part-") && !strings.HasPrefix(e.Name(), ".") {
			parts = append(parts, filepath.Join(dir, e.Name()))
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%s: no part-* files", dir)
	}
	sort.Strings(parts)
	return parts, nil
}

func (r *PassageReader) openPart() error {
	rec, err := openRecords(r.paths[r.part], []Options{r.opts}, parseCollectionLine)
	if err != nil {
		return err
	}
	r.rec = rec
	return nil
}

func parseCollectionLine(line []byte) (Passage, error) {
	f, err := splitTab(line, 4)
	if err != nil {
		return Passage{}, err
	}
	if strings.TrimSpace(f[2]) == "" {
		return Passage{}, errors.New("empty passage (column 3)")
	}
	return Passage{Title: f[1], Text: f[2]}, nil
}

// Next advances to the next passage.
func (r *PassageReader) Next() bool {
	if r.err != nil {
		return false
	}
	for {
		if r.rec.Next() {
			r.cur = r.rec.cur
			r.cur.Row = r.base + r.rec.curLine - 1
			return true
		}
		if err := r.rec.Err(); err != nil {
			r.err = err
			return false
		}
		// End of this part: rows continue after all its lines, skipped ones included.
		r.base += r.rec.src.lineNo
		r.skipped += r.rec.Skipped()
		r.rec.Close()
		if r.part+1 >= len(r.paths) {
			r.rec = nil
			r.part = len(r.paths)
			return false
		}
		r.part++
		if err := r.openPart(); err != nil {
			r.err = err
			return false
		}
	}
}

// Passage is the current passage (PID empty: the part files carry none).
func (r *PassageReader) Passage() Passage { return r.cur }

// Path is the part file being read.
func (r *PassageReader) Path() string {
	if r.part < len(r.paths) {
		return r.paths[r.part]
	}
	return ""
}

// Rows is the number of lines (rows) read so far, skipped ones included.
func (r *PassageReader) Rows() int {
	if r.rec != nil {
		return r.base + r.rec.src.lineNo
	}
	return r.base
}

// Skipped counts the malformed lines skipped under Options.SkipBad (their
// rows are still counted, so later rows keep their index).
func (r *PassageReader) Skipped() int {
	if r.rec != nil {
		return r.skipped + r.rec.Skipped()
	}
	return r.skipped
}

// Err is the first error met.
func (r *PassageReader) Err() error { return r.err }

// Close releases the open file. Safe to call twice.
func (r *PassageReader) Close() error {
	if r.rec != nil {
		return r.rec.Close()
	}
	return nil
}

// PassageWriter writes a collection part file ("-", title, para, "0") atomically.
type PassageWriter struct{ *rowWriter }

// CreateCollectionPart starts writing a part file.
func CreateCollectionPart(path string) (*PassageWriter, error) {
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &PassageWriter{w}, nil
}

// Write appends one passage (its Title and Text; Row and PID are not stored).
func (w *PassageWriter) Write(p Passage) error {
	if strings.TrimSpace(p.Text) == "" {
		return w.fail("empty passage")
	}
	return w.row("-", p.Title, p.Text, "0")
}

// IDText is one line of a two-column id/text file.
type IDText struct {
	ID   string
	Text string
}

// IDTextReader streams a two-column "id \t text" file.
type IDTextReader struct {
	*records[IDText]
}

// OpenIDText opens a two-column "id \t text" file: MS MARCO collection.tsv and
// queries.*.tsv, RocketQA para.txt, para.title.txt and *.query.txt. The id must
// be non-empty; the text may be empty (para.title.txt has "-" or "" for
// missing titles).
func OpenIDText(path string, opts ...Options) (*IDTextReader, error) {
	r, err := openRecords(path, opts, func(line []byte) (IDText, error) {
		f, err := splitTab(line, 2)
		if err != nil {
			return IDText{}, err
		}
		if strings.TrimSpace(f[0]) == "" {
			return IDText{}, errors.New("empty id (column 1)")
		}
		return IDText{ID: f[0], Text: f[1]}, nil
	})
	if err != nil {
		return nil, err
	}
	return &IDTextReader{r}, nil
}

// Record is the current line.
func (r *IDTextReader) Record() IDText { return r.cur }

// IDTextWriter writes a two-column "id \t text" file atomically.
type IDTextWriter struct{ *rowWriter }

// CreateIDText starts writing a two-column "id \t text" file.
func CreateIDText(path string) (*IDTextWriter, error) {
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &IDTextWriter{w}, nil
}

// Write appends one line.
func (w *IDTextWriter) Write(r IDText) error {
	if strings.TrimSpace(r.ID) == "" {
		return w.fail("empty id")
	}
	return w.row(r.ID, r.Text)
}

// ReadIDText reads a whole two-column file into memory, in file order.
func ReadIDText(path string, opts ...Options) ([]IDText, error) {
	r, err := OpenIDText(path, opts...)
	if err != nil {
		return nil, err
	}
	return r.All()
}

// QueryFormatReader streams a query input file: query, "-", "-", "0"
// (DuReader dev.q.format, RocketQA *.query.txt.format).
type QueryFormatReader struct {
	*records[string]
}

// OpenQueryFormat opens a 4-column query input file.
func OpenQueryFormat(path string, opts ...Options) (*QueryFormatReader, error) {
	r, err := openRecords(path, opts, func(line []byte) (string, error) {
		f, err := splitTab(line, 4)
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(f[0]) == "" {
			return "", errors.New("empty query (column 1)")
		}
		return f[0], nil
	})
	if err != nil {
		return nil, err
	}
	return &QueryFormatReader{r}, nil
}

// Query is the current query text.
func (r *QueryFormatReader) Query() string { return r.cur }

// QueryFormatWriter writes a query input file (query, "-", "-", "0") atomically.
type QueryFormatWriter struct{ *rowWriter }

// CreateQueryFormat starts writing a query input file.
func CreateQueryFormat(path string) (*QueryFormatWriter, error) {
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &QueryFormatWriter{w}, nil
}

// Write appends one query.
func (w *QueryFormatWriter) Write(query string) error {
	if strings.TrimSpace(query) == "" {
		return w.fail("empty query")
	}
	return w.row(query, "-", "-", "0")
}

// Qrel is one relevance judgement.
type Qrel struct {
	QID string
	PID string
	// Rel is the relevance grade: 1 for two-column files, the fourth column of
	// TREC-style files.
	Rel int
}

// QrelsReader streams a qrels file.
type QrelsReader struct {
	*records[Qrel]
}

// OpenQrels opens a qrels file. A line is either "qid \t pid" (RocketQA's
// qrels.*.tsv; relevance 1) or the four TREC columns "qid 0 pid rel",
// separated by tabs or spaces (MS MARCO's qrels.dev.small.tsv, TREC DL).
// Other column counts are malformed.
func OpenQrels(path string, opts ...Options) (*QrelsReader, error) {
	r, err := openRecords(path, opts, parseQrel)
	if err != nil {
		return nil, err
	}
	return &QrelsReader{r}, nil
}

func parseQrel(line []byte) (Qrel, error) {
	s := string(line)
	var f []string
	if strings.Contains(s, "\t") {
		f = strings.Split(s, "\t")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
	} else {
		f = strings.Fields(s)
	}
	switch len(f) {
	case 2:
		if f[0] == "" || f[1] == "" {
			return Qrel{}, errors.New("empty qid or pid")
		}
		return Qrel{QID: f[0], PID: f[1], Rel: 1}, nil
	case 4:
		if f[0] == "" || f[2] == "" {
			return Qrel{}, errors.New("empty qid or pid")
		}
		rel, err := strconv.Atoi(f[3])
		if err != nil {
			return Qrel{}, fmt.Errorf("relevance %q (column 4) is not an integer", clip(f[3], 20))
		}
		return Qrel{QID: f[0], PID: f[2], Rel: rel}, nil
	default:
		return Qrel{}, fmt.Errorf("want 2 columns (qid pid) or 4 (qid 0 pid rel), got %d", len(f))
	}
}

// Qrel is the current judgement.
func (r *QrelsReader) Qrel() Qrel { return r.cur }

// QrelsWriter writes a two-column "qid \t pid" qrels file atomically.
type QrelsWriter struct{ *rowWriter }

// CreateQrels starts writing a two-column qrels file.
func CreateQrels(path string) (*QrelsWriter, error) {
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &QrelsWriter{w}, nil
}

// Write appends one judgement (its Rel is not stored: every line is relevant).
func (w *QrelsWriter) Write(q Qrel) error {
	if q.QID == "" || q.PID == "" {
		return w.fail("empty qid or pid")
	}
	return w.row(q.QID, q.PID)
}
