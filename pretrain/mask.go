package pretrain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/rocketqa-go/rocketqa/tokenizer"
)

// Masking selects what is masked as one unit.
type Masking string

// Maskings.
const (
	// WholeWord masks a word and all its WordPiece continuations (## pieces) together (BERT's whole-word masking,
	// as in Chinese-BERT-wwm's "whole word" for the word-piece level). Chinese has no ## pieces (BERT's tokenizer
	// splits every CJK character off), so on Chinese text this is character masking, while ASCII words inside it
	// (commands, options, file names) are masked whole.
	WholeWord Masking = "wwm"
	// Char masks every token on its own (original BERT).
	Char Masking = "char"
)

// Masker applies BERT's masking rule: Prob of the non-special tokens of a sequence (at least one) are chosen, in
// units given by Mode; each chosen token becomes [MASK] with probability 0.8, a random token with 0.1 (uniform over
// the non-special vocabulary) and stays itself with 0.1, and it is predicted.
type Masker struct {
	Mode    Masking
	Prob    float64 // [0.15]
	maskID  int32
	special []bool // per vocabulary id: never masked, never drawn as a random replacement
	cont    []bool // per vocabulary id: a ## continuation piece
	normal  []int32
}

// NewMasker builds the masker for a tokenizer's vocabulary. [PAD], [UNK], [CLS], [SEP], [MASK] and every other
// bracketed token ([unused1], ...) count as special.
func NewMasker(tok *tokenizer.Tokenizer, mode Masking, prob float64) (*Masker, error) {
	if mode == "" {
		mode = WholeWord
	}
	if mode != WholeWord && mode != Char {
		return nil, fmt.Errorf("pretrain: unknown masking %q (wwm or char)", mode)
	}
	if prob == 0 {
		prob = 0.15
	}
	if !(prob > 0 && prob < 1) {
		return nil, fmt.Errorf("pretrain: mask probability %v must be in (0, 1)", prob)
	}
	n := tok.VocabSize()
	m := &Masker{Mode: mode, Prob: prob, maskID: tok.MASK(), special: make([]bool, n), cont: make([]bool, n)}
	for id := 0; id < n; id++ {
		s := tok.Token(int32(id))
		m.special[id] = strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") && len(s) > 2
		m.cont[id] = strings.HasPrefix(s, "##")
		if !m.special[id] {
			m.normal = append(m.normal, int32(id))
		}
	}
	for _, id := range []int32{tok.PAD(), tok.UNK(), tok.CLS(), tok.SEP(), tok.MASK()} {
		if id >= 0 && int(id) < n {
			m.special[id] = true
		}
	}
	if len(m.normal) == 0 {
		return nil, fmt.Errorf("pretrain: the vocabulary has no token besides the special ones")
	}
	return m, nil
}

// Apply masks one sequence: it returns the model input (a copy of ids with the replacements), the positions that
// are predicted (increasing) and their labels (the original ids). A sequence without a maskable token gives none.
func (m *Masker) Apply(rng *rand.Rand, ids []int32) (input []int32, pos []int, labels []int32) {
	input = append([]int32(nil), ids...)
	var groups [][]int
	maskable := 0
	for i, id := range ids {
		if int(id) >= len(m.special) || id < 0 || m.special[id] {
			continue
		}
		maskable++
		if m.Mode == WholeWord && m.cont[id] && len(groups) > 0 {
			if g := groups[len(groups)-1]; g[len(g)-1] == i-1 {
				groups[len(groups)-1] = append(g, i)
				continue
			}
		}
		groups = append(groups, []int{i})
	}
	if maskable == 0 {
		return input, nil, nil
	}
	want := max(1, int(math.Round(float64(maskable)*m.Prob)))
	rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	chosen := make([]bool, len(ids))
	got := 0
	for _, g := range groups {
		if got >= want {
			break
		}
		if got+len(g) > want {
			continue // a word that does not fit (as Google's and HF's whole-word masking skip it)
		}
		for _, i := range g {
			chosen[i] = true
		}
		got += len(g)
	}
	if got == 0 { // every word is longer than the budget: mask the first one anyway
		for _, i := range groups[0] {
			chosen[i] = true
		}
	}
	for i, c := range chosen {
		if !c {
			continue
		}
		pos = append(pos, i)
		labels = append(labels, ids[i])
		switch r := rng.Float64(); {
		case r < 0.8:
			input[i] = m.maskID
		case r < 0.9:
			input[i] = m.normal[rng.IntN(len(m.normal))]
		}
	}
	return input, pos, labels
}
