package tokenizer

// Encoding is one model input sequence: token ids and token type (segment) ids, of equal length.
type Encoding struct {
	IDs     []int32
	TypeIDs []int32
}

// Len returns the number of tokens.
func (e Encoding) Len() int { return len(e.IDs) }

// Batch is a padded batch of encodings, row-major [Rows, Cols]: IDs padded with [PAD], TypeIDs with 0, Mask 1
// for real tokens and 0 for padding. Cols is the longest row (dynamic padding).
type Batch struct {
	IDs, TypeIDs, Mask []int64
	Rows, Cols         int
}

// Tokens returns the WordPiece tokens of text (no special tokens), [UNK] for unknown words.
func (t *Tokenizer) Tokens(text string) []string {
	ids := t.IDs(text)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.tokens[id]
	}
	return out
}

// IDs returns the token ids of text (no special tokens).
func (t *Tokenizer) IDs(text string) []int32 {
	st := t.getState()
	st.a = t.appendIDs(st, st.a[:0], text, -1)
	out := make([]int32, len(st.a))
	copy(out, st.a)
	t.putState(st)
	return out
}

// budget returns how many content tokens fit next to n special tokens (-1: no limit when maxLen <= 0).
func budget(maxLen, n int) int {
	if maxLen <= 0 {
		return -1
	}
	if maxLen < n {
		return 0
	}
	return maxLen - n
}

// EncodeQuery returns [CLS] q [SEP] with q truncated to maxLen-2 tokens, type ids 0 (the official dual-encoder
// query input). maxLen <= 0 means no truncation; a maxLen below 2 still gives [CLS] [SEP].
func (t *Tokenizer) EncodeQuery(q string, maxLen int) Encoding {
	st := t.getState()
	a := t.appendIDs(st, st.a[:0], q, budget(maxLen, 2))
	st.a = a
	n := len(a) + 2
	buf := make([]int32, 2*n)
	ids, types := buf[:n:n], buf[n:]
	ids[0] = t.cls
	copy(ids[1:], a)
	ids[n-1] = t.sep
	t.putState(st)
	return Encoding{IDs: ids, TypeIDs: types}
}

// EncodePassage returns [CLS] title [SEP] para [SEP] (the official dual-encoder passage input), title and para
// truncated together to maxLen-3 tokens by the official longest-first rule (TruncatePair). Type ids are 0 for
// [CLS] title [SEP] and 1 for para [SEP]. An empty title gives [CLS] [SEP] para [SEP]. maxLen <= 0 means no
// truncation; a maxLen below 3 still gives the three special tokens.
func (t *Tokenizer) EncodePassage(title, para string, maxLen int) Encoding {
	st := t.getState()
	lim := budget(maxLen, 3)
	// Neither side can keep more than the budget, and capping both lengths at it does not change what the
	// longest-first rule keeps, so tokenization stops there.
	st.a = t.appendIDs(st, st.a[:0], title, lim)
	st.b = t.appendIDs(st, st.b[:0], para, lim)
	e := t.pair(st.a, st.b, lim)
	t.putState(st)
	return e
}

// EncodePair returns the cross-encoder input [CLS] q [SEP] title para [SEP]: the title and para tokens are
// concatenated without a separator, then q and title+para are truncated together to maxLen-3 tokens by the
// official longest-first rule (_truncate_seq_pair). Type ids are 0 for [CLS] q [SEP], 1 for the rest.
func (t *Tokenizer) EncodePair(q, title, para string, maxLen int) Encoding {
	st := t.getState()
	lim := budget(maxLen, 3)
	st.a = t.appendIDs(st, st.a[:0], q, lim)
	st.b = t.appendIDs(st, st.b[:0], title, lim)
	rest := lim
	if lim >= 0 {
		rest = lim - len(st.b)
	}
	st.b = t.appendIDs(st, st.b, para, rest)
	e := t.pair(st.a, st.b, lim)
	t.putState(st)
	return e
}

// EncodePairCut is the cross-encoder input of RocketQA v2's joint training reader (task_reader_shuffle.py):
// q is first cut to qMaxLen-2 tokens and title and para together to pMaxLen-3 by the longest-first rule, as the
// dual encoder's inputs are, and only then joined as [CLS] q [SEP] title para [SEP] (so the pair is at most
// qMaxLen+pMaxLen-2 tokens). The pair is then cut to maxLen-3 as EncodePair does, which changes nothing when
// maxLen >= qMaxLen+pMaxLen-2 (the official 160 for q 32, p 128). qMaxLen, pMaxLen or maxLen <= 0: no cut there.
func (t *Tokenizer) EncodePairCut(q, title, para string, qMaxLen, pMaxLen, maxLen int) Encoding {
	st := t.getState()
	st.a = t.appendIDs(st, st.a[:0], q, budget(qMaxLen, 2))
	plim := budget(pMaxLen, 3)
	title0 := t.appendIDs(st, nil, title, plim)
	st.b = t.appendIDs(st, st.b[:0], para, plim)
	lt, lp := len(title0), len(st.b)
	if plim >= 0 {
		lt, lp = TruncatePair(lt, lp, plim)
	}
	b := append(title0[:lt], st.b[:lp]...)
	e := t.pair(st.a, b, budget(maxLen, 3))
	t.putState(st)
	return e
}

