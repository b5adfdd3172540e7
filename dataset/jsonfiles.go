package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ---------------------------------------------------------------------------
// Streaming reader of one big JSON object of string values
// (passage2id.map.json, q2qid.dev.json).

// ObjectReader streams the members of a JSON object whose values are strings
// (or numbers, kept as their literal text), without holding the object in
// memory.
type ObjectReader struct {
	path    string
	file    *inputFile
	bom     int64 // bytes of a leading BOM, skipped before decoding
	gz      *gzip.Reader
	utf8    *utf8Reader
	dec     *json.Decoder
	key     string
	val     string
	entries int
	err     error
	done    bool
	closed  bool
}

// OpenObject opens a file holding one JSON object of string values. Of
// Options only Context is used (cancellation, as for the line readers). A
// byte that is not UTF-8 is an error naming its line (as in the TSV readers).
func OpenObject(path string, opts ...Options) (*ObjectReader, error) {
	o := pickOptions(opts)
	f, err := openInput(o.Context, path)
	if err != nil {
		return nil, err
	}
	r := &ObjectReader{path: path, file: f}
	var in io.Reader = f
	if o.Context != nil {
		in = ctxReader{o.Context, f}
	}
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(in)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r.gz, in = gz, gz
	}
	r.utf8 = &utf8Reader{r: in}
	br := bufio.NewReaderSize(r.utf8, 256<<10)
	if b, _ := br.Peek(len(BOM)); string(b) == BOM {
		r.bom = int64(len(BOM))
	}
	r.dec = json.NewDecoder(SkipBOM(br))
	r.dec.UseNumber()
	tok, err := r.dec.Token()
	if err != nil {
		r.Close()
		if err == io.EOF {
			return nil, fmt.Errorf("%s: empty file, want a JSON object", path)
		}
		return nil, r.errAt(fmt.Sprintf("not a JSON object: %v", err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		r.Close()
		return nil, r.errAt(fmt.Sprintf("want a JSON object, found %v", tok))
	}
	return r, nil
}

// errAt builds a *LineError for the decoder's current position, or for the first byte that is not UTF-8 when
// reading stopped there.
func (r *ObjectReader) errAt(msg string) error {
	if r.utf8.bad {
		return &LineError{Path: r.path, Line: LineAtOffset(r.path, r.utf8.off), Msg: "not valid UTF-8"}
	}
	return &LineError{Path: r.path, Line: LineAtOffset(r.path, r.bom+r.dec.InputOffset()), Msg: msg}
}

// errNotUTF8 is what utf8Reader returns at the first byte that is not UTF-8.
var errNotUTF8 = errors.New("not valid UTF-8")

// utf8Reader passes the bytes of r through and fails with errNotUTF8 at the first byte that is not UTF-8
// (encoding/json would turn it into U+FFFD without a word). A rune cut by the end of one read is checked with the
// next; the decoder cannot finish a token with it before that next read.
type utf8Reader struct {
	r    io.Reader
	tail []byte // the start of a rune cut by the end of the last read
	off  int64  // offset of tail (or of the next byte) in the stream
	bad  bool   // a byte at offset off is not UTF-8
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	if u.bad {
		return 0, errNotUTF8
	}
	n, err := u.r.Read(p)
	b := p[:n]
	if len(u.tail) > 0 {
		t := len(u.tail)
		u.tail = append(u.tail, b[:min(len(b), utf8.UTFMax-t)]...)
		if !utf8.FullRune(u.tail) && err == nil {
			return n, err // still cut: b was shorter than the rest of the rune
		}
		c, size := utf8.DecodeRune(u.tail)
		if c == utf8.RuneError && size <= 1 {
			u.bad = true
			return 0, errNotUTF8
		}
		b = b[size-t:]
		u.off += int64(size)
		u.tail = u.tail[:0]
	}
	end := len(b)
	if err == nil {
		// keep back a rune that the next read completes
		for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					end = i
				}
				break
			}
		}
	}
	for i := 0; i < end; {
		c, size := utf8.DecodeRune(b[i:end])
		if c == utf8.RuneError && size <= 1 {
			u.off += int64(i)
			u.bad = true
			return 0, errNotUTF8
		}
		i += size
	}
	u.off += int64(end)
	u.tail = append(u.tail, b[end:]...)
	return n, err
}

