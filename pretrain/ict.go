package pretrain

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/fielderr"
)

// ICTOptions configures WriteICT. Zero values take the defaults in brackets.
type ICTOptions struct {
	// PerPassage is how many pseudo-queries are drawn from each passage (with replacement among its sentences) [2].
	PerPassage int
	// MinRunes and MaxRunes bound a pseudo-query's length in characters [6, 64]: shorter sentences carry too
	// little to match, longer ones are not query-like.
	MinRunes, MaxRunes int
	// Keep is the probability that the sentence also stays in its passage [0.1, as ICT]. Removing it most of the
	// time makes the model match a sentence to its context instead of finding the same words.
	Keep float64
	// NoKeep sets Keep to 0 (a zero Keep means the default).
	NoKeep bool
	// Seed draws the sentences and the negatives [1].
	Seed uint64
}

// ICTStats counts what WriteICT wrote.
type ICTStats struct {
	Passages int `json:"passages"` // passages in the collection
	Used     int `json:"used"`     // passages that gave pseudo-queries (at least two sentences, one of them in the length bounds)
	Lines    int `json:"lines"`    // training lines written
}

func (s ICTStats) String() string {
	return fmt.Sprintf("%d lines from %d of %d passages", s.Lines, s.Used, s.Passages)
}

// DefaultICTOptions returns the defaults (the values in brackets).
func DefaultICTOptions() ICTOptions { return ICTOptions{}.withDefaults() }

func (o ICTOptions) withDefaults() ICTOptions {
	if o.PerPassage == 0 {
		o.PerPassage = 2
	}
	if o.MinRunes == 0 {
		o.MinRunes = 6
	}
	if o.MaxRunes == 0 {
		o.MaxRunes = 64
	}
	if o.Keep == 0 && !o.NoKeep {
		o.Keep = 0.1
	}
	if o.NoKeep {
		o.Keep = 0
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Validate reports the first out-of-range option as a *fielderr.Error naming its field.
func (o ICTOptions) Validate() error {
	d := o.withDefaults()
	return fielderr.Check("pretrain",
		o.PerPassage >= 0, fmt.Sprintf("{PerPassage} %d: must be positive", o.PerPassage),
		o.MinRunes >= 0, fmt.Sprintf("{MinRunes} %d: must be positive", o.MinRunes),
		d.MaxRunes >= d.MinRunes, fmt.Sprintf("{MaxRunes} %d: must be at least {MinRunes} (%d)", d.MaxRunes, d.MinRunes),
		o.Keep >= 0 && o.Keep <= 1, fmt.Sprintf("{Keep} %g: must be in [0, 1]", o.Keep))
}

// Sentences splits a passage into sentences: after each of 。！？；!?; and after a '.' followed by white space.
// Leading and trailing white space is trimmed; empty pieces are dropped. Joining the pieces without separators
// gives the passage without its white space at the cuts.
func Sentences(text string) []string {
	var out []string
	start := 0
	emit := func(end int) {
		if s := strings.TrimSpace(text[start:end]); s != "" {
			out = append(out, s)
		}
		start = end
	}
	for i, r := range text {
		end := i + utf8.RuneLen(r)
		switch r {
		case '。', '！', '？', '；', '!', '?', ';':
			emit(end)
		case '.':
			if next, _ := utf8.DecodeRuneInString(text[end:]); end < len(text) && unicode.IsSpace(next) {
				emit(end)
			}
		}
	}
	emit(len(text))
	return out
}

// WriteICT writes a dual-encoder training file (dual.train.tsv layout) for pre-training on a passage collection
// without labels, by the Inverse Cloze Task (Lee et al., 2019, "Latent Retrieval for Weakly Supervised Open Domain
// Question Answering"; Chang et al., 2020): each line's query is one sentence of a passage, its positive the
// passage without that sentence (with it, with probability Keep), its negative another passage drawn at random
// (one with other text). Passages with fewer than two sentences, or no sentence within the length bounds, give no
// line. Training a dual encoder on the file (rocketqa.TrainDual, `rocketqa train-de`) gives a starting point
// (InitSpec.Init) for the RocketQA steps, as the papers start from a pretrained ERNIE. The file is written
// atomically; the same collection and options give the same file.
func WriteICT(ctx context.Context, pool *dataset.Passages, path string, opts ICTOptions) (ICTStats, error) {
	if err := opts.Validate(); err != nil {
		return ICTStats{}, err
	}
	o := opts.withDefaults()
	st := ICTStats{Passages: pool.Len()}
	if pool.Len() < 2 {
		return st, fmt.Errorf("pretrain: ICT needs at least 2 passages for negatives, the collection has %d", pool.Len())
	}
	w, err := dataset.CreateDualTrain(path)
	if err != nil {
		return st, err
	}
	fail := func(err error) (ICTStats, error) {
		w.Abort()
		return st, err
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x1c7))
	for i := 0; i < pool.Len(); i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
		}
		p := pool.At(i)
		sents := Sentences(p.Text)
		var cands []int
		for j, s := range sents {
			if n := utf8.RuneCountInString(s); n >= o.MinRunes && n <= o.MaxRunes {
				cands = append(cands, j)
			}
		}
		if len(sents) < 2 || len(cands) == 0 {
			continue
		}
		st.Used++
		for k := 0; k < o.PerPassage; k++ {
			j := cands[r.IntN(len(cands))]
			pos := p.Text
			if r.Float64() >= o.Keep {
				pos = strings.Join(sents[:j], "") + strings.Join(sents[j+1:], "")
			}
			neg, ok := drawOther(r, pool, i)
			if !ok {
				return fail(fmt.Errorf("pretrain: every passage of the collection has the text of passage %s: no negative", p.PID))
			}
			if err := w.Write(dataset.DualExample{Query: sents[j], PosTitle: p.Title, PosPara: pos, NegTitle: neg.Title, NegPara: neg.Text}); err != nil {
				return fail(err)
			}
			st.Lines++
		}
	}
	if st.Lines == 0 {
		return fail(fmt.Errorf("pretrain: no passage of the collection has two sentences with one of %d-%d characters: no ICT line", o.MinRunes, o.MaxRunes))
	}
	return st, w.Close()
}

// drawOther draws a passage whose text differs from passage i's, by rejection (64 tries), then by a scan.
func drawOther(r *rand.Rand, pool *dataset.Passages, i int) (dataset.Passage, bool) {
	text := pool.At(i).Text
	for t := 0; t < 64; t++ {
		if c := pool.At(r.IntN(pool.Len())); c.Text != text {
			return c, true
		}
	}
	for k := 0; k < pool.Len(); k++ {
		if c := pool.At(k); c.Text != text {
			return c, true
		}
	}
	return dataset.Passage{}, false
}
