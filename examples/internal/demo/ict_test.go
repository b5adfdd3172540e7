package demo

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
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/torch"
)

// TestPretrainICT: the ICT pre-training trains a dual encoder that both RocketQA models take as Init, reuses its
// cache on a second call and refuses a cache made with other settings.
func TestPretrainICT(t *testing.T) {
	torch.SetNumThreads(1)
	dir := t.TempDir()
	pool := dataset.NewPassages()
	chars := map[rune]bool{}
	for i := 0; i < 8; i++ {
		text := fmt.Sprintf("第%d个段落讲的是命令。它可以列出文件和目录。第%d句结束。", i, i)
		require.NoError(t, pool.Add(fmt.Sprint(i), "", text))
		for _, r := range text {
			chars[r] = true
		}
	}
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	for r := range chars {
		vocab = append(vocab, string(r))
	}
	vocabPath := filepath.Join(dir, "vocab.txt")
	require.NoError(t, os.WriteFile(vocabPath, []byte(strings.Join(vocab, "\n")+"\n"), 0o644))
	o := DefaultICT()
	o.Dir, o.Passages, o.Vocab, o.VocabSize = filepath.Join(dir, "ict"), pool, vocabPath, len(vocab)
	o.Epochs, o.Batch, o.QLen, o.PLen = 1, 4, 16, 32

	model, err := PretrainICT(context.Background(), o)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(model, "rocketqa.json"))
	lines, err := dataset.CountLines(filepath.Join(o.Dir, "ict.train.tsv"))
	require.NoError(t, err)
	assert.Equal(t, 8*o.PerPassage, lines)
	m, err := rocketqa.Load(model, rocketqa.LoadOptions{})
	require.NoError(t, err, "the pre-trained model is a dual encoder")
	m.Close()

	stat, err := os.Stat(filepath.Join(model, "rocketqa.json"))
	require.NoError(t, err)
	again, err := PretrainICT(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, model, again)
	stat2, err := os.Stat(filepath.Join(model, "rocketqa.json"))
	require.NoError(t, err)
	assert.Equal(t, stat.ModTime(), stat2.ModTime(), "the cached model is reused, not retrained")

	other := o
	other.Epochs = 2
	_, err = PretrainICT(context.Background(), other)
	assert.ErrorContains(t, err, "other settings")

	// continued from a model (the pipeline's mlm+ict continues from the masked-LM encoder)
	cont := o
	cont.Dir, cont.Init = filepath.Join(dir, "ict-continued"), model
	model2, err := PretrainICT(context.Background(), cont)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(model2, "rocketqa.json"))
}
