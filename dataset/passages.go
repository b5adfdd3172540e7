package dataset

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Passages is an in-memory passage store for corpora that fit in memory
// (the demo corpus, tests, a few million short passages). Passages keep their
// insertion order: the i-th added passage has Row i. For the 8M-passage
// DuReader collection stream with OpenCollection instead.
type Passages struct {
	pids   []string
	titles []string
	texts  []string
	byPID  map[string]int
}

// NewPassages returns an empty store.
func NewPassages() *Passages { return &Passages{byPID: map[string]int{}} }

// Add appends a passage. The pid must be non-empty and new.
func (p *Passages) Add(pid, title, text string) error {
	if pid == "" {
		return fmt.Errorf("passage %d: empty pid", len(p.pids))
	}
	if _, dup := p.byPID[pid]; dup {
		return fmt.Errorf("passage %d: pid %q already present", len(p.pids), pid)
	}
	p.byPID[pid] = len(p.pids)
	p.pids = append(p.pids, pid)
	p.titles = append(p.titles, title)
	p.texts = append(p.texts, text)
	return nil
}

// Len is the number of passages.
func (p *Passages) Len() int { return len(p.pids) }

// At returns the passage at row i (0 <= i < Len).
func (p *Passages) At(i int) Passage {
	return Passage{Row: i, PID: p.pids[i], Title: p.titles[i], Text: p.texts[i]}
}

// Get looks a passage up by pid.
func (p *Passages) Get(pid string) (Passage, bool) {
	i, ok := p.byPID[pid]
	if !ok {
		return Passage{}, false
	}
	return p.At(i), true
}

// PIDs returns the pids in row order (the store's own slice: do not modify).
func (p *Passages) PIDs() []string { return p.pids }

// LoadDuReaderCollection reads a DuReader-style collection directory into
// memory: the part-* files (rows in order) and passage2id.map.json (row -> pid).
// The map must cover every row. It is LoadPassages(dir, "", nil).
func LoadDuReaderCollection(dir string, opts ...Options) (*Passages, error) {
	return loadDuReader(dir, nil, opts)
}

// LoadMarcoCorpus reads RocketQA's MS MARCO / NQ corpus files into memory:
// paraPath ("pid \t para", para.txt or collection.tsv) and, if titlePath is
// not empty, titles ("pid \t title", para.title.txt; a "-" title is kept as it is). Every
// title's pid must be a passage's, and have one title. It is LoadPassages(paraPath, titlePath, nil).
func LoadMarcoCorpus(paraPath, titlePath string, opts ...Options) (*Passages, error) {
	return loadMarco(paraPath, titlePath, nil, opts)
}

// LoadPassages reads the passages whose pids are in need (all when need is nil) from a DuReader collection
// directory (part-* + passage2id.map.json) or from a "pid \t text" file (MS MARCO para.txt / collection.tsv) with
// an optional "pid \t title" file. Streaming: only the needed passages are kept in memory.
func LoadPassages(collection, titles string, need map[string]bool, opts ...Options) (*Passages, error) {
	st, err := os.Stat(collection)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return loadDuReader(collection, need, opts)
	}
	return loadMarco(collection, titles, need, opts)
}

func loadDuReader(dir string, need map[string]bool, opts []Options) (*Passages, error) {
	mapPath := filepath.Join(dir, "passage2id.map.json")
	pids, err := ReadPassageIDMap(mapPath, opts...)
	if err != nil {
		return nil, err
	}
	r, err := OpenCollection(dir, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := NewPassages()
	for r.Next() {
		ps := r.Passage()
		if ps.Row >= len(pids) {
			return nil, &LineError{Path: r.Path(), Line: r.rec.curLine,
				Msg: fmt.Sprintf("row %d has no pid in %s (%d rows mapped)", ps.Row, mapPath, len(pids))}
		}
		if need != nil && !need[pids[ps.Row]] {
			continue
		}
		if err := p.Add(pids[ps.Row], ps.Title, ps.Text); err != nil {
			return nil, &LineError{Path: r.Path(), Line: r.rec.curLine, Msg: err.Error()}
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if r.Rows() != len(pids) {
		return nil, fmt.Errorf("%s maps %d rows but the part files of %s hold %d passages: the map belongs to another collection, or a part is missing or extra", mapPath, len(pids), dir, r.Rows())
	}
	return p, nil
}

func loadMarco(paraPath, titlePath string, need map[string]bool, opts []Options) (*Passages, error) {
	r, err := OpenIDText(paraPath, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := NewPassages()
	for r.Next() {
		if rec := r.Record(); need == nil || need[rec.ID] {
			if err := p.Add(rec.ID, "", rec.Text); err != nil {
				return nil, &LineError{Path: paraPath, Line: r.Line(), Msg: err.Error()}
			}
		}
	}
	if err := r.Err(); err != nil || titlePath == "" {
		return p, err
	}
	t, err := OpenIDText(titlePath, opts...)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	titleLine := make([]int32, p.Len()) // the line that titled each passage, 0 for none yet
	for t.Next() {
		rec := t.Record()
		i, ok := p.byPID[rec.ID]
		switch {
		case !ok && need == nil:
			return nil, &LineError{Path: titlePath, Line: t.Line(), Msg: fmt.Sprintf("pid %q is not in %s", clip(rec.ID, 40), paraPath)}
		case ok && titleLine[i] != 0:
			return nil, &LineError{Path: titlePath, Line: t.Line(), Msg: fmt.Sprintf("pid %q has a title on line %d already", clip(rec.ID, 40), titleLine[i])}
		case ok:
			p.titles[i] = rec.Text
			titleLine[i] = int32(min(t.Line(), math.MaxInt32))
		}
	}
	return p, t.Err()
}

// WriteDuReaderCollection writes p as a DuReader passage collection in dir:
// parts files part-00, part-01, ... ("-", title, para, "0"; each holds
// Len/parts+1 rows, as `split -l` does in the official scripts) and
// passage2id.map.json mapping each row to its pid.
func WriteDuReaderCollection(dir string, p *Passages, parts int) error {
	if parts < 1 || parts > 100 {
		return fmt.Errorf("%s: %d parts: want 1..100", dir, parts)
	}
	if p.Len() == 0 {
		return fmt.Errorf("%s: no passages to write", dir)
	}
	per := p.Len()/parts + 1
	row := 0
	for k := 0; k < parts && row < p.Len(); k++ {
		w, err := CreateCollectionPart(filepath.Join(dir, "part-"+twoDigits(k)))
		if err != nil {
			return err
		}
		for end := min(row+per, p.Len()); row < end; row++ {
			if err := w.Write(p.At(row)); err != nil {
				w.Abort()
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return WritePassageIDMap(filepath.Join(dir, "passage2id.map.json"), p.pids)
}

func twoDigits(k int) string {
	if k < 10 {
		return "0" + strconv.Itoa(k)
	}
	return strconv.Itoa(k)
}
