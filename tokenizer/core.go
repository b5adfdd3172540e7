package tokenizer

import "unicode/utf8"

// The pipeline runs rune by rune, fused, without building the normalised string:
//
//	RemoveSpaces -> clean_text -> handle_chinese_chars -> strip_accents (NFD, canonical ordering, drop Mn)
//	-> lowercase -> pre-tokenizer (split on white space, isolate punctuation) -> WordPiece per word
//
// which is the order of HF's BertNormalizer (clean, chinese chars, strip accents, lowercase), then
// BertPreTokenizer, then the WordPiece model. ASCII bytes take a precomputed shortcut (asciiAction).

// state is the per-call scratch space; tokenizers keep them in a sync.Pool.
type state struct {
	word    []byte // current word, normalised UTF-8
	wordN   int    // runes in word
	key     []byte // "##" + piece
	pending []rune // marks with a combining class waiting for canonical ordering (strip_accents only)
	out     []int32
	limit   int // stop once len(out) reaches limit (< 0: no limit)
	a, b    []int32

	// test hooks: slow turns the ASCII and CJK shortcuts off; collectNorm / collectWords collect the
	// normalised text (needs slow) or the words instead of running WordPiece.
	slow         bool
	collectNorm  bool
	collectWords bool
	norm         []byte
	words        []string
}

func (t *Tokenizer) getState() *state {
	st := t.pool.Get().(*state)
	st.slow = t.slow
	return st
}

func (t *Tokenizer) putState(st *state) {
	if cap(st.a) > 1<<16 || cap(st.b) > 1<<16 || cap(st.word) > 1<<16 {
		return // do not keep huge buffers around
	}
	st.out = nil
	st.a = st.a[:0]
	st.b = st.b[:0]
	st.word = st.word[:0]
	st.wordN = 0
	st.pending = st.pending[:0]
	t.pool.Put(st)
}

// appendIDs tokenizes text and appends its ids to dst, stopping once limit ids have been appended
// (limit < 0: no limit).
func (t *Tokenizer) appendIDs(st *state, dst []int32, text string, limit int) []int32 {
	base := len(dst)
	st.out = dst
	st.limit = -1
	if limit >= 0 {
		st.limit = base + limit
		if limit == 0 {
			return dst
		}
	}
	t.run(st, text)
	out := st.out
	st.out = nil
	if limit >= 0 && len(out) > base+limit {
		out = out[:base+limit]
	}
	return out
}

