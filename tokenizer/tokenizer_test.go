package tokenizer

import (
	"bufio"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeVocab(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vocab.txt")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestNewErrorsNameFileAndLine(t *testing.T) {
	for _, c := range []struct {
		name, content, want string
	}{
		{"missing unk", "[PAD]\n[CLS]\n[SEP]\n", "has no [UNK] token"},
		{"missing cls", "[PAD]\n[UNK]\n[SEP]\n", "has no [CLS] token"},
		{"bad utf8", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n\xff\xfe\n", "vocab.txt:5: token"},
		{"bad utf8 explicit", "[PAD]\t0\n[UNK]\t1\n[CLS]\t2\n\xff\t3\n[SEP]\t4\n", "vocab.txt:4: token"},
		{"bom", "\ufeff[PAD]\n[UNK]\n[CLS]\n[SEP]\n", "has no [PAD] token (its first line starts with a byte-order mark"},
		{"bad id", "[PAD]\t0\n[UNK]\tx\n", `vocab.txt:2: bad id "x"`},
		{"id out of range", "[PAD]\t0\n[UNK]\t5\n", "vocab.txt:2: id 5 out of range [0, 2)"},
		{"duplicate id", "[PAD]\t0\n[UNK]\t0\n", "vocab.txt:2: duplicate id 0 (first at line 1)"},
		{"empty file", "", "is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(writeVocab(t, c.content), DefaultOptions())
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
	_, err := New(filepath.Join(t.TempDir(), "nope.txt"), DefaultOptions())
	require.ErrorContains(t, err, "nope.txt")

	_, err = NewFromVocab([]string{"[PAD]", "[UNK]", "[CLS]", "\xff"}, DefaultOptions())
	require.ErrorContains(t, err, `token 3: token "\xff" is not valid UTF-8`)
}

// TestVocabLinesTrimmedAsHF: bert-base-chinese's vocab.txt has U+2028 LINE SEPARATOR as line 344 and "##"+U+2028 as
// line 13503. HF tokenizers trims the trailing Unicode white space of each line, so those lines hold "" and "##";
// blank lines hold "" too; a repeated token keeps its last id. Such tokens are never produced, and every later
// line keeps its id. (Before: "vocab.txt:344: empty token".)
func TestVocabLinesTrimmedAsHF(t *testing.T) {
	lines := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\u2028", "##\u2028", "a", "", "   ", "##b",
		"\u3000", "b", "a\u00a0", "c\r", "##"}
	tk, err := New(writeVocab(t, strings.Join(lines, "\n")+"\n"), DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, len(lines), tk.VocabSize(), "one id per line")
	id := func(s string) int32 {
		i, ok := tk.ID(s)
		require.True(t, ok, "%q in vocab", s)
		return i
	}
	require.Equal(t, int32(11), id(""), `"" keeps the last of lines 6, 9, 10, 12`)
	require.Equal(t, int32(15), id("##"), `"##" keeps line 16's id`)
	require.Equal(t, int32(13), id("a"), `"a" keeps line 14's id (trailing NBSP trimmed)`)
	require.Equal(t, int32(14), id("c"), "CR trimmed")
	require.Equal(t, int32(12), id("b"))
	require.Equal(t, []int32{13, 12, 14, 1}, tk.IDs("a b c d"))
	require.Equal(t, []int32{12, 12, 10, 1}, tk.IDs("b bb d"), `"bb" = b ##b; "d" is [UNK], never ""`)
	// HF's id_to_token has nothing for an id whose token a later line took over
	for _, i := range []int32{5, 6, 7, 8} {
		require.Equal(t, "", tk.Token(i), "shadowed id %d", i)
	}
	require.Equal(t, "b", tk.Token(12))
	// (all of the above as measured with HF tokenizers 0.23.2: WordPiece.fromFile + bertNormalizer +
	// bertPreTokenizer on this file)

	// the Paddle token<TAB>id format: the last line of a repeated token wins there too
	tk, err = New(writeVocab(t, "[PAD]\t0\n[UNK]\t1\n[CLS]\t2\n[SEP]\t3\nx\t5\nx\u2028\t4\n"), DefaultOptions())
	require.NoError(t, err)
	i, ok := tk.ID("x")
	require.True(t, ok)
	require.Equal(t, int32(4), i)

	tk, err = NewFromVocab([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "x", "x", ""}, DefaultOptions())
	require.NoError(t, err)
	i, _ = tk.ID("x")
	require.Equal(t, int32(5), i)
	require.Equal(t, []int32{5, 1}, tk.IDs("x y"))
}

func TestExplicitIDVocab(t *testing.T) {
	// Paddle ERNIE format: token<TAB>id, in any order
	tk, err := New(writeVocab(t, "[SEP]\t2\n[PAD]\t0\nhello\t4\n[CLS]\t1\n[UNK]\t3\n"), DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, 5, tk.VocabSize())
	require.Equal(t, []int32{0, 1, 2, 3, -1}, []int32{tk.PAD(), tk.CLS(), tk.SEP(), tk.UNK(), tk.MASK()})
	require.Equal(t, []int32{4, 3}, tk.IDs("Hello world"))
	require.Equal(t, "hello", tk.Token(4))
	require.Equal(t, "", tk.Token(5))
}

// Special ids come from the vocabulary, wherever the file puts them.
func TestSpecialIDsReadFromVocab(t *testing.T) {
	for _, name := range []string{"vocab_zh.txt", "vocab_en.txt"} {
		path := filepath.Join("testdata", name)
		tk, err := New(path, DefaultOptions())
		require.NoError(t, err)
		f, err := os.Open(path)
		require.NoError(t, err)
		pos := map[string]int32{}
		sc := bufio.NewScanner(f)
		for i := int32(0); sc.Scan(); i++ {
			pos[sc.Text()] = i
		}
		f.Close()
		require.Equal(t, len(pos), tk.VocabSize())
		require.Equal(t, pos["[CLS]"], tk.CLS(), name)
		require.Equal(t, pos["[SEP]"], tk.SEP(), name)
		require.Equal(t, pos["[PAD]"], tk.PAD(), name)
		require.Equal(t, pos["[UNK]"], tk.UNK(), name)
		require.Equal(t, pos["[MASK]"], tk.MASK(), name)
	}
	zh, err := New(filepath.Join("testdata", "vocab_zh.txt"), DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, []int32{0, 1, 2, 3, 4}, []int32{zh.PAD(), zh.CLS(), zh.SEP(), zh.MASK(), zh.UNK()})
	en, err := New(filepath.Join("testdata", "vocab_en.txt"), DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, []int32{0, 101, 102, 103, 100}, []int32{en.PAD(), en.CLS(), en.SEP(), en.MASK(), en.UNK()})
}

func TestWordPiece(t *testing.T) {
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "want", "##ed", "runn", "##ing", ",", "é"}
	tk, err := NewFromVocab(vocab, DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, []string{"un", "##aff", "##able", ",", "[UNK]", "want", "##ed"}, tk.Tokens("UNAFFABLE, unwanted wanted"))
	require.Equal(t, []string{"runn", "##ing", "[UNK]"}, tk.Tokens("running runningx"))
	require.Equal(t, []int32{1}, tk.IDs(strings.Repeat("un", 51))) // 102 characters: [UNK] without lookup

	opts := DefaultOptions()
	opts.MaxCharsPerWord = 4
	short, err := NewFromVocab(vocab, opts)
	require.NoError(t, err)
	require.Equal(t, []string{"want", "[UNK]"}, short.Tokens("want wanted"))

	f := false
	opts = DefaultOptions()
	opts.StripAccents = &f
	keep, err := NewFromVocab(vocab, opts)
	require.NoError(t, err)
	require.Equal(t, []string{"é"}, keep.Tokens("É"))
	require.Equal(t, []string{"[UNK]"}, tk.Tokens("É")) // stripped to "e", not in the vocabulary
}

func TestRemoveSpaces(t *testing.T) {
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "ab", "a", "b", "中", "文"}
	opts := DefaultOptions()
	tk, err := NewFromVocab(vocab, opts)
	require.NoError(t, err)
	opts.RemoveSpaces = true
	cn, err := NewFromVocab(vocab, opts)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "中", "文"}, tk.Tokens("a b 中 文"))
	require.Equal(t, []string{"ab", "中", "文"}, cn.Tokens("a b 中 文"))
	require.Equal(t, []string{"a", "b"}, cn.Tokens("a\tb")) // only U+0020 is removed, as text.replace(' ', '')
}

