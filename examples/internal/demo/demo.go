// Package demo holds what the example mains share: a vocabulary and a small model config built for training from
// scratch on the Debian demo corpus (no pretrained checkpoint is reachable offline), and table printing.
package demo

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/eval"
)

// BuildVocab writes a BERT vocab.txt for the corpus in dataDir (DuReader layout): the special tokens, every
// non-space character seen (lower-cased; CJK characters are single tokens for BERT's tokenizer anyway), each ASCII
// letter and digit also as a ## continuation piece, and the ASCII words seen at least minWordFreq times. Any text
// then tokenizes without [UNK] for ASCII, and Chinese is split per character as for bert-base-chinese.
func BuildVocab(dataDir, out string, minWordFreq int) (int, error) {
	chars := map[string]int{}
	words := map[string]int{}
	add := func(s string) {
		s = strings.ToLower(s)
		var w strings.Builder
		flush := func() {
			if w.Len() > 0 {
				words[w.String()]++
				w.Reset()
			}
		}
		for _, r := range s {
			switch {
			case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
				w.WriteRune(r)
			default:
				flush()
				if !unicode.IsSpace(r) && !unicode.IsControl(r) {
					chars[string(r)]++
				}
			}
		}
		flush()
	}
	r, err := dataset.OpenCollection(filepath.Join(dataDir, "passage-collection"))
	if err != nil {
		return 0, err
	}
	for r.Next() {
		p := r.Passage()
		add(p.Title)
		add(p.Text)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return 0, err
	}
	tr, err := dataset.OpenDualTrain(filepath.Join(dataDir, "train", "dual.train.tsv"))
	if err != nil {
		return 0, err
	}
	for tr.Next() {
		add(tr.Example().Query)
	}
	tr.Close()
	qs, err := dataset.ReadQ2QID(filepath.Join(dataDir, "dev", "q2qid.dev.json"))
	if err != nil {
		return 0, err
	}
	for _, q := range qs {
		add(q.Query)
	}
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	seen := map[string]bool{}
	for _, t := range toks {
		seen[t] = true
	}
	push := func(t string) {
		if !seen[t] {
			seen[t] = true
			toks = append(toks, t)
		}
	}
	for c := 'a'; c <= 'z'; c++ {
		push(string(c))
		push("##" + string(c))
	}
	for c := '0'; c <= '9'; c++ {
		push(string(c))
		push("##" + string(c))
	}
	for _, c := range sortedByCount(chars) {
		push(c)
	}
	for _, w := range sortedByCount(words) {
		if words[w] >= minWordFreq && len(w) > 1 {
			push(w)
		}
	}
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(f)
	for _, t := range toks {
		fmt.Fprintln(bw, t)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return len(toks), os.Rename(out+".tmp", out)
}

func sortedByCount(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// SmallConfig is a small BERT for training from scratch on CPU in minutes: 128 wide, the given depth, no dropout
// (with a few hundred steps on a thousand pairs, dropout 0.1 keeps a from-scratch [CLS] encoder from leaving the
// collapsed start), and initializer_range initStd (BERT's 0.02 suits pretraining; a larger one lets the [CLS]
// vector carry the tokens' content from the first step).
func SmallConfig(vocabSize, maxLen, layers int, initStd float64) *encoder.Config {
	return &encoder.Config{ModelType: "bert", VocabSize: vocabSize, HiddenSize: 128, NumHiddenLayers: layers, NumAttentionHeads: 4,
		IntermediateSize: 512, HiddenAct: "gelu", HiddenDropoutProb: 0, AttentionDropoutProb: 0,
		MaxPositionEmbeddings: maxLen, TypeVocabSize: 2, LayerNormEps: 1e-12, PadTokenID: 0, InitializerRange: initStd}
}

// Row is one line of a results table.
type Row struct {
	Name string
	M    eval.Metrics
	Note string
}

// PrintTable prints MRR@10 / Recall@1 / Recall@50 (percent) per row.
func PrintTable(w io.Writer, rows []Row) {
	width := 34 // the model column fits the longest name
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r.Name))
	}
	fmt.Fprintf(w, "%-*s %8s %8s %8s  %s\n", width, "model", "MRR@10", "R@1", "R@50", "")
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s %8.2f %8.2f %8.2f  %s\n", width, r.Name, 100*r.M.MRR10, 100*r.M.Recall1, 100*r.M.Recall50, r.Note)
	}
}

// RejectArgs ends an example main (name) with exit status 2 when its command line holds an argument that is not a
// flag: flag parsing stops there, so the flags after it would be silently ignored.
func RejectArgs(name string) {
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q: every setting is a flag (-h lists them)\n", name, flag.Arg(0))
		os.Exit(2)
	}
}
