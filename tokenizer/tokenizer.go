package tokenizer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Options configures normalisation and word splitting. Use DefaultOptions and change what differs: the zero
// value turns lowercasing, Chinese-character splitting and text cleaning off.
type Options struct {
	// Lowercase lowercases the text (BERT do_lower_case). Default true.
	Lowercase bool
	// StripAccents removes accents (NFD, then drop non-spacing marks). nil follows Lowercase, as HF
	// BertNormalizer does.
	StripAccents *bool
	// TokenizeChineseChars makes every CJK ideograph a word of its own. Default true.
	TokenizeChineseChars bool
	// CleanText removes NUL, U+FFFD and control/format characters and turns white space into ' '. Default true.
	CleanText bool
	// RemoveSpaces deletes every ' ' (U+0020) before tokenizing, as the official RocketQA readers do with
	// for_cn (DuReader / Chinese models). Default false.
	RemoveSpaces bool
	// MaxCharsPerWord: a word longer than this (in runes, after normalisation) becomes [UNK].
	// Values <= 0 mean 100, the default.
	MaxCharsPerWord int
}

// DefaultOptions returns the BERT uncased / ERNIE settings: lowercase, strip accents, split CJK
// characters, clean text, words of at most 100 characters, spaces kept.
func DefaultOptions() Options {
	return Options{
		Lowercase:            true,
		TokenizeChineseChars: true,
		CleanText:            true,
		MaxCharsPerWord:      100,
	}
}

// Special token names looked up in the vocabulary.
const (
	TokenCLS  = "[CLS]"
	TokenSEP  = "[SEP]"
	TokenPAD  = "[PAD]"
	TokenUNK  = "[UNK]"
	TokenMASK = "[MASK]"
)

// continuing-subword prefix of WordPiece pieces that do not start a word.
const piecePrefix = "##"

// Tokenizer is a BERT WordPiece tokenizer (basic tokenizer + greedy longest-match-first WordPiece) that
// reproduces HuggingFace tokenizers' BertNormalizer + BertPreTokenizer + WordPiece exactly. It is immutable
// after New and safe for concurrent use.
type Tokenizer struct {
	vocab    map[string]int32
	tokens   []string
	maxBytes int // longest vocabulary entry, in bytes

	opts     Options
	clean    bool
	cjk      bool
	strip    bool
	lower    bool
	noSpace  bool
	maxChars int

	ascii [utf8.RuneSelf]asciiAction

	cls, sep, pad, unk, mask int32

	pool sync.Pool
	slow bool // tests: run every rune through the general path
}

// asciiAction is what the whole pipeline does with one ASCII byte under the tokenizer's options.
type asciiAction struct {
	kind uint8
	b    byte // the byte to add to the word (lowercased when configured)
}

const (
	aWord  uint8 = iota // part of a word
	aSkip               // dropped (clean_text, or ' ' with RemoveSpaces)
	aSplit              // ends the word (white space)
	aPunct              // a word of its own
)

// New reads a vocabulary file and returns a tokenizer. The file has one token per line, the line index being
// its id (the BERT / HF vocab.txt format); lines of the form "token<TAB>id" (the Paddle ERNIE format read by
// the official RocketQA code) give ids explicitly. The file is read as HF tokenizers' WordPiece reads it: trailing
// Unicode white space of each line is trimmed, so a line that is empty or only white space (bert-base-chinese's
// line 344 is U+2028 LINE SEPARATOR) holds the token "" and "##"+U+2028 becomes "##"; such tokens can never be
// produced and only keep the ids of the lines after them. When a token occurs twice (after trimming), the last id
// wins, as in HF; the earlier id is then never produced either.
// Errors name the file and line: a line that is not UTF-8, a bad, duplicate or out-of-range explicit id, or a
// missing special token ([UNK], [CLS], [SEP] and [PAD] are required; [MASK] is optional).
func New(vocabPath string, opts Options) (*Tokenizer, error) {
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return NewFromBytes(vocabPath, data, opts)
}

// NewFromBytes is New over the contents of a vocabulary file already in memory; vocabPath is what errors name. A
// caller that keeps the bytes (to save them with a model) builds its tokenizer from the same read.
func NewFromBytes(vocabPath string, data []byte, opts Options) (*Tokenizer, error) {
	var toks []string
	var ids []int
	explicit := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRightFunc(sc.Text(), unicode.IsSpace)
		id := line - 1
		if i := strings.IndexByte(s, '\t'); i >= 0 {
			n, err := strconv.Atoi(strings.TrimSpace(s[i+1:]))
			if err != nil {
				return nil, fmt.Errorf("tokenizer: %s:%d: bad id %q after tab", vocabPath, line, s[i+1:])
			}
			// the official RocketQA / ERNIE load_vocab strips the token of white space on both sides
			s, id, explicit = strings.TrimFunc(s[:i], unicode.IsSpace), n, true
		}
		toks = append(toks, s)
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: %s:%d: %w", vocabPath, line+1, err)
	}
	where := func(i int) string { return fmt.Sprintf("%s:%d", vocabPath, i+1) }
	if explicit {
		byID := make([]string, len(toks))
		lineOf := make([]int, len(toks))
		for i, id := range ids {
			if id < 0 || id >= len(toks) {
				return nil, fmt.Errorf("tokenizer: %s: id %d out of range [0, %d)", where(i), id, len(toks))
			}
			if lineOf[id] != 0 {
				return nil, fmt.Errorf("tokenizer: %s: duplicate id %d (first at line %d)", where(i), id, lineOf[id])
			}
			byID[id] = toks[i]
			lineOf[id] = i + 1
		}
		// Map tokens in file order: errors name the right line, and a repeated token keeps its last line's id.
		inFile, err := validate(toks, where)
		if err != nil {
			return nil, err
		}
		vocab := make(map[string]int32, len(inFile))
		for s, i := range inFile {
			vocab[s] = int32(ids[i])
		}
		return build(byID, vocab, opts, vocabPath)
	}
	vocab, err := validate(toks, where)
	if err != nil {
		return nil, err
	}
	return build(toks, vocab, opts, vocabPath)
}

