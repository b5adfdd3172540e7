package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rocketqa-go/rocketqa/dataset"
)

type config struct {
	Src        string
	Out        string
	Seed       uint64
	DevPercent int
	MaxRunes   int
	Parts      int
}

// Sources and the limits of a usable pair.
const (
	srcMan = "manpages-zh"
	srcRef = "debian-reference-zh-cn"

	minQueryHan    = 2   // Han characters a query needs
	maxQueryRunes  = 64  // longer "queries" are sentences, not titles
	minPassageRune = 40  // shorter passages say too little
	minPassageHan  = 0.3 // share of Han characters a passage needs
)

// item is one candidate (query, passage) pair.
type item struct {
	Source  string
	Origin  string // file (and section) it came from
	Query   string
	Passage string
}

// stats counts what happened, per source.
type stats struct {
	Files      map[string]int
	Candidates map[string]int
	Kept       map[string]int
	Dropped    map[string]map[string]int // source -> reason -> count
	Train, Dev int
	Collection int
	Distractor int
	Versions   map[string]string
	Licenses   map[string][]string
}

func newStats() *stats {
	return &stats{Files: map[string]int{}, Candidates: map[string]int{}, Kept: map[string]int{},
		Dropped: map[string]map[string]int{}, Versions: map[string]string{}, Licenses: map[string][]string{}}
}

func (s *stats) drop(src, reason string) {
	if s.Dropped[src] == nil {
		s.Dropped[src] = map[string]int{}
	}
	s.Dropped[src][reason]++
}

