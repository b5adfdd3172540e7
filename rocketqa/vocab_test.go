package rocketqa

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/train"
)

// TestSavedVocabIsTheOneTrainedWith: a task reads its vocabulary when it is made, so that models saved later carry
// it even when the file is replaced or deleted meanwhile (a moved init directory during a long run). Before, every
// save copied the file as it was then: a replaced vocab.txt went into the model silently, a deleted one failed the
// run at its first checkpoint ("open .../vocab.txt: no such file or directory").
func TestSavedVocabIsTheOneTrainedWith(t *testing.T) {
	want, err := os.ReadFile(tinytest.Vocab(t))
	require.NoError(t, err)
	for _, edit := range []struct {
		name string
		do   func(path string) error
	}{
		{"replaced", func(p string) error { return os.WriteFile(p, []byte("[PAD]\n[UNK]\n"), 0o644) }},
		{"deleted", func(p string) error { return os.RemoveAll(filepath.Dir(p)) }},
	} {
		t.Run(edit.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "init")
			require.NoError(t, os.MkdirAll(src, 0o755))
			vocab := filepath.Join(src, "vocab.txt")
			require.NoError(t, os.WriteFile(vocab, want, 0o644))
			spec := InitSpec{Config: filepath.Join(tinytest.ErnieDir(t), "config.json"), Vocab: vocab}
			dualFile, crossFile := writeTinyTrainFiles(t, dir)
			opts := train.Options{OutDir: filepath.Join(dir, "out"), BatchSize: 2, LR: 1e-3}
			dual, err := NewDualTask(context.Background(), DualConfig{InitSpec: spec, TrainFile: dualFile, QMaxLen: 16, PMaxLen: 24, Train: opts})
			require.NoError(t, err)
			defer dual.Model.Close()
			cross, err := NewCrossTask(context.Background(), CrossConfig{InitSpec: spec, TrainFile: crossFile, MaxSeqLen: 32, Train: opts})
			require.NoError(t, err)
			defer cross.Model.Close()

			require.NoError(t, edit.do(vocab))
			require.NoError(t, dual.SaveModel(filepath.Join(dir, "dual")))
			require.NoError(t, cross.SaveModel(filepath.Join(dir, "cross")))
			for _, saved := range []string{filepath.Join(dir, "dual", encoder.QueryDir, "vocab.txt"), filepath.Join(dir, "cross", "vocab.txt")} {
				got, err := os.ReadFile(saved)
				require.NoError(t, err)
				require.Equal(t, want, got, saved)
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				require.NotContains(t, e.Name(), ".vocab-", "the temporary vocabulary is removed")
			}
		})
	}
}

// TestVocabFIFOReadOnce: a task reads its vocabulary file once, so a vocabulary that can be read only once (a FIFO,
// a shell's --vocab <(...)) works and the tokenizer is built from the very bytes the saved models carry. Before,
// the tokenizer opened the file a second time after encoder.ReadVocab: on a FIFO that open waited forever for a
// writer.
func TestVocabFIFOReadOnce(t *testing.T) {
	want, err := os.ReadFile(tinytest.Vocab(t))
	require.NoError(t, err)
	dir := t.TempDir()
	dualFile, crossFile := writeTinyTrainFiles(t, dir)
	opts := train.Options{OutDir: filepath.Join(dir, "out"), BatchSize: 2, LR: 1e-3}
	for i, newTask := range []func(spec InitSpec) (func(), error){
		func(spec InitSpec) (func(), error) {
			d, err := NewDualTask(context.Background(), DualConfig{InitSpec: spec, TrainFile: dualFile, QMaxLen: 16, PMaxLen: 24, Train: opts})
			if err != nil {
				return nil, err
			}
			return d.Model.Close, d.SaveModel(filepath.Join(dir, "dual"))
		},
		func(spec InitSpec) (func(), error) {
			c, err := NewCrossTask(context.Background(), CrossConfig{InitSpec: spec, TrainFile: crossFile, MaxSeqLen: 32, Train: opts})
			if err != nil {
				return nil, err
			}
			return c.Model.Close, c.SaveModel(filepath.Join(dir, "cross"))
		},
	} {
		fifo := canceltest.OnceFIFO(t, "vocab.txt", want)
		spec := InitSpec{Config: filepath.Join(tinytest.ErnieDir(t), "config.json"), Vocab: fifo}
		done := make(chan error, 1)
		go func() {
			closeModel, err := newTask(spec)
			if closeModel != nil {
				closeModel()
			}
			done <- err
		}()
		select {
		case err := <-done:
			require.NoError(t, err, "task %d", i)
		case <-time.After(30 * time.Second): // the FIFO's cleanup lets the blocked open go
			t.Fatalf("task %d: still waiting on the vocabulary FIFO after 30 s: it is opened twice", i)
		}
	}
	for _, saved := range []string{filepath.Join(dir, "dual", encoder.QueryDir, "vocab.txt"), filepath.Join(dir, "cross", "vocab.txt")} {
		got, err := os.ReadFile(saved)
		require.NoError(t, err)
		require.Equal(t, want, got, saved)
	}
}