// NewFromVocab returns a tokenizer over the given tokens, token i having id i. Errors are as for New, naming
// the token index.
func NewFromVocab(tokens []string, opts Options) (*Tokenizer, error) {
	cp := make([]string, len(tokens))
	copy(cp, tokens)
	vocab, err := validate(cp, func(i int) string { return fmt.Sprintf("token %d", i) })
	if err != nil {
		return nil, err
	}
	return build(cp, vocab, opts, "vocabulary")
}

// validate checks every token is UTF-8 and maps each token to its id; a token that occurs twice keeps its last id
// (HF tokenizers builds its map the same way, so "" from blank lines and other duplicates load as there).
func validate(toks []string, where func(int) string) (map[string]int32, error) {
	vocab := make(map[string]int32, len(toks))
	for i, s := range toks {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("tokenizer: %s: token %q is not valid UTF-8", where(i), s)
		}
		vocab[s] = int32(i)
	}
	return vocab, nil
}

// build makes the tokenizer over toks (id -> token) and vocab (token -> id, from validate).
func build(toks []string, vocab map[string]int32, opts Options, name string) (*Tokenizer, error) {
	if len(toks) == 0 {
		return nil, fmt.Errorf("tokenizer: %s is empty", name)
	}
	if len(toks) > 1<<31-1 {
		return nil, errors.New("tokenizer: vocabulary too large")
	}
	if opts.StripAccents != nil {
		v := *opts.StripAccents
		opts.StripAccents = &v // the tokenizer keeps its own copy
	}
	for i, s := range toks {
		if vocab[s] != int32(i) {
			toks[i] = "" // a later line took this token over: as in HF, the id has no token
		}
	}
	t := &Tokenizer{vocab: vocab, tokens: toks, opts: opts}
	for _, s := range toks {
		if len(s) > t.maxBytes {
			t.maxBytes = len(s)
		}
	}
	for _, sp := range []struct {
		dst      *int32
		token    string
		required bool
	}{{&t.unk, TokenUNK, true}, {&t.cls, TokenCLS, true}, {&t.sep, TokenSEP, true}, {&t.pad, TokenPAD, true}, {&t.mask, TokenMASK, false}} {
		id, ok := vocab[sp.token]
		if !ok {
			if sp.required {
				hint := ""
				if strings.HasPrefix(toks[0], "\ufeff") {
					hint = " (its first line starts with a byte-order mark, which is part of that token)"
				}
				return nil, fmt.Errorf("tokenizer: %s has no %s token%s", name, sp.token, hint)
			}
			id = -1
		}
		*sp.dst = id
	}
	t.clean = opts.CleanText
	t.cjk = opts.TokenizeChineseChars
	t.lower = opts.Lowercase
	t.strip = opts.Lowercase
	if opts.StripAccents != nil {
		t.strip = *opts.StripAccents
	}
	t.noSpace = opts.RemoveSpaces
	t.maxChars = opts.MaxCharsPerWord
	if t.maxChars <= 0 {
		t.maxChars = 100
	}
	for c := 0; c < utf8.RuneSelf; c++ {
		t.ascii[c] = t.asciiActionFor(byte(c))
	}
	t.pool.New = func() any { return new(state) }
	return t, nil
}

func (t *Tokenizer) asciiActionFor(c byte) asciiAction {
	p := props(rune(c))
	if t.noSpace && c == ' ' {
		return asciiAction{kind: aSkip}
	}
	if t.clean {
		if p&propRemove != 0 {
			return asciiAction{kind: aSkip}
		}
		if p&propSpace != 0 {
			return asciiAction{kind: aSplit}
		}
	}
	// ASCII has no CJK characters, decompositions or marks.
	if t.lower && p&propLower != 0 {
		var buf [3]rune
		c = byte(lowerOf(rune(c), &buf)[0])
		p = props(rune(c))
	}
	switch {
	case p&propWS != 0:
		return asciiAction{kind: aSplit}
	case p&propPunct != 0:
		return asciiAction{kind: aPunct, b: c}
	}
	return asciiAction{kind: aWord, b: c}
}

// Options returns the options the tokenizer was made with.
func (t *Tokenizer) Options() Options {
	o := t.opts
	if o.StripAccents != nil {
		v := *o.StripAccents
		o.StripAccents = &v
	}
	return o
}

// VocabSize returns the number of ids: one per line of the vocabulary file, the largest id plus one (what the
// model's embedding table must hold). HF's get_vocab_size counts distinct tokens instead, which is smaller when
// lines repeat a token after trimming.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the vocabulary entry of id, or "" when id is out of range or a later line holds its token.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// ID returns the id of a vocabulary entry.
func (t *Tokenizer) ID(token string) (int32, bool) {
	id, ok := t.vocab[token]
	return id, ok
}

// CLS returns the id of [CLS].
func (t *Tokenizer) CLS() int32 { return t.cls }

// SEP returns the id of [SEP].
func (t *Tokenizer) SEP() int32 { return t.sep }

// PAD returns the id of [PAD].
func (t *Tokenizer) PAD() int32 { return t.pad }

// UNK returns the id of [UNK].
func (t *Tokenizer) UNK() int32 { return t.unk }

// MASK returns the id of [MASK], or -1 when the vocabulary has none.
func (t *Tokenizer) MASK() int32 { return t.mask }