// TestTruncatePairMatchesOfficialLoop compares the closed form with the official Python loop re-stated.
func TestTruncatePairMatchesOfficialLoop(t *testing.T) {
	n := 0
	for max := 0; max <= 40; max++ {
		for la := 0; la <= 45; la++ {
			for lb := 0; lb <= 45; lb++ {
				ga, gb := TruncatePair(la, lb, max)
				wa, wb := officialTruncateLoop(la, lb, max)
				require.Equal(t, [2]int{wa, wb}, [2]int{ga, gb}, "la %d lb %d max %d", la, lb, max)
				n++
			}
		}
	}
	// the tie rule: the second sequence is cut first
	a, b := TruncatePair(5, 5, 7)
	require.Equal(t, [2]int{4, 3}, [2]int{a, b})
	require.Equal(t, 41*46*46, n)
}

func newZH(t testing.TB) *Tokenizer {
	tk, err := New(filepath.Join("testdata", "vocab_zh.txt"), DefaultOptions())
	require.NoError(t, err)
	return tk
}

func TestEncodeLayout(t *testing.T) {
	tk := newZH(t)
	q := tk.IDs("查看文件")
	p := tk.IDs("列出目录内容的命令")
	require.NotEmpty(t, q)
	require.NotContains(t, p, tk.UNK())
	require.Equal(t, []int32{tk.UNK()}, tk.IDs("龘")) // not among the 1,800 characters of the test vocabulary

	e := tk.EncodeQuery("查看文件", 0)
	require.Equal(t, append(append([]int32{tk.CLS()}, q...), tk.SEP()), e.IDs)
	require.Equal(t, make([]int32, len(e.IDs)), e.TypeIDs)
	require.Equal(t, []int32{tk.CLS(), q[0], tk.SEP()}, tk.EncodeQuery("查看文件", 3).IDs)
	require.Equal(t, []int32{tk.CLS(), tk.SEP()}, tk.EncodeQuery("查看文件", 1).IDs) // below the specials

	e = tk.EncodePassage("", "列出目录内容的命令", 0)
	want := append(append([]int32{tk.CLS(), tk.SEP()}, p...), tk.SEP())
	require.Equal(t, want, e.IDs)
	wantTy := make([]int32, len(want))
	for i := 2; i < len(want); i++ {
		wantTy[i] = 1
	}
	require.Equal(t, wantTy, e.TypeIDs)

	// cross-encoder: title and para tokens concatenated without a separator
	e = tk.EncodePair("查看文件", "列出目录", "内容的命令", 0)
	b := append(tk.IDs("列出目录"), tk.IDs("内容的命令")...)
	require.Equal(t, append(append(append(append([]int32{tk.CLS()}, q...), tk.SEP()), b...), tk.SEP()), e.IDs)
	require.Equal(t, 3+len(q)+len(b), e.Len())

	// truncation: 4 query tokens vs 9 title+para tokens within 10-3 = 7: the longer one is cut to 3
	e = tk.EncodePair("查看文件", "列出目录", "内容的命令", 10)
	require.Len(t, e.IDs, 10)
	require.Equal(t, append(append(append(append([]int32{tk.CLS()}, q...), tk.SEP()), b[:3]...), tk.SEP()), e.IDs)
}

