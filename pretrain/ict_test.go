package pretrain

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/fielderr"
)

func TestSentences(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"列出目录内容。显示文件信息！ 它能排序吗？可以；默认按名字", []string{"列出目录内容。", "显示文件信息！", "它能排序吗？", "可以；", "默认按名字"}},
		{"List files. Sort them by name.Version 1.2 is old", []string{"List files.", "Sort them by name.Version 1.2 is old"}},
		{"Really? Yes! Now; later.", []string{"Really?", "Yes!", "Now;", "later."}},
		{"  。  ", []string{"。"}},
		{"", nil},
		{"no stop at all", []string{"no stop at all"}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Sentences(c.in), c.in)
	}
}

// ictPool is a collection whose passage i has sentences "第i段第j句内容。" (j = 0..n-1; each 8 characters), one
// one-sentence passage and one passage whose sentences are all too short.
func ictPool(t *testing.T, n int) *dataset.Passages {
	t.Helper()
	pool := dataset.NewPassages()
	for i := 0; i < n; i++ {
		var b strings.Builder
		for j := 0; j < 3; j++ {
			fmt.Fprintf(&b, "第%d段第%d句内容。", i, j)
		}
		require.NoError(t, pool.Add(fmt.Sprintf("p%d", i), fmt.Sprintf("标题%d", i), b.String()))
	}
	require.NoError(t, pool.Add("single", "单", "只有一句话没有别的内容。"))
	require.NoError(t, pool.Add("short", "短", "短。也短。"))
	return pool
}

func readDual(t *testing.T, path string) []dataset.DualExample {
	t.Helper()
	r, err := dataset.OpenDualTrain(path)
	require.NoError(t, err)
	defer r.Close()
	exs, err := r.All()
	require.NoError(t, err)
	return exs
}

func TestWriteICT(t *testing.T) {
	pool := ictPool(t, 6)
	dir := t.TempDir()
	out := filepath.Join(dir, "ict.tsv")
	st, err := WriteICT(context.Background(), pool, out, ICTOptions{PerPassage: 3, NoKeep: true})
	require.NoError(t, err)
	assert.Equal(t, ICTStats{Passages: 8, Used: 6, Lines: 18}, st)
	exs := readDual(t, out)
	require.Len(t, exs, 18)
	byTitle := map[string]string{}
	for i := 0; i < pool.Len(); i++ {
		byTitle[pool.At(i).Title] = pool.At(i).Text
	}
	for k, ex := range exs {
		src := pool.At(k / 3) // passages in collection order, PerPassage lines each
		assert.Equal(t, src.Title, ex.PosTitle)
		assert.Contains(t, Sentences(src.Text), ex.Query, "line %d: the query is a sentence of its passage", k)
		assert.NotContains(t, ex.PosPara, ex.Query, "line %d: NoKeep removes the sentence", k)
		assert.Equal(t, len([]rune(src.Text))-len([]rune(ex.Query)), len([]rune(ex.PosPara)), "line %d: only the sentence is removed", k)
		assert.NotEqual(t, src.Text, ex.NegPara, "line %d: the negative is another passage", k)
		if neg, ok := byTitle[ex.NegTitle]; assert.True(t, ok) {
			assert.Equal(t, neg, ex.NegPara, "line %d: the negative is a whole passage with its title", k)
		}
	}

	// the same options give the same bytes; another seed another file
	again := filepath.Join(dir, "again.tsv")
	_, err = WriteICT(context.Background(), pool, again, ICTOptions{PerPassage: 3, NoKeep: true})
	require.NoError(t, err)
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	assert.Equal(t, a, b)
	_, err = WriteICT(context.Background(), pool, again, ICTOptions{PerPassage: 3, NoKeep: true, Seed: 2})
	require.NoError(t, err)
	b, _ = os.ReadFile(again)
	assert.NotEqual(t, a, b)

	// Keep 1: every positive is the whole passage
	_, err = WriteICT(context.Background(), pool, again, ICTOptions{Keep: 1})
	require.NoError(t, err)
	for k, ex := range readDual(t, again) {
		assert.Equal(t, pool.At(k/2).Text, ex.PosPara, "line %d", k)
	}
}

func TestWriteICTDefaultKeep(t *testing.T) {
	pool := ictPool(t, 200)
	out := filepath.Join(t.TempDir(), "ict.tsv")
	st, err := WriteICT(context.Background(), pool, out, ICTOptions{})
	require.NoError(t, err)
	require.Equal(t, 400, st.Lines)
	kept := 0
	for k, ex := range readDual(t, out) {
		if ex.PosPara == pool.At(k/2).Text {
			kept++
		}
	}
	// Keep 0.1 of 400 lines: 40 expected, sd 6; [16, 64] is four sd either side
	assert.GreaterOrEqual(t, kept, 16)
	assert.LessOrEqual(t, kept, 64)
}

func TestWriteICTBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ict.tsv")
	one := dataset.NewPassages()
	require.NoError(t, one.Add("a", "", "一句。两句。"))
	_, err := WriteICT(context.Background(), one, out, ICTOptions{})
	assert.ErrorContains(t, err, "at least 2 passages")

	unusable := dataset.NewPassages()
	require.NoError(t, unusable.Add("a", "", "只有一句话"))
	require.NoError(t, unusable.Add("b", "", "短。也短。"))
	_, err = WriteICT(context.Background(), unusable, out, ICTOptions{})
	assert.ErrorContains(t, err, "no ICT line")

	same := dataset.NewPassages()
	require.NoError(t, same.Add("a", "", "第一句内容在这里。第二句内容在这里。"))
	require.NoError(t, same.Add("b", "", "第一句内容在这里。第二句内容在这里。"))
	_, err = WriteICT(context.Background(), same, out, ICTOptions{})
	assert.ErrorContains(t, err, "no negative")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = WriteICT(ctx, ictPool(t, 3), out, ICTOptions{})
	assert.ErrorIs(t, err, context.Canceled)

	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "a failed run leaves no file, not even a temporary one")
}

func TestICTOptionsValidate(t *testing.T) {
	require.NoError(t, ICTOptions{}.Validate())
	assert.Equal(t, ICTOptions{PerPassage: 2, MinRunes: 6, MaxRunes: 64, Keep: 0.1, Seed: 1}, DefaultICTOptions())
	for _, c := range []struct {
		o   ICTOptions
		msg string
	}{
		{ICTOptions{PerPassage: -1}, "pretrain: PerPassage -1: must be positive"},
		{ICTOptions{MinRunes: -2}, "pretrain: MinRunes -2: must be positive"},
		{ICTOptions{MinRunes: 10, MaxRunes: 9}, "pretrain: MaxRunes 9: must be at least MinRunes (10)"},
		{ICTOptions{Keep: 1.5}, "pretrain: Keep 1.5: must be in [0, 1]"},
	} {
		var fe *fielderr.Error
		require.ErrorAs(t, c.o.Validate(), &fe, c.msg)
		assert.Equal(t, c.msg, fe.Error())
	}
}
