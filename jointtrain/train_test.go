package jointtrain

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/rocketqa"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

// writeInit saves random tiny initial models (a dual encoder and a cross-encoder with the given head) and a list
// file of n lists of m, and returns a Config for them.
func writeInit(t *testing.T, head encoder.HeadVersion, n, m int) Config {
	dir := t.TempDir()
	task := tinyTask(t, tinytest.JointLists(t, n, m, 21), m, true)
	vocab := tinytest.Vocab(t)
	info := encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16, ForCN: true, DoLowerCase: true}
	require.NoError(t, encoder.SaveDual(filepath.Join(dir, "de"), task.DE, info, vocab))
	ce := task.CE
	if head == encoder.HeadV1 {
		cfg := *task.CE.Enc.Cfg
		enc, err := encoder.NewBERT(&cfg, true)
		require.NoError(t, err)
		ce, err = encoder.NewCrossEncoder(enc, encoder.HeadV1)
		require.NoError(t, err)
		t.Cleanup(ce.Close)
	}
	require.NoError(t, encoder.SaveCross(filepath.Join(dir, "ce"), ce, encoder.ModelInfo{MaxSeqLen: 20, ForCN: true, DoLowerCase: true}, vocab))
	w, err := dataset.CreateJointLists(filepath.Join(dir, "lists.tsv"), m)
	require.NoError(t, err)
	for _, l := range task.Lists {
		require.NoError(t, w.Write(l))
	}
	require.NoError(t, w.Close())
	return Config{DE: filepath.Join(dir, "de"), CE: filepath.Join(dir, "ce"), TrainFile: filepath.Join(dir, "lists.tsv"),
		ListSize: m, Cached: true, ChunkSize: 5,
		Train: train.Options{OutDir: filepath.Join(dir, "out"), BatchSize: 2, MaxSteps: 3, LR: 1e-4, Schedule: train.Constant,
			Seed: 3, Log: io.Discard}}
}

// TestTrainWritesServableModels: Train writes final/de and final/ce; rocketqa.Load serves both, and the v2
// cross-encoder's Matching returns the logit the joint step trained (not a probability).
func TestTrainWritesServableModels(t *testing.T) {
	cfg := writeInit(t, encoder.HeadV2, 8, 4)
	res, err := Train(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, 3, res.Steps)
	de, err := rocketqa.Load(filepath.Join(res.FinalDir, DEDir), rocketqa.LoadOptions{})
	require.NoError(t, err)
	defer de.Close()
	require.NotNil(t, de.Dual)
	ce, err := rocketqa.Load(filepath.Join(res.FinalDir, CEDir), rocketqa.LoadOptions{})
	require.NoError(t, err)
	defer ce.Close()
	require.True(t, ce.Info.JointTraining)
	lists, err := ReadLists(cfg.TrainFile, 4)
	require.NoError(t, err)
	var qs, ts, ps []string
	for _, it := range lists[0].Items {
		qs, ts, ps = append(qs, lists[0].Query), append(ts, it.Title), append(ps, it.Para)
	}
	got, err := ce.Matching(context.Background(), qs, ps, ts)
	require.NoError(t, err)
	// the logit computed here from the saved weights
	saved, _, err := encoder.LoadCross(filepath.Join(res.FinalDir, CEDir))
	require.NoError(t, err)
	defer saved.Close()
	tok, err := rocketqa.TokenizerFor(filepath.Join(res.FinalDir, CEDir, "vocab.txt"), *ce.Info)
	require.NoError(t, err)
	require.Equal(t, 20, ce.Info.MaxSeqLen)
	var want []float32
	require.NoError(t, torch.With(func(s *torch.Scope) error {
		var encs []tokenizer.Encoding
		for i := range qs {
			encs = append(encs, tok.EncodePair(qs[i], ts[i], ps[i], 20))
		}
		ids, types, mask := encoder.Tensors(s, tok.Pad(encs), torch.CPU)
		var err error
		want, err = saved.Logits(s, ids, types, mask, false).Select(1, 0).Float32s()
		return err
	}))
	tinytest.RequireClose(t, tinytest.F64(want), tinytest.F64(got), "Matching = logit")
}

// TestTrainV1CrossEncoderHeads: from a v1 cross-encoder, the kept head stays a v1 head (saved as v1) and the
// new-head choice saves a v2 head on the raw [CLS]; mismatched vocabularies are refused.
func TestTrainV1CrossEncoderHeads(t *testing.T) {
	for _, c := range []struct {
		head CEHead
		v    encoder.HeadVersion
	}{{KeepV1Head, encoder.HeadV1}, {NewV2Head, encoder.HeadV2}} {
		cfg := writeInit(t, encoder.HeadV1, 6, 3)
		cfg.CEHead = c.head
		res, err := Train(context.Background(), cfg)
		require.NoError(t, err)
		ce, _, err := encoder.LoadCross(filepath.Join(res.FinalDir, CEDir))
		require.NoError(t, err)
		require.Equal(t, c.v, ce.Version, string(c.head))
		ce.Close()
	}
	cfg := writeInit(t, encoder.HeadV2, 6, 3)
	b, err := os.ReadFile(filepath.Join(cfg.CE, "vocab.txt"))
	require.NoError(t, err)
	// another token on the last line (a valid vocabulary of the same size, but not the dual encoder's)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines[len(lines)-1] += "zz"
	require.NoError(t, os.WriteFile(filepath.Join(cfg.CE, "vocab.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	_, err = Train(context.Background(), cfg)
	require.ErrorContains(t, err, "must share one vocabulary")
	cfg = writeInit(t, encoder.HeadV2, 6, 3)
	cfg.ListSize = 2
	_, err = Train(context.Background(), cfg)
	require.ErrorContains(t, err, "is 2 the file's list size?")
}

// TestIdentityRecordsAutocast: a run with bf16 autocast is another run than the float32 one (its losses differ), so
// the identity its checkpoints are resumed by must differ (it did not record autocast before).
func TestIdentityRecordsAutocast(t *testing.T) {
	cfg := writeInit(t, encoder.HeadV2, 2, 4)
	fp32, err := Identity(cfg)
	require.NoError(t, err)
	cfg.Autocast = true
	bf16, err := Identity(cfg)
	require.NoError(t, err)
	require.Equal(t, "false", fp32["autocast"])
	require.NotEqual(t, fp32, bf16)
}