// run feeds text through the pipeline into st.
func (t *Tokenizer) run(st *state, text string) {
	st.word = st.word[:0]
	st.wordN = 0
	st.pending = st.pending[:0]
	for i := 0; i < len(text); {
		if st.limit >= 0 && len(st.out) >= st.limit {
			return
		}
		c := text[i]
		if c < utf8.RuneSelf && !st.slow {
			i++
			act := t.ascii[c]
			if act.kind == aSkip {
				continue
			}
			if len(st.pending) > 0 {
				t.flushPending(st)
			}
			switch act.kind {
			case aWord:
				st.word = append(st.word, act.b)
				st.wordN++
			case aSplit:
				t.endWord(st)
			case aPunct:
				t.endWord(st)
				st.word = append(st.word, act.b)
				st.wordN = 1
				t.endWord(st)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		p := props(r)
		// Fast path: a CJK character that normalisation leaves alone is a word of its own.
		if p == propCJK && t.cjk && len(st.pending) == 0 && !st.slow {
			t.endWord(st)
			if st.collectWords {
				st.words = append(st.words, text[i:i+size])
			} else if id, ok := t.vocab[text[i:i+size]]; ok {
				st.out = append(st.out, id)
			} else {
				st.out = append(st.out, t.unk)
			}
			i += size
			continue
		}
		i += size
		t.rune(st, r, p)
	}
	if len(st.pending) > 0 {
		t.flushPending(st)
	}
	t.endWord(st)
}

// rune runs one non-ASCII rune through clean_text and handle_chinese_chars.
func (t *Tokenizer) rune(st *state, r rune, p uint16) {
	if r == ' ' && t.noSpace {
		return
	}
	if t.clean {
		if p&propRemove != 0 {
			return
		}
		if p&propSpace != 0 {
			r, p = ' ', props(' ')
		}
	}
	if t.cjk && p&propCJK != 0 {
		t.stripStage(st, ' ', propWS)
		t.stripStage(st, r, p)
		t.stripStage(st, ' ', propWS)
		return
	}
	t.stripStage(st, r, p)
}

// stripStage applies strip_accents: canonical decomposition, canonical ordering of the marks that survive,
// removal of non-spacing marks.
func (t *Tokenizer) stripStage(st *state, r rune, p uint16) {
	if !t.strip {
		t.lowerStage(st, r, p)
		return
	}
	if p&propNFD == 0 {
		t.stripOne(st, r, p)
		return
	}
	var buf [3]rune
	for _, x := range decompose(r, &buf) {
		t.stripOne(st, x, props(x))
	}
}

func (t *Tokenizer) stripOne(st *state, r rune, p uint16) {
	if p&propCCC != 0 {
		// A combining mark: dropped when Mn, otherwise held until the run of marks ends so that it can be
		// put in canonical order.
		if p&propMn == 0 {
			st.pending = append(st.pending, r)
		}
		return
	}
	if len(st.pending) > 0 {
		t.flushPending(st)
	}
	if p&propMn != 0 {
		return
	}
	t.lowerStage(st, r, p)
}

// flushPending emits the held marks sorted (stably) by combining class.
func (t *Tokenizer) flushPending(st *state) {
	pd := st.pending
	for i := 1; i < len(pd); i++ {
		for j := i; j > 0 && orderRank(pd[j-1]) > orderRank(pd[j]); j-- {
			pd[j-1], pd[j] = pd[j], pd[j-1]
		}
	}
	st.pending = st.pending[:0]
	for _, r := range pd {
		t.lowerStage(st, r, props(r))
	}
}

func (t *Tokenizer) lowerStage(st *state, r rune, p uint16) {
	if t.lower && p&propLower != 0 {
		var buf [3]rune
		for _, x := range lowerOf(r, &buf) {
			t.emit(st, x, props(x))
		}
		return
	}
	t.emit(st, r, p)
}

// emit is the pre-tokenizer: white space ends a word, punctuation is a word of its own.
func (t *Tokenizer) emit(st *state, r rune, p uint16) {
	if st.collectNorm {
		st.norm = utf8.AppendRune(st.norm, r)
		return
	}
	if p&propWS != 0 {
		t.endWord(st)
		return
	}
	if p&propPunct != 0 {
		t.endWord(st)
		st.word = utf8.AppendRune(st.word, r)
		st.wordN = 1
		t.endWord(st)
		return
	}
	st.word = utf8.AppendRune(st.word, r)
	st.wordN++
}

// endWord runs WordPiece on the current word (greedy longest match first, "##" for pieces that do not
// start the word, the whole word [UNK] when a piece cannot be matched or the word is too long).
func (t *Tokenizer) endWord(st *state) {
	w := st.word
	if len(w) == 0 {
		return
	}
	st.word = w[:0]
	n := st.wordN
	st.wordN = 0
	if st.collectWords {
		st.words = append(st.words, string(w))
		return
	}
	if n > t.maxChars {
		st.out = append(st.out, t.unk)
		return
	}
	if id, ok := t.vocab[string(w)]; ok {
		st.out = append(st.out, id)
		return
	}
	n0 := len(st.out)
	for start := 0; start < len(w); {
		end := len(w)
		if end-start > t.maxBytes {
			end = start + t.maxBytes
			for end > start && !utf8.RuneStart(w[end]) {
				end--
			}
		}
		id := int32(-1)
		for start < end {
			var ok bool
			if start == 0 {
				id, ok = t.vocab[string(w[:end])]
			} else {
				st.key = append(append(st.key[:0], piecePrefix...), w[start:end]...)
				id, ok = t.vocab[string(st.key)]
			}
			if ok {
				break
			}
			id = -1
			_, size := utf8.DecodeLastRune(w[start:end])
			end -= size
		}
		if id < 0 {
			st.out = append(st.out[:n0], t.unk)
			return
		}
		st.out = append(st.out, id)
		start = end
	}
}
