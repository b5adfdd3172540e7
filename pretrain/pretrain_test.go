package pretrain

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
	"github.com/rocketqa-go/rocketqa/train"
)

var vocab = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused1]", "ls", "##la", "cp", "file", "##s", "dir",
	"文", "件", "目", "录", "复", "制", "列", "出", "的", "内", "容", "a", "b"}

func tinyTok(t *testing.T) *tokenizer.Tokenizer {
	tok, err := tokenizer.NewFromVocab(vocab, tokenizer.DefaultOptions())
	require.NoError(t, err)
	return tok
}

// TestMaskerRule: round(15%) of the maskable tokens are predicted, never a special token, whole words all or
// nothing, and the 80/10/10 replacement split.
func TestMaskerRule(t *testing.T) {
	tok := tinyTok(t)
	m, err := NewMasker(tok, WholeWord, 0)
	require.NoError(t, err)
	// [CLS] ls ##la 文 件 ... [SEP]: 40 maskable tokens, words of one or two tokens
	var ids []int32
	ids = append(ids, tok.CLS())
	for i := 0; i < 10; i++ {
		ids = append(ids, 6, 7, 12+int32(i%8), 9) // "ls##la", a CJK char, "file"
	}
	ids = append(ids, tok.SEP(), 5) // [unused1] is special too
	rng := rand.New(rand.NewPCG(1, 2))
	var masked, random, kept, total int
	for trial := 0; trial < 2000; trial++ {
		in, pos, labels := m.Apply(rng, ids)
		require.Len(t, in, len(ids))
		require.Len(t, labels, len(pos))
		require.Equal(t, 6, len(pos), "round(0.15 * 40)")
		set := map[int]bool{}
		for k, p := range pos {
			require.Equal(t, ids[p], labels[k])
			require.NotContains(t, []int32{tok.CLS(), tok.SEP(), 5}, ids[p], "special tokens are never masked")
			set[p] = true
			switch {
			case in[p] == tok.MASK():
				masked++
			case in[p] == ids[p]:
				kept++
			default:
				random++
				require.False(t, m.special[in[p]], "random replacements are normal tokens")
			}
			total++
		}
		for i := range ids {
			if !set[i] && in[i] != ids[i] {
				t.Fatalf("position %d changed without being predicted", i)
			}
			if ids[i] == 7 { // ##la: predicted exactly when its word start is
				require.Equal(t, set[i-1], set[i], "whole word at %d", i)
			}
		}
	}
	// 12,000 draws: 3 standard deviations of a 10% share are about 0.8 points
	require.InDelta(t, 0.8, float64(masked)/float64(total), 0.015)
	require.InDelta(t, 0.1, float64(random+kept/1000)/float64(total), 0.012) // kept includes random draws of itself
	require.InDelta(t, 0.1, float64(kept)/float64(total), 0.012)

	c, err := NewMasker(tok, Char, 0.5)
	require.NoError(t, err)
	split := false
	for trial := 0; trial < 200 && !split; trial++ {
		_, pos, _ := c.Apply(rng, ids)
		require.Equal(t, 20, len(pos))
		set := map[int]bool{}
		for _, p := range pos {
			set[p] = true
		}
		for i, id := range ids {
			if id == 7 && set[i] != set[i-1] {
				split = true
			}
		}
	}
	require.True(t, split, "character masking masks word pieces on their own")

	_, err = NewMasker(tok, "span", 0)
	require.ErrorContains(t, err, `unknown masking "span"`)
	_, err = NewMasker(tok, Char, 1.5)
	require.ErrorContains(t, err, "must be in (0, 1)")
	in, pos, _ := m.Apply(rng, []int32{tok.CLS(), tok.UNK(), tok.SEP()})
	require.Empty(t, pos, "nothing maskable")
	require.Equal(t, []int32{tok.CLS(), tok.UNK(), tok.SEP()}, in)
}

type fixture struct {
	dir, cfg, vocab string
	pool            *dataset.Passages
}

