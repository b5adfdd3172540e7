package tokenizer

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hfUnicode is what HF tokenizers 0.23.2 does to each code point (testdata/hf_unicode.txt.gz, written by
// gen_unicode.mjs): flag bits per code point, and the strip_accents-only / lowercase-only outputs where they
// change the code point.
type hfUnicode struct {
	flags []uint8 // hfR... bits, indexed by code point
	strip map[rune]string
	lower map[rune]string
}

const (
	hfR = 1 << iota // clean_text removes
	hfS             // clean_text makes it ' '
	hfC             // chinese chars padding
	hfW             // pre-tokenizer white space
	hfP             // pre-tokenizer punctuation
	hfM             // strip_accents removes (Mn)
	hfK             // non-zero combining class
)

func parseHexRunes(t *testing.T, s string) string {
	var b strings.Builder
	if s == "" {
		return ""
	}
	for _, h := range strings.Split(s, ".") {
		v, err := strconv.ParseUint(h, 16, 32)
		require.NoError(t, err)
		b.WriteRune(rune(v))
	}
	return b.String()
}

func loadHFUnicode(t *testing.T) *hfUnicode {
	hf := &hfUnicode{flags: make([]uint8, 0x110000), strip: map[rune]string{}, lower: map[rune]string{}}
	readGzipLines(t, filepath.Join("testdata", "hf_unicode.txt.gz"), func(line int, b []byte) {
		f := strings.Fields(string(b))
		if f[0] == "O" {
			return
		}
		lo, hi := f[0], f[0]
		if i := strings.IndexByte(f[0], '-'); i >= 0 {
			lo, hi = f[0][:i], f[0][i+1:]
		}
		l, err := strconv.ParseUint(lo, 16, 32)
		require.NoError(t, err, "line %d", line)
		h, err := strconv.ParseUint(hi, 16, 32)
		require.NoError(t, err, "line %d", line)
		var bits uint8
		for _, x := range f[1] {
			if i := strings.IndexRune("RSCWPMK", x); i >= 0 {
				bits |= 1 << i
			}
		}
		for c := rune(l); c <= rune(h); c++ {
			hf.flags[c] = bits
		}
		for _, m := range f[2:] {
			switch m[:2] {
			case "D=":
				hf.strip[rune(l)] = parseHexRunes(t, m[2:])
			case "L=":
				hf.lower[rune(l)] = parseHexRunes(t, m[2:])
			}
		}
	})
	return hf
}

func normOnly(t *testing.T, opts Options) *Tokenizer {
	tk, err := NewFromVocab([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"}, opts)
	require.NoError(t, err)
	return tk
}

// normalizeForTest returns the normalised text (the pre-tokenizer and WordPiece do not run).
func (t *Tokenizer) normalizeForTest(st *state, s string) string {
	*st = state{slow: true, collectNorm: true, limit: -1, norm: st.norm[:0], word: st.word[:0]}
	t.run(st, s)
	return string(st.norm)
}

// wordsForTest returns the words the pre-tokenizer makes of the normalised text.
func (t *Tokenizer) wordsForTest(st *state, s string, slow bool) []string {
	*st = state{slow: slow, collectWords: true, limit: -1, words: st.words[:0], word: st.word[:0]}
	t.run(st, s)
	return st.words
}

// TestUnicodeMatchesHF checks every code point: what clean_text, handle_chinese_chars, strip_accents and
// lowercase each do to it alone, and how the pre-tokenizer splits around it, against HF.
func TestUnicodeMatchesHF(t *testing.T) {
	hf := loadHFUnicode(t)
	f := false
	tr := true
	cleanOnly := normOnly(t, Options{CleanText: true, StripAccents: &f})
	cjkOnly := normOnly(t, Options{TokenizeChineseChars: true, StripAccents: &f})
	stripOnly := normOnly(t, Options{StripAccents: &tr})
	lowerOnly := normOnly(t, Options{Lowercase: true, StripAccents: &f})
	bare := normOnly(t, Options{StripAccents: &f})

	mismatch := 0
	report := func(format string, args ...any) {
		mismatch++
		if mismatch <= 20 {
			t.Errorf(format, args...)
		}
	}
	var counts [7]int
	n := 0
	st := &state{}
	var buf []byte
	for c := rune(0); c <= 0x10FFFF; c++ {
		if c >= 0xD800 && c <= 0xDFFF {
			continue
		}
		n++
		s := string(c)
		fl := hf.flags[c]
		for i := range counts {
			if fl&(1<<i) != 0 {
				counts[i]++
			}
		}

		want := s
		if fl&hfR != 0 {
			want = ""
		} else if fl&hfS != 0 {
			want = " "
		}
		if got := cleanOnly.normalizeForTest(st, s); got != want {
			report("U+%04X clean_text: %q, HF %q", c, got, want)
		}

		want = s
		if fl&hfC != 0 {
			want = " " + s + " "
		}
		if got := cjkOnly.normalizeForTest(st, s); got != want {
			report("U+%04X chinese chars: %q, HF %q", c, got, want)
		}

		want, ok := hf.strip[c]
		if !ok {
			want = s
		}
		if got := stripOnly.normalizeForTest(st, s); got != want {
			report("U+%04X strip_accents: %q, HF %q", c, got, want)
		}

		want, ok = hf.lower[c]
		if !ok {
			want = s
		}
		if got := lowerOnly.normalizeForTest(st, s); got != want {
			report("U+%04X lowercase: %q, HF %q", c, got, want)
		}

		buf = append(append(append(buf[:0], 'a'), s...), 'a')
		for _, slow := range []bool{false, true} {
			w := bare.wordsForTest(st, string(buf), slow)
			var ok bool
			switch {
			case fl&hfW != 0:
				ok = len(w) == 2 && w[0] == "a" && w[1] == "a"
			case fl&hfP != 0:
				ok = len(w) == 3 && w[0] == "a" && w[1] == s && w[2] == "a"
			default:
				ok = len(w) == 1 && w[0] == string(buf)
			}
			if !ok {
				report("U+%04X pre-tokenizer (slow %v): %q, HF flags %08b", c, slow, w, fl)
			}
		}
	}
	require.Zero(t, mismatch)
	require.Equal(t, 1112064, n)
	// the probe must have seen each kind of behaviour (guards against an empty or truncated table)
	for i, k := range counts {
		require.Greater(t, k, 10, "flag %c", "RSCWPMK"[i])
	}
	t.Logf("code points checked: %d; flag counts (RSCWPMK) %v", n, counts)
}

// TestCanonicalOrdering checks the strings where accent stripping must reorder surviving marks, against
// outputs measured from HF (testdata/gen_unicode.mjs documents the probe).
func TestCanonicalOrdering(t *testing.T) {
	tr := true
	tk := normOnly(t, Options{StripAccents: &tr})
	for _, c := range []struct{ in, want string }{
		{"a\U0001D16D\U0001D165", "a\U0001D165\U0001D16D"},       // ccc 226 then 216: swapped
		{"a\U0001D16D\u0301\U0001D165", "a\U0001D165\U0001D16D"}, // an Mn in between is dropped, still swapped
		{"a\u302F\u1B44", "a\u1B44\u302F"},                       // 224 then 9
		{"x\U00016FF0\u1B44", "x\U00016FF0\u1B44"},               // U+16FF0 is unknown to HF's tables: no swap
		{"\u0130", "I"},                                          // İ = I + U+0307
		{"A\u030A \u00C5 \u212B", "A A A"},                       // Å three ways
		{"\uAC01\uD7A3", "\u1100\u1161\u11A8\u1112\u1175\u11C2"}, // Hangul
	} {
		require.Equal(t, c.want, tk.normalizeForTest(&state{}, c.in), "%+q", c.in)
	}
}