// Next reads the next member.
func (r *ObjectReader) Next() bool {
	if r.err != nil || r.done {
		return false
	}
	if !r.dec.More() {
		tok, err := r.dec.Token()
		if err != nil || tok != json.Delim('}') {
			r.err = r.errAt(fmt.Sprintf("malformed end of object: %v", err))
			return false
		}
		if _, err := r.dec.Token(); err != io.EOF {
			r.err = r.errAt("data after the JSON object")
			return false
		}
		r.done = true
		return false
	}
	tok, err := r.dec.Token()
	if err != nil {
		r.err = r.errAt(fmt.Sprintf("malformed JSON: %v", err))
		return false
	}
	key, ok := tok.(string)
	if !ok {
		r.err = r.errAt(fmt.Sprintf("want a key, found %v", tok))
		return false
	}
	tok, err = r.dec.Token()
	if err != nil {
		r.err = r.errAt(fmt.Sprintf("malformed JSON: %v", err))
		return false
	}
	switch v := tok.(type) {
	case string:
		r.val = v
	case json.Number:
		r.val = v.String()
	default:
		r.err = r.errAt(fmt.Sprintf("value of %q is %v, want a string", clip(key, 40), tok))
		return false
	}
	r.key = key
	r.entries++
	return true
}

// Key is the current member's key.
func (r *ObjectReader) Key() string { return r.key }

// Value is the current member's value.
func (r *ObjectReader) Value() string { return r.val }

// Line is the line the decoder has reached (computed by re-reading the file:
// meant for error messages, not for every member).
func (r *ObjectReader) Line() int { return LineAtOffset(r.path, r.bom+r.dec.InputOffset()) }

// Err is the first error met.
func (r *ObjectReader) Err() error { return r.err }

// Close releases the file. Safe to call twice.
func (r *ObjectReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.gz != nil {
		r.gz.Close()
	}
	return r.file.close()
}

// LineAtOffset returns the 1-based line holding byte offset off of path
// (decompressed, for .gz files), for error messages about JSON files. It
// returns 0 if the file cannot be read.
func LineAtOffset(path string, off int64) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var in io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return 0
		}
		defer gz.Close()
		in = gz
	}
	line := 1
	buf := make([]byte, 64<<10)
	for off > 0 {
		n, err := in.Read(buf[:min(int64(len(buf)), off)])
		line += bytes.Count(buf[:n], []byte{'\n'})
		off -= int64(n)
		if err != nil {
			break
		}
	}
	return line
}