func writeFixture(t *testing.T) fixture {
	dir := t.TempDir()
	f := fixture{dir: dir, cfg: filepath.Join(dir, "config.json"), vocab: filepath.Join(dir, "vocab.txt")}
	require.NoError(t, os.WriteFile(f.vocab, []byte(strings.Join(vocab, "\n")+"\n"), 0o644))
	cfg := &encoder.Config{ModelType: "bert", VocabSize: len(vocab), HiddenSize: 16, NumHiddenLayers: 1, NumAttentionHeads: 2,
		IntermediateSize: 32, HiddenAct: "gelu", MaxPositionEmbeddings: 40, TypeVocabSize: 2, LayerNormEps: 1e-12,
		InitializerRange: 0.02}
	require.NoError(t, cfg.WriteFile(f.cfg))
	f.pool = dataset.NewPassages()
	texts := []string{"ls 列出目录的内容", "cp 复制文件", "目录 dir 列出", "文件 files 的内容 a b", "复制目录 cp ls"}
	for i, s := range texts {
		require.NoError(t, f.pool.Add(strconv.Itoa(i), "标题"+strconv.Itoa(i), s))
	}
	return f
}

// TestWindowsCoverText: long passages are cut into windows that keep every paragraph token, in the passage layout.
func TestWindowsCoverText(t *testing.T) {
	tok := tinyTok(t)
	m, err := NewMasker(tok, WholeWord, 0)
	require.NoError(t, err)
	pool := dataset.NewPassages()
	require.NoError(t, pool.Add("p", "目录", strings.Repeat("文件", 10)))
	ws := Windows(tok, m, pool, 10) // budget 7: title 2 tokens (目, 录), 5 paragraph tokens per window
	require.Len(t, ws, 4)
	var para []int32
	for _, w := range ws {
		require.LessOrEqual(t, len(w.IDs), 10)
		require.Equal(t, tok.CLS(), w.IDs[0])
		require.Equal(t, []int32{12 + 2, 12 + 3}, w.IDs[1:3], "the title in every window")
		require.Equal(t, tok.SEP(), w.IDs[3])
		require.Equal(t, tok.SEP(), w.IDs[len(w.IDs)-1])
		require.Equal(t, int32(0), w.TypeIDs[3])
		require.Equal(t, int32(1), w.TypeIDs[4])
		para = append(para, w.IDs[4:len(w.IDs)-1]...)
	}
	require.Equal(t, tok.IDs(strings.Repeat("文件", 10)), para)
}

func finalWeights(t *testing.T, dir string) map[string][]float32 {
	raw, _, err := encoder.ReadStateDict(dir)
	require.NoError(t, err)
	out := map[string][]float32{}
	for n, st := range raw {
		v, err := st.Float32s()
		require.NoError(t, err)
		out[n] = v
	}
	return out
}