// Stopping tokenization at the budget must give what truncating the full tokenization gives.
func TestEarlyStopEqualsFullTruncation(t *testing.T) {
	tk := newZH(t)
	items := loadCorpus(t, "zh")
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 2000; i++ {
		it := items[rng.Intn(len(items))]
		max := 3 + rng.Intn(300)
		a, b := tk.IDs(it.T), tk.IDs(it.P)
		la, lb := TruncatePair(len(a), len(b), max-3)
		want := append(append(append(append([]int32{tk.CLS()}, a[:la]...), tk.SEP()), b[:lb]...), tk.SEP())
		require.Equal(t, want, tk.EncodePassage(it.T, it.P, max).IDs, "item %q max %d", it.T, max)

		q := it.T
		ql := 2 + rng.Intn(20)
		qa := tk.IDs(q)
		if len(qa) > ql-2 {
			qa = qa[:ql-2]
		}
		require.Equal(t, append(append([]int32{tk.CLS()}, qa...), tk.SEP()), tk.EncodeQuery(q, ql).IDs)
	}
}

func TestPad(t *testing.T) {
	tk := newZH(t)
	encs := []Encoding{
		tk.EncodeQuery("查看", 0),
		tk.EncodePassage("标题", "列出目录内容的命令", 0),
		tk.EncodeQuery("", 0),
	}
	b := tk.Pad(encs)
	require.Equal(t, 3, b.Rows)
	require.Equal(t, encs[1].Len(), b.Cols)
	require.Len(t, b.IDs, b.Rows*b.Cols)
	for i, e := range encs {
		for j := 0; j < b.Cols; j++ {
			k := i*b.Cols + j
			if j < e.Len() {
				require.Equal(t, int64(e.IDs[j]), b.IDs[k])
				require.Equal(t, int64(e.TypeIDs[j]), b.TypeIDs[k])
				require.Equal(t, int64(1), b.Mask[k])
			} else {
				require.Equal(t, int64(tk.PAD()), b.IDs[k])
				require.Equal(t, int64(0), b.TypeIDs[k])
				require.Equal(t, int64(0), b.Mask[k])
			}
		}
	}
	// row 2 is [CLS] [SEP] then padding
	require.Equal(t, []int64{int64(tk.CLS()), int64(tk.SEP()), int64(tk.PAD())}, b.IDs[2*b.Cols:2*b.Cols+3])
	empty := tk.Pad(nil)
	require.Equal(t, 0, empty.Rows)
	require.Equal(t, 0, empty.Cols)
}