func (t *Tokenizer) pair(a, b []int32, lim int) Encoding {
	la, lb := len(a), len(b)
	if lim >= 0 {
		la, lb = TruncatePair(la, lb, lim)
	}
	n := la + lb + 3
	buf := make([]int32, 2*n)
	ids, types := buf[:n:n], buf[n:]
	ids[0] = t.cls
	copy(ids[1:], a[:la])
	ids[la+1] = t.sep
	copy(ids[la+2:], b[:lb])
	ids[n-1] = t.sep
	for i := la + 2; i < n; i++ {
		types[i] = 1
	}
	return Encoding{IDs: ids, TypeIDs: types}
}

// TruncatePair returns how many tokens of two sequences of lengths la and lb the official RocketQA / BERT
// longest-first rule keeps within max tokens:
//
//	while la+lb > max: if la > lb { la-- } else { lb-- }
//
// so ties shorten the second sequence. HuggingFace tokenizers (0.23.2, setTruncation(maxLen), LongestFirst,
// max = maxLen-3) first cuts each sequence to maxLen on its own; then, when both must be cut and max is odd, it
// gives the odd token to the second sequence (la = max/2, lb = max/2+1) unless the first is strictly longer,
// where this rule always gives it to the first (la = max/2+1, lb = max/2). All other cases agree.
func TruncatePair(la, lb, max int) (int, int) {
	if max < 0 {
		max = 0
	}
	if la+lb <= max {
		return la, lb
	}
	short := la
	if lb < short {
		short = lb
	}
	if 2*short <= max {
		// only the longer one is cut
		if la > lb {
			return max - lb, lb
		}
		return la, max - la
	}
	return (max + 1) / 2, max / 2
}

// Pad stacks encodings into a batch padded with [PAD] to the longest one.
func (t *Tokenizer) Pad(encs []Encoding) Batch {
	cols := 0
	for _, e := range encs {
		if len(e.IDs) > cols {
			cols = len(e.IDs)
		}
	}
	rows := len(encs)
	buf := make([]int64, 3*rows*cols)
	b := Batch{IDs: buf[: rows*cols : rows*cols], TypeIDs: buf[rows*cols : 2*rows*cols : 2*rows*cols], Mask: buf[2*rows*cols:], Rows: rows, Cols: cols}
	pad := int64(t.pad)
	for i, e := range encs {
		row := i * cols
		for j := 0; j < cols; j++ {
			if j < len(e.IDs) {
				b.IDs[row+j] = int64(e.IDs[j])
				if j < len(e.TypeIDs) {
					b.TypeIDs[row+j] = int64(e.TypeIDs[j])
				}
				b.Mask[row+j] = 1
			} else {
				b.IDs[row+j] = pad
			}
		}
	}
	return b
}

// Token type ids of MarkMatches: exact-match features for cross-encoders trained from scratch.
const (
	TypeQueryMatch   = 2 // a query token whose id also occurs in the passage
	TypePassageMatch = 3 // a passage token whose id also occurs in the query
)

// EncodePairMatched is EncodePair with MarkMatches applied when match is set (a cross-encoder trained with
// exact-match token types, encoder.ModelInfo.MatchTypes): the one place training and scoring encode pairs.
func (t *Tokenizer) EncodePairMatched(q, title, para string, maxLen int, match bool) Encoding {
	e := t.EncodePair(q, title, para, maxLen)
	if match {
		t.MarkMatches(e)
	}
	return e
}

// MarkMatches sets the exact-match token types of an EncodePair encoding in place: a query token (type 0) whose id
// also occurs among the passage tokens gets TypeQueryMatch, a passage token (type 1) whose id occurs among the
// query tokens gets TypePassageMatch. [CLS], [SEP], [PAD] and [UNK] are never marked. The model then needs
// type_vocab_size >= 4 (encoder.BERT.ExtendTypeVocab). This is the exact-match feature of pre-BERT readers
// (DrQA's): a cross-encoder from random weights finds lexical overlap through it at once, where plain segment
// types leave it to discover token identity through attention first (docs/method.md §3.6).
func (t *Tokenizer) MarkMatches(e Encoding) {
	sep := -1
	for i := 1; i < len(e.IDs); i++ {
		if e.IDs[i] == t.sep {
			sep = i
			break
		}
	}
	if sep < 0 || len(e.IDs) < sep+2 {
		return
	}
	q, p := e.IDs[1:sep], e.IDs[sep+1:len(e.IDs)-1]
	marked := func(id int32) bool { return id != t.cls && id != t.sep && id != t.pad && id != t.unk }
	inQ := make(map[int32]bool, len(q))
	for _, id := range q {
		inQ[id] = true
	}
	inP := make(map[int32]bool, len(p))
	for _, id := range p {
		inP[id] = true
	}
	for i, id := range q {
		if marked(id) && inP[id] && e.TypeIDs[1+i] == 0 {
			e.TypeIDs[1+i] = TypeQueryMatch
		}
	}
	for i, id := range p {
		if marked(id) && inQ[id] && e.TypeIDs[sep+1+i] == 1 {
			e.TypeIDs[sep+1+i] = TypePassageMatch
		}
	}
}