// TestRunLearnsResumesAndLoadsInPython: the loss falls on a tiny corpus, a run stopped and resumed ends with the
// same weights as an uninterrupted one (masks are a function of seed and batch), and the output loads strictly in
// the PyTorch BertForMaskedLM re-statement with equal logits.
func TestRunLearnsResumesAndLoadsInPython(t *testing.T) {
	torch.SetNumThreads(1)
	f := writeFixture(t)
	cfg := func(out string, stop int) Config {
		return Config{Passages: f.pool, Config: f.cfg, Vocab: f.vocab, MaxLen: 16, ForCN: true,
			Train: train.Options{OutDir: out, MaxSteps: 120, BatchSize: 4, LR: 5e-3, WarmupProportion: 0.1, Seed: 3,
				SaveEvery: 10, LogEvery: 100, StopAfter: stop, Log: testWriter{t}}}
	}
	ctx := context.Background()
	a := filepath.Join(f.dir, "a")
	res, err := Run(ctx, cfg(a, 0))
	require.NoError(t, err)
	require.Equal(t, 120, res.Steps)
	losses := readLosses(t, filepath.Join(a, "metrics.jsonl"))
	require.Len(t, losses, 120)
	first, last := mean(losses[:10]), mean(losses[110:])
	t.Logf("loss %.3f -> %.3f (ln V = %.3f)", first, last, math.Log(float64(len(vocab))))
	require.Less(t, last, first-0.5, "the MLM loss falls")

	b := filepath.Join(f.dir, "b")
	res, err = Run(ctx, cfg(b, 37))
	require.NoError(t, err)
	require.Empty(t, res.FinalDir, "stopped early")
	res, err = Run(ctx, cfg(b, 0))
	require.NoError(t, err)
	require.Equal(t, 30, res.Resumed)
	wa, wb := finalWeights(t, filepath.Join(a, "final")), finalWeights(t, filepath.Join(b, "final"))
	require.Equal(t, len(wa), len(wb))
	for n, va := range wa {
		vb := wb[n]
		require.Len(t, vb, len(va), n)
		for i := range va {
			require.InDelta(t, va[i], vb[i], 1e-5+1.3e-6*math.Abs(float64(va[i])), "%s[%d]: resume repeats the run", n, i)
		}
	}

	// the model loads as a plain encoder (--init), and strictly in PyTorch with the same MLM logits
	final := filepath.Join(a, "final")
	h, fresh, err := encoder.LoadMLM(final)
	require.NoError(t, err)
	require.False(t, fresh)
	defer h.Enc.Close()
	defer h.Close()
	ids := []int64{2, 12, 13, 3, 4, 6, 7, 3}
	var want []float32
	torch.NoGrad(func() {
		require.NoError(t, torch.With(func(s *torch.Scope) error {
			x := s.FromInt64(ids, 1, int64(len(ids)))
			z := s.Zeros([]int64{1, int64(len(ids))}, torch.Int64, torch.CPU)
			o := s.Ones([]int64{1, int64(len(ids))}, torch.Int64, torch.CPU)
			var err error
			want, err = h.Logits(h.Enc.Forward(s, x, z, o, false)).Float32s()
			return err
		}))
	})
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		t.Skip("/usr/bin/python3 with torch not available")
	}
	strs := make([]string, len(ids))
	for i, v := range ids {
		strs[i] = strconv.FormatInt(v, 10)
	}
	cmd := exec.Command("/usr/bin/python3", filepath.Join("..", "encoder", "testdata", "check_saved.py"), "--mlm", final, "--ids", strings.Join(strs, ","))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err)
	var got struct{ Logits [][][]float64 }
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got.Logits, 1)
	k := 0
	for _, row := range got.Logits[0] {
		for _, v := range row {
			require.InDelta(t, want[k], v, 1e-5+1.3e-6*math.Abs(float64(want[k])), "logit %d", k)
			k++
		}
	}
	require.Equal(t, len(want), k)
}