func (s *stats) summary() string {
	var b strings.Builder
	for _, src := range []string{srcMan, srcRef} {
		fmt.Fprintf(&b, "%s %s: %d files, %d candidate pairs, %d kept", src, s.Versions[src], s.Files[src], s.Candidates[src], s.Kept[src])
		reasons := make([]string, 0, len(s.Dropped[src]))
		for r := range s.Dropped[src] {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		for _, r := range reasons {
			fmt.Fprintf(&b, "; %d %s", s.Dropped[src][r], r)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "train %d pairs, dev %d queries, collection %d passages (%d without a query)\n",
		s.Train, s.Dev, s.Collection, s.Distractor)
	return b.String()
}

func build(cfg config) (*stats, error) {
	if cfg.DevPercent < 1 || cfg.DevPercent > 99 {
		return nil, fmt.Errorf("-dev-percent %d: want 1..99", cfg.DevPercent)
	}
	if cfg.MaxRunes < minPassageRune {
		return nil, fmt.Errorf("-max-chars %d: want at least %d", cfg.MaxRunes, minPassageRune)
	}
	st := newStats()
	man, err := manItems(cfg, st)
	if err != nil {
		return nil, err
	}
	ref, err := refItems(cfg, st)
	if err != nil {
		return nil, err
	}
	for _, src := range []string{srcMan, srcRef} {
		st.Versions[src] = packageVersion(cfg.Src, src)
	}
	pairs, distractors := selectPairs(append(man, ref...), st)
	if len(pairs) == 0 {
		return nil, fmt.Errorf("%s: no usable pairs (is it the unpacked packages' root?)", cfg.Src)
	}
	if err := write(cfg, pairs, distractors, st); err != nil {
		return nil, err
	}
	return st, nil
}

// manItems reads the zh_CN man pages (regular files only: the symlinks are
// aliases of pages already read).
func manItems(cfg config, st *stats) ([]item, error) {
	root := filepath.Join(cfg.Src, "usr", "share", "man", "zh_CN")
	dirs, err := filepath.Glob(filepath.Join(root, "man*"))
	if err != nil || len(dirs) == 0 {
		return nil, fmt.Errorf("%s: no man page directories", root)
	}
	var files []string
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	sort.Strings(files)
	var out []item
	for _, f := range files {
		raw, err := readMaybeGzip(f)
		if err != nil {
			return nil, err
		}
		st.Files[srcMan]++
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte(".so ")) {
			st.drop(srcMan, "pages that only include another (.so)")
			continue
		}
		p := parseManPage(string(raw))
		rel, _ := filepath.Rel(cfg.Src, f)
		st.Candidates[srcMan]++
		out = append(out, item{Source: srcMan, Origin: rel, Query: p.Summary, Passage: cut(p.Description, cfg.MaxRunes)})
	}
	return out, nil
}

// refItems reads the Debian Reference chapters (HTML), one item per section.
func refItems(cfg config, st *stats) ([]item, error) {
	root := filepath.Join(cfg.Src, "usr", "share", "debian-reference")
	files, err := filepath.Glob(filepath.Join(root, "*.zh-cn.html"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.zh-cn.html files", root)
	}
	sort.Strings(files)
	var out []item
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		secs, err := parseDocBookHTML(bufio.NewReader(fh))
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		st.Files[srcRef]++
		rel, _ := filepath.Rel(cfg.Src, f)
		for _, s := range secs {
			st.Candidates[srcRef]++
			out = append(out, item{Source: srcRef, Origin: rel + "#" + s.Title, Query: cleanTitle(s.Title), Passage: cut(s.Body, cfg.MaxRunes)})
		}
	}
	return out, nil
}

func readMaybeGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !strings.HasSuffix(path, ".gz") {
		return io.ReadAll(f)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer zr.Close()
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// key normalises text for duplicate detection: no white space, lower case.
func key(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// selectPairs filters the candidates. A pair needs a Chinese query of sensible
// length and a passage long and Chinese enough; a query that several items
// share is ambiguous and drops them all; a passage already taken drops the
// later item. Passages whose only fault was the query become distractors
// (collection passages that no query asks for).
func selectPairs(items []item, st *stats) (pairs []item, distractors []string) {
	goodPassage := func(p string) bool {
		return len([]rune(p)) >= minPassageRune && hanRatio(p) >= minPassageHan
	}
	var ok []item
	var queryOnly []item
	for _, it := range items {
		it.Query = strings.TrimSpace(it.Query)
		switch {
		case !goodPassage(it.Passage):
			if it.Passage == "" {
				st.drop(it.Source, "without passage text")
			} else {
				st.drop(it.Source, "with a short or non-Chinese passage")
			}
		case hanCount(it.Query) < minQueryHan || len([]rune(it.Query)) > maxQueryRunes:
			st.drop(it.Source, "with a missing, non-Chinese or over-long query")
			queryOnly = append(queryOnly, it)
		default:
			ok = append(ok, it)
		}
	}
	qcount := map[string]int{}
	for _, it := range ok {
		qcount[key(it.Query)]++
	}
	seenPassage := map[string]bool{}
	for _, it := range ok {
		if qcount[key(it.Query)] > 1 {
			st.drop(it.Source, "with a query shared by several items")
			queryOnly = append(queryOnly, it)
			continue
		}
		pk := key(it.Passage)
		if seenPassage[pk] {
			st.drop(it.Source, "with a duplicate passage")
			continue
		}
		seenPassage[pk] = true
		pairs = append(pairs, it)
		st.Kept[it.Source]++
	}
	for _, it := range queryOnly {
		pk := key(it.Passage)
		if !seenPassage[pk] {
			seenPassage[pk] = true
			distractors = append(distractors, it.Passage)
		}
	}
	return pairs, distractors
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// isDev places a query in dev by a seeded hash of its text.
func isDev(query string, seed uint64, percent int) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s", seed, query)
	return h.Sum64()%100 < uint64(percent)
}

func write(cfg config, pairs []item, distractors []string, st *stats) error {
	if _, err := os.Stat(filepath.Join(cfg.Out, ".done")); err == nil {
		os.Remove(filepath.Join(cfg.Out, ".done")) // rewriting: not done until the end
	}
	coll := dataset.NewPassages()
	pidOf := make([]string, len(pairs))
	for i, it := range pairs {
		pidOf[i] = md5hex("p\x00" + it.Passage)
		if err := coll.Add(pidOf[i], "", it.Passage); err != nil {
			return err
		}
	}
	for _, d := range distractors {
		if err := coll.Add(md5hex("p\x00"+d), "", d); err != nil {
			return err
		}
	}
	st.Collection, st.Distractor = coll.Len(), len(distractors)

	trainDir := filepath.Join(cfg.Out, "train")
	dual, err := dataset.CreateDualTrain(filepath.Join(trainDir, "dual.train.tsv"))
	if err != nil {
		return err
	}
	defer dual.Abort()
	cross, err := dataset.CreateCrossTrain(filepath.Join(trainDir, "cross.train.tsv"))
	if err != nil {
		return err
	}
	defer cross.Abort()
	devDir := filepath.Join(cfg.Out, "dev")
	dev, err := dataset.CreateDev(filepath.Join(devDir, "dev.json"))
	if err != nil {
		return err
	}
	defer dev.Abort()
	qf, err := dataset.CreateQueryFormat(filepath.Join(devDir, "dev.q.format"))
	if err != nil {
		return err
	}
	defer qf.Abort()
	var q2qid []dataset.QueryID

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	for i, it := range pairs {
		if isDev(it.Query, cfg.Seed, cfg.DevPercent) {
			qid := md5hex("q\x00" + it.Query)
			q2qid = append(q2qid, dataset.QueryID{Query: it.Query, QID: qid})
			if err := dev.Write(dataset.DevExample{QuestionID: qid, Question: it.Query,
				AnswerParagraphs: []dataset.AnswerParagraph{{ParagraphID: pidOf[i], ParagraphText: it.Passage}}}); err != nil {
				return err
			}
			if err := qf.Write(it.Query); err != nil {
				return err
			}
			st.Dev++
			continue
		}
		neg := coll.At(rng.IntN(coll.Len() - 1))
		if neg.PID == pidOf[i] { // never the positive: take the last passage instead
			neg = coll.At(coll.Len() - 1)
		}
		if err := dual.Write(dataset.DualExample{Query: it.Query, PosPara: it.Passage, NegPara: neg.Text}); err != nil {
			return err
		}
		if err := cross.Write(dataset.CrossExample{Query: it.Query, Para: it.Passage, Label: 1}); err != nil {
			return err
		}
		if err := cross.Write(dataset.CrossExample{Query: it.Query, Para: neg.Text, Label: 0}); err != nil {
			return err
		}
		st.Train++
	}
	for _, w := range []interface{ Close() error }{dual, cross, dev, qf} {
		if err := w.Close(); err != nil {
			return err
		}
	}
	if err := dataset.WriteQ2QID(filepath.Join(devDir, "q2qid.dev.json"), q2qid); err != nil {
		return err
	}
	if err := dataset.WriteDuReaderCollection(filepath.Join(cfg.Out, "passage-collection"), coll, cfg.Parts); err != nil {
		return err
	}
	if err := copyLicenses(cfg, st); err != nil {
		return err
	}
	if err := writeReadme(cfg, st); err != nil {
		return err
	}
	return dataset.WriteFileAtomic(filepath.Join(cfg.Out, ".done"), func(w *dataset.AtomicFile) error {
		_, err := w.WriteString(st.summary())
		return err
	})
}

// copyLicenses copies both packages' copyright files into OUT/licenses and
// records the License fields they declare.
func copyLicenses(cfg config, st *stats) error {
	for _, pkg := range []string{srcMan, srcRef} {
		src := filepath.Join(cfg.Src, "usr", "share", "doc", pkg, "copyright")
		raw, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("the copyright file of %s: %w", pkg, err)
		}
		st.Licenses[pkg] = licenseNames(string(raw))
		if err := dataset.WriteFileAtomic(filepath.Join(cfg.Out, "licenses", pkg+".copyright"), func(w *dataset.AtomicFile) error {
			_, err := w.Write(raw)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// licenseNames lists, in order, the distinct "License:" names of the
// paragraphs that have a "Files:" field in a machine-readable Debian copyright
// file, each with its Files pattern: "GFDL-1.2+ (Files: *)".
func licenseNames(copyright string) []string {
	var out []string
	seen := map[string]bool{}
	for _, para := range strings.Split(copyright, "\n\n") {
		files, license := "", ""
		lines := strings.Split(para, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "Files:") {
				files = strings.TrimSpace(strings.TrimPrefix(l, "Files:"))
				for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], " "); j++ {
					files = strings.TrimSpace(files + " " + strings.TrimSpace(lines[j]))
				}
			}
			if strings.HasPrefix(l, "License:") {
				license = strings.TrimSpace(strings.TrimPrefix(l, "License:"))
			}
		}
		if files == "" || license == "" {
			continue
		}
		s := fmt.Sprintf("%s (Files: %s)", license, files)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// packageVersion reads the version from the first line of the package's
// Debian changelog ("pkg (1.2-3) unstable; ...").
func packageVersion(root, pkg string) string {
	for _, name := range []string{"changelog.Debian.gz", "changelog.gz"} {
		raw, err := readMaybeGzip(filepath.Join(root, "usr", "share", "doc", pkg, name))
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(raw), "\n")
		if i, j := strings.Index(first, "("), strings.Index(first, ")"); i >= 0 && j > i {
			return first[i+1 : j]
		}
	}
	return "(version unknown)"
}

func writeReadme(cfg config, st *stats) error {
	var b strings.Builder
	b.WriteString(`Demo retrieval corpus (Chinese), DuReader-retrieval layout
==========================================================

Made by github.com/rocketqa-go/rocketqa cmd/democorpus (scripts/demo-corpus.sh)
from two Debian documentation packages:

  manpages-zh             zh_CN man pages. Query = the NAME one-line description
                          (the text after "\-"); passage = the DESCRIPTION (描述)
                          section, roff markup removed.
  debian-reference-zh-cn  the Debian Reference (HTML). Query = a section title
                          (numbering removed); passage = the section's own text
                          (code listings, tables and nested sections left out).

`)
	fmt.Fprintf(&b, "Passages are cut to about %d characters at a sentence end. Pairs are dropped when\n", cfg.MaxRunes)
	fmt.Fprintf(&b, "the query has fewer than %d Chinese characters or more than %d characters, when\n", minQueryHan, maxQueryRunes)
	fmt.Fprintf(&b, "the passage has fewer than %d characters or less than %.0f%% Chinese characters,\n", minPassageRune, minPassageHan*100)
	b.WriteString("when several items share a query (all of them), or when the passage repeats an\n")
	b.WriteString("earlier one. Passages dropped only for their query stay in the collection as\n")
	b.WriteString("distractors. Pids and qids are MD5 hashes of the text.\n")
	fmt.Fprintf(&b, "Split: %d%% of the pairs go to dev by a hash of the query seeded with %d; each\n", cfg.DevPercent, cfg.Seed)
	b.WriteString("train pair gets one random negative from the collection (seeded, never its positive).\n\nCounts\n------\n\n")
	b.WriteString(st.summary())
	b.WriteString(`
Files
-----

  train/dual.train.tsv                     query, "", positive, "", negative, 0
  train/cross.train.tsv                    query, "", passage, 1 (positive) / 0 (the negative)
  dev/dev.json                             {question_id, question, answer_paragraphs: [{paragraph_id, paragraph_text}]}
  dev/q2qid.dev.json                       {query: qid}
  dev/dev.q.format                         query, "-", "-", "0"
  passage-collection/part-0N               "-", "", passage, "0"
  passage-collection/passage2id.map.json   {row: pid}

Licenses
--------

The text is taken from the packages named above and keeps their licenses; their
copyright files are in licenses/. They declare:

`)
	for _, pkg := range []string{srcMan, srcRef} {
		fmt.Fprintf(&b, "  %s %s:\n", pkg, st.Versions[pkg])
		for _, l := range st.Licenses[pkg] {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	b.WriteString(`
The man page text is under the GNU Free Documentation License 1.2 or later
(a few pages: GPL-2.0 / GPL-2.0+); the Debian Reference is under the GNU GPL
version 2 or later. This corpus is a derived work of both and is distributed
under the same terms.
`)
	return dataset.WriteFileAtomic(filepath.Join(cfg.Out, "README"), func(w *dataset.AtomicFile) error {
		_, err := w.WriteString(b.String())
		return err
	})
}