// writeObject writes a JSON object of string members atomically, one member
// per line, without HTML escaping (as Python's json.dump with ensure_ascii=False).
func writeObject(path string, n int, member func(i int) (string, string)) error {
	return WriteFileAtomic(path, func(w *AtomicFile) error {
		w.WriteString("{")
		for i := 0; i < n; i++ {
			k, v := member(i)
			if i > 0 {
				w.WriteString(",")
			}
			w.WriteString("\n  ")
			w.Write(jsonString(k))
			w.WriteString(": ")
			if _, err := w.Write(jsonString(v)); err != nil {
				return err
			}
		}
		_, err := w.WriteString("\n}\n")
		return err
	})
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// ---------------------------------------------------------------------------
// passage2id.map.json

// maxRowGap bounds how far a row index may run ahead of the rows read, so a
// corrupt key cannot make ReadPassageIDMap allocate an absurd slice.
const maxRowGap = 1 << 24

// ReadPassageIDMap reads passage2id.map.json ({"<row>": "<pid>"}) into a slice
// indexed by row. Every row from 0 to the largest must be present exactly once,
// and every pid must be distinct (a pid on two rows would come back at two
// ranks of one search): the error names the pid and both rows. It streams the
// file: memory is the slice of pids. Of Options only Context is used.
func ReadPassageIDMap(path string, opts ...Options) ([]string, error) {
	r, err := OpenObject(path, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var pids []string
	var seen []bool
	for r.Next() {
		row, err := strconv.Atoi(r.Key())
		if err != nil || row < 0 {
			return nil, &LineError{Path: path, Line: r.Line(), Msg: fmt.Sprintf("key %q is not a row index", clip(r.Key(), 40))}
		}
		if row >= len(pids) {
			if row-r.entries > maxRowGap {
				return nil, &LineError{Path: path, Line: r.Line(), Msg: fmt.Sprintf("row %d is far beyond the %d rows read so far", row, r.entries)}
			}
			for len(pids) <= row {
				pids = append(pids, "")
				seen = append(seen, false)
			}
		}
		if seen[row] {
			return nil, &LineError{Path: path, Line: r.Line(), Msg: fmt.Sprintf("row %d appears twice", row)}
		}
		if r.Value() == "" {
			return nil, &LineError{Path: path, Line: r.Line(), Msg: fmt.Sprintf("row %d has an empty pid", row)}
		}
		seen[row] = true
		pids[row] = r.Value()
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%s: row %d is missing (rows 0..%d expected)", path, i, len(pids)-1)
		}
	}
	if i, j, dup := FirstDuplicate(pids); dup {
		return nil, fmt.Errorf("%s: pid %q is mapped from row %d and from row %d; every row needs its own pid", path, clip(pids[i], 60), i, j)
	}
	return pids, nil
}

// WritePassageIDMap writes passage2id.map.json: {"0": pids[0], "1": pids[1], ...}.
func WritePassageIDMap(path string, pids []string) error {
	for i, p := range pids {
		if p == "" {
			return fmt.Errorf("%s: row %d has an empty pid", path, i)
		}
	}
	return writeObject(path, len(pids), func(i int) (string, string) { return strconv.Itoa(i), pids[i] })
}

// ---------------------------------------------------------------------------
// q2qid.dev.json

// QueryID pairs a query text with its id.
type QueryID struct {
	Query string
	QID   string
}

// ReadQ2QID reads q2qid.dev.json ({"<query text>": "<qid>"}) in file order.
// A repeated query is an error. Of Options only Context is used.
func ReadQ2QID(path string, opts ...Options) ([]QueryID, error) {
	r, err := OpenObject(path, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []QueryID
	seen := map[string]bool{}
	for r.Next() {
		if seen[r.Key()] {
			return nil, &LineError{Path: path, Line: r.Line(), Msg: fmt.Sprintf("query %q appears twice", clip(r.Key(), 40))}
		}
		if r.Value() == "" {
			return nil, &LineError{Path: path, Line: r.Line(), Msg: fmt.Sprintf("query %q has an empty qid", clip(r.Key(), 40))}
		}
		seen[r.Key()] = true
		out = append(out, QueryID{Query: r.Key(), QID: r.Value()})
	}
	return out, r.Err()
}

// WriteQ2QID writes q2qid.dev.json in the given order. Queries must be distinct.
func WriteQ2QID(path string, qs []QueryID) error {
	seen := make(map[string]bool, len(qs))
	for _, q := range qs {
		if seen[q.Query] {
			return fmt.Errorf("%s: query %q appears twice", path, clip(q.Query, 40))
		}
		if q.QID == "" {
			return fmt.Errorf("%s: query %q has an empty qid", path, clip(q.Query, 40))
		}
		seen[q.Query] = true
	}
	return writeObject(path, len(qs), func(i int) (string, string) { return qs[i].Query, qs[i].QID })
}

// ---------------------------------------------------------------------------
// dev.json (JSON lines)

// AnswerParagraph is one relevant passage of a DuReader dev question.
type AnswerParagraph struct {
	ParagraphID   string `json:"paragraph_id"`
	ParagraphText string `json:"paragraph_text,omitempty"`
}

// DevExample is one line of DuReader-retrieval dev.json.
type DevExample struct {
	QuestionID       string            `json:"question_id"`
	Question         string            `json:"question"`
	AnswerParagraphs []AnswerParagraph `json:"answer_paragraphs"`
}

// DevReader streams dev.json.
type DevReader struct {
	*records[DevExample]
}

// OpenDev opens a dev.json file: one JSON object per line with question_id,
// question and answer_paragraphs[*].paragraph_id (and paragraph_text). Ids may
// be JSON strings or numbers (kept as their literal text). A line that is not
// such an object (a blank line included, as in the official evaluation.py), or
// is not UTF-8, is malformed.
func OpenDev(path string, opts ...Options) (*DevReader, error) {
	r, err := openRecords(path, opts, parseDev)
	if err != nil {
		return nil, err
	}
	return &DevReader{r}, nil
}

// Example is the current question.
func (r *DevReader) Example() DevExample { return r.cur }

// flexID is a JSON string or number, kept as text.
type flexID struct {
	s   string
	set bool
}

// UnmarshalJSON accepts a JSON string or number.
func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &f.s); err != nil {
			return err
		}
		f.set = true
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", clip(string(b), 40))
	}
	f.s, f.set = n.String(), true
	return nil
}