// writeTinyTrainFiles writes a dual-encoder training file of 4 tiny examples and the cross-encoder file of their
// positive and negative pairs into dir.
func writeTinyTrainFiles(t *testing.T, dir string) (dualFile, crossFile string) {
	dualFile, crossFile = filepath.Join(dir, "dual.tsv"), filepath.Join(dir, "cross.tsv")
	exs := tinytest.DualExamples(t, 4, 1)
	tinytest.WriteDualTrain(t, dualFile, exs)
	w, err := dataset.CreateCrossTrain(crossFile)
	require.NoError(t, err)
	for _, ex := range exs {
		require.NoError(t, w.Write(dataset.CrossExample{Query: ex.Query, Para: ex.PosPara, Label: 1}))
		require.NoError(t, w.Write(dataset.CrossExample{Query: ex.Query, Para: ex.NegPara, Label: 0}))
	}
	require.NoError(t, w.Close())
	return dualFile, crossFile
}

// TestConfigFIFOReadOnce: the config.json of a random init is read once per task (validation included), so that
// train-de / train-ce --config <(...) work, and the lengths are still checked against its positions. Before, the
// positions check of Validate read it, and each tower read it again: on a FIFO the second open waited forever
// for a writer (or, when the shell's writer was gone, the file read as empty).
func TestConfigFIFOReadOnce(t *testing.T) {
	cfgBytes, err := os.ReadFile(filepath.Join(tinytest.ErnieDir(t), "config.json"))
	require.NoError(t, err)
	cfg, err := encoder.ReadConfig(filepath.Join(tinytest.ErnieDir(t), "config.json"))
	require.NoError(t, err)
	dir := t.TempDir()
	dualFile, crossFile := writeTinyTrainFiles(t, dir)
	opts := train.Options{OutDir: filepath.Join(dir, "out"), BatchSize: 2, LR: 1e-3}
	spec := func() InitSpec {
		return InitSpec{Config: canceltest.OnceFIFO(t, "config.json", cfgBytes), Vocab: tinytest.Vocab(t)}
	}
	type task struct {
		validate func() error
		build    func(context.Context) (func(), error)
	}
	tasks := func(qLen, pairLen int) []task {
		dual := DualConfig{InitSpec: spec(), TrainFile: dualFile, QMaxLen: qLen, PMaxLen: 24, Train: opts}
		cross := CrossConfig{InitSpec: spec(), TrainFile: crossFile, MaxSeqLen: pairLen, Train: opts}
		return []task{
			{dual.Validate, func(ctx context.Context) (func(), error) {
				d, err := NewDualTask(ctx, dual)
				if err != nil {
					return nil, err
				}
				return d.Model.Close, nil
			}},
			{cross.Validate, func(ctx context.Context) (func(), error) {
				c, err := NewCrossTask(ctx, cross)
				if err != nil {
					return nil, err
				}
				return c.Model.Close, nil
			}},
		}
	}
	run := func(tk task) error {
		done := make(chan error, 1)
		go func() {
			if err := tk.validate(); err != nil {
				done <- err
				return
			}
			closeModel, err := tk.build(context.Background())
			if closeModel != nil {
				closeModel()
			}
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second): // the FIFO's cleanup lets the blocked open go
			t.Fatal("still waiting on the config FIFO after 30 s: it is opened twice")
			return nil
		}
	}
	for i, tk := range tasks(16, 32) {
		require.NoError(t, run(tk), "task %d", i)
	}
	tooLong := cfg.MaxPositionEmbeddings + 1
	for i, tk := range tasks(tooLong, tooLong) {
		err := run(tk)
		require.Error(t, err, "task %d: a length beyond the FIFO config's positions", i)
		require.Contains(t, err.Error(), "max_position_embeddings", "task %d", i)
	}
}