// TestNewTaskErrors: bad configurations are errors that say what is wrong.
func TestNewTaskErrors(t *testing.T) {
	f := writeFixture(t)
	_, err := NewTask(Config{Passages: f.pool})
	require.ErrorContains(t, err, "set Init")
	_, err = NewTask(Config{Passages: f.pool, Config: f.cfg, Vocab: f.vocab, MaxLen: 64})
	require.ErrorContains(t, err, "MaxLen 64 exceeds max_position_embeddings 40")
	_, err = NewTask(Config{Config: f.cfg, Vocab: f.vocab})
	require.ErrorContains(t, err, "set Collection")
	_, err = NewTask(Config{Collection: filepath.Join(f.dir, "nope"), Config: f.cfg, Vocab: f.vocab})
	require.Error(t, err)
	short := filepath.Join(f.dir, "short.txt")
	require.NoError(t, os.WriteFile(short, []byte(strings.Join(vocab[:20], "\n")+"\n"), 0o644))
	_, err = NewTask(Config{Passages: f.pool, Config: f.cfg, Vocab: short})
	require.ErrorContains(t, err, "has 20 tokens, the model's vocab_size is 25")
	empty := dataset.NewPassages()
	require.NoError(t, empty.Add("x", "", "???"))
	_, err = NewTask(Config{Passages: empty, Config: f.cfg, Vocab: f.vocab, MaxLen: 16})
	require.ErrorContains(t, err, "no sequence with a maskable token")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func readLosses(t *testing.T, path string) []float64 {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []float64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]float64
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if l, ok := rec["loss"]; ok {
			out = append(out, l)
		}
	}
	return out
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestSavedVocabSurvivesItsFile: the task reads its vocabulary when it is made; a save after the file was replaced
// still writes the one the model was trained with (before: the replacement, silently).
func TestSavedVocabSurvivesItsFile(t *testing.T) {
	f := writeFixture(t)
	want, err := os.ReadFile(f.vocab)
	require.NoError(t, err)
	task, err := NewTask(Config{Passages: f.pool, Config: f.cfg, Vocab: f.vocab, MaxLen: 16, ForCN: true})
	require.NoError(t, err)
	defer task.Close()
	require.NoError(t, os.WriteFile(f.vocab, []byte("[PAD]\n"), 0o644))
	out := filepath.Join(f.dir, "saved")
	require.NoError(t, task.SaveModel(out))
	got, err := os.ReadFile(filepath.Join(out, "vocab.txt"))
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestVocabFIFOReadOnce: NewTask reads its vocabulary once (the tokenizer and the saved models share the read), so a
// vocabulary that can be read only once works; before, the second open of a FIFO waited forever for a writer.
func TestVocabFIFOReadOnce(t *testing.T) {
	f := writeFixture(t)
	want, err := os.ReadFile(f.vocab)
	require.NoError(t, err)
	fifo := canceltest.OnceFIFO(t, "vocab.txt", want)
	done := make(chan error, 1)
	out := filepath.Join(f.dir, "saved")
	go func() {
		task, err := NewTask(Config{Passages: f.pool, Config: f.cfg, Vocab: fifo, MaxLen: 16, ForCN: true})
		if err == nil {
			err = task.SaveModel(out)
			task.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second): // the FIFO's cleanup lets the blocked open go
		t.Fatal("still waiting on the vocabulary FIFO after 30 s: it is opened twice")
	}
	got, err := os.ReadFile(filepath.Join(out, "vocab.txt"))
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestResumeRefusesOtherSettings: a checkpoint belongs to the pre-training run that wrote it; a run with another
// masking, mask share or tokenisation is refused with the difference. Before, pretrain set no run identity and such
// a run resumed the checkpoint silently, mixing two runs.
func TestResumeRefusesOtherSettings(t *testing.T) {
	torch.SetNumThreads(1)
	f := writeFixture(t)
	out := filepath.Join(f.dir, "out")
	cfg := func(stop int) Config {
		return Config{Passages: f.pool, Config: f.cfg, Vocab: f.vocab, MaxLen: 16, ForCN: true,
			Train: train.Options{OutDir: out, MaxSteps: 6, BatchSize: 4, LR: 5e-3, Seed: 3,
				SaveEvery: 2, LogEvery: 100, StopAfter: stop, Log: testWriter{t}}}
	}
	other := dataset.NewPassages() // as many sequences, another text
	for i, s := range []string{"ls 列出目录的内容", "cp 复制目录", "目录 dir 列出", "文件 files 的内容 a b", "复制目录 cp ls"} {
		require.NoError(t, other.Add(strconv.Itoa(i), "标题"+strconv.Itoa(i), s))
	}
	ctx := context.Background()
	_, err := Run(ctx, cfg(2))
	require.NoError(t, err)
	for _, c := range []struct {
		change func(*Config)
		diff   string
	}{
		{func(c *Config) { c.MaskProb = 0.3 }, `mask_prob "0.15" there, "0.3" here`},
		{func(c *Config) { c.Masking = Char }, `masking "wwm" there, "char" here`},
		{func(c *Config) { c.Passages = other }, "sequences "},
	} {
		c2 := cfg(0)
		c.change(&c2)
		_, err := Run(ctx, c2)
		require.Error(t, err, c.diff)
		require.Contains(t, err.Error(), "belongs to another run")
		require.Contains(t, err.Error(), c.diff)
	}
	res, err := Run(ctx, cfg(0))
	require.NoError(t, err)
	require.Equal(t, 2, res.Resumed)
}