func parseDev(line []byte) (DevExample, error) {
	var raw struct {
		QuestionID       *flexID `json:"question_id"`
		Question         string  `json:"question"`
		AnswerParagraphs *[]struct {
			ParagraphID   *flexID `json:"paragraph_id"`
			ParagraphText string  `json:"paragraph_text"`
		} `json:"answer_paragraphs"`
	}
	switch t := bytes.TrimSpace(line); {
	case !utf8.Valid(line):
		return DevExample{}, errors.New("not valid UTF-8")
	case len(t) == 0:
		return DevExample{}, errors.New("blank line; want one JSON object per line (JSON lines)")
	case t[0] == '[':
		return DevExample{}, errors.New("a JSON array; want JSON lines, one question object per line (convert with: jq -c '.[]' FILE)")
	case t[0] != '{':
		return DevExample{}, fmt.Errorf("want one JSON object per line (JSON lines), found %q", clip(string(t), 20))
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return DevExample{}, fmt.Errorf("not a JSON object: %v", err)
	}
	if raw.QuestionID == nil || raw.QuestionID.s == "" {
		return DevExample{}, errors.New("missing or empty question_id")
	}
	if raw.AnswerParagraphs == nil {
		return DevExample{}, errors.New("missing answer_paragraphs")
	}
	ex := DevExample{QuestionID: raw.QuestionID.s, Question: raw.Question,
		AnswerParagraphs: make([]AnswerParagraph, 0, len(*raw.AnswerParagraphs))}
	for i, p := range *raw.AnswerParagraphs {
		if p.ParagraphID == nil || p.ParagraphID.s == "" {
			return DevExample{}, fmt.Errorf("answer_paragraphs[%d]: missing or empty paragraph_id", i)
		}
		ex.AnswerParagraphs = append(ex.AnswerParagraphs, AnswerParagraph{ParagraphID: p.ParagraphID.s, ParagraphText: p.ParagraphText})
	}
	return ex, nil
}

// DevWriter writes dev.json (JSON lines) atomically.
type DevWriter struct{ *rowWriter }

// CreateDev starts writing a dev.json file.
func CreateDev(path string) (*DevWriter, error) {
	w, err := createRows(path)
	if err != nil {
		return nil, err
	}
	return &DevWriter{w}, nil
}

// Write appends one question.
func (w *DevWriter) Write(ex DevExample) error {
	if w.err != nil {
		return w.err
	}
	if ex.QuestionID == "" {
		return w.fail("empty question_id")
	}
	if ex.AnswerParagraphs == nil {
		ex.AnswerParagraphs = []AnswerParagraph{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ex); err != nil {
		w.err = err
		return err
	}
	return w.line(b.Bytes())
}