func TestConcurrentUse(t *testing.T) {
	tk := newZH(t)
	items := loadCorpus(t, "zh")[:400]
	want := make([][]int32, len(items))
	for i, it := range items {
		want[i] = tk.EncodePassage(it.T, it.P, 128).IDs
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < len(items); k++ {
				i := (k*7 + g*13) % len(items)
				if got := tk.EncodePassage(items[i].T, items[i].P, 128).IDs; !slices.Equal(got, want[i]) {
					errs <- items[i].P
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for p := range errs {
		t.Errorf("concurrent result differs for %q", p)
	}
}

// TestMarkMatches: in [CLS] 查看文件 [SEP] 文件列表的命令 龘 [SEP], the query's 文 and 件 occur in the passage (types 2)
// and the passage's 文 件 (types 3); 查 看 and the other passage characters keep 0 and 1; [UNK] (龘, also in the
// query) and the special tokens are never marked. An encoding without a second segment is left as it is.
func TestMarkMatches(t *testing.T) {
	tk := newZH(t)
	e := tk.EncodePair("查看文件龘", "", "文件列表的命令龘", 0)
	tk.MarkMatches(e)
	ids := e.IDs
	require.Equal(t, tk.UNK(), ids[5])
	//            CLS 查 看 文 件 UNK SEP 文 件 列 表 的 命 令 UNK SEP
	want := []int32{0, 0, 0, 2, 2, 0, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1}
	require.Equal(t, want, e.TypeIDs, "ids %v", ids)

	q := tk.EncodeQuery("文件文件", 0)
	before := append([]int32(nil), q.TypeIDs...)
	tk.MarkMatches(q)
	require.Equal(t, before, q.TypeIDs)
}
