package tokenizer

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func fuzzTokenizers(f *testing.F) []*Tokenizer {
	var out []*Tokenizer
	fl := false
	for _, c := range []struct {
		vocab string
		opts  func(*Options)
	}{
		{"vocab_zh.txt", func(*Options) {}},
		{"vocab_zh.txt", func(o *Options) { o.RemoveSpaces = true; o.MaxCharsPerWord = 7 }},
		{"vocab_en.txt", func(o *Options) { o.CleanText = false; o.Lowercase = false }},
		{"vocab_en.txt", func(o *Options) { o.TokenizeChineseChars = false; o.StripAccents = &fl }},
	} {
		o := DefaultOptions()
		c.opts(&o)
		tk, err := New(filepath.Join("testdata", c.vocab), o)
		if err != nil {
			f.Fatal(err)
		}
		slow, err := New(filepath.Join("testdata", c.vocab), o)
		if err != nil {
			f.Fatal(err)
		}
		slow.slow = true
		out = append(out, tk, slow)
	}
	return out
}

// checkEncoding checks the layout of a pair encoding: [CLS] a [SEP] b [SEP], types 0 then 1.
func checkEncoding(t *testing.T, tk *Tokenizer, e Encoding, specials, maxLen int) {
	t.Helper()
	if len(e.IDs) != len(e.TypeIDs) {
		t.Fatalf("ids %d, type ids %d", len(e.IDs), len(e.TypeIDs))
	}
	if maxLen > 0 && len(e.IDs) > max(maxLen, specials) {
		t.Fatalf("length %d > maxLen %d", len(e.IDs), maxLen)
	}
	if len(e.IDs) < specials || e.IDs[0] != tk.CLS() || e.IDs[len(e.IDs)-1] != tk.SEP() {
		t.Fatalf("bad frame %v", e.IDs)
	}
	for _, id := range e.IDs {
		if id < 0 || int(id) >= tk.VocabSize() {
			t.Fatalf("id %d out of range", id)
		}
	}
	ones := 0
	for i, ty := range e.TypeIDs {
		if ty != 0 && ty != 1 || (i > 0 && ty < e.TypeIDs[i-1]) {
			t.Fatalf("bad type ids %v", e.TypeIDs)
		}
		ones += int(ty)
	}
	if specials == 2 && ones != 0 {
		t.Fatalf("query with type 1: %v", e.TypeIDs)
	}
	if specials == 3 {
		if ones < 1 || e.IDs[len(e.IDs)-ones-1] != tk.SEP() {
			t.Fatalf("no [SEP] before segment 1: %v / %v", e.IDs, e.TypeIDs)
		}
	}
}

// FuzzTokenize feeds arbitrary bytes (invalid UTF-8 included) through every entry point: no panic, ids in
// range, lengths within maxLen, the general path equal to the shortcuts.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		"", " ", "a", "café Ångström naïve", "中文English混合", "ｆｕｌｌ－ｗｉｄｔｈ！", "😀👍🏽", "a\x00b\u200d\ufeff",
		"\xff\xfe\xc3", "a\xc3", "\xe4\xb8", "İstanbul", "a\U0001D16D\u0301\U0001D165", strings.Repeat("x", 120),
		"tab\tnew\nline", "\u3000全角\u3000", "[CLS] [SEP]", "가각힣", "\U00020000\U0002B820",
	} {
		f.Add(s, "标题 title", 16)
	}
	f.Add("列出目录内容", "", 3)
	f.Add("a b c d e f g", "h i j k l", 10)
	toks := fuzzTokenizers(f)
	f.Fuzz(func(t *testing.T, text, title string, maxLen int) {
		maxLen %= 600
		for i := 0; i < len(toks); i += 2 {
			tk, slow := toks[i], toks[i+1]
			ids := tk.IDs(text)
			if sids := slow.IDs(text); !slices.Equal(ids, sids) {
				t.Fatalf("shortcut %v, general path %v for %q", ids, sids, text)
			}
			for _, id := range ids {
				if id < 0 || int(id) >= tk.VocabSize() {
					t.Fatalf("id %d out of range", id)
				}
			}
			if n := len(tk.Tokens(text)); n != len(ids) {
				t.Fatalf("%d tokens for %d ids", n, len(ids))
			}
			q := tk.EncodeQuery(text, maxLen)
			checkEncoding(t, tk, q, 2, maxLen)
			if maxLen <= 0 && len(q.IDs) != len(ids)+2 {
				t.Fatalf("untruncated query has %d ids for %d tokens", len(q.IDs), len(ids))
			}
			p := tk.EncodePassage(title, text, maxLen)
			checkEncoding(t, tk, p, 3, maxLen)
			if sp := slow.EncodePassage(title, text, maxLen); !slices.Equal(p.IDs, sp.IDs) {
				t.Fatalf("passage: shortcut %v, general path %v", p.IDs, sp.IDs)
			}
			x := tk.EncodePair(title, text, title, maxLen)
			checkEncoding(t, tk, x, 3, maxLen)
			b := tk.Pad([]Encoding{q, p, x})
			if b.Rows != 3 || b.Cols != max(len(q.IDs), len(p.IDs), len(x.IDs)) || len(b.Mask) != 3*b.Cols {
				t.Fatalf("bad batch %dx%d", b.Rows, b.Cols)
			}
		}
	})
}
