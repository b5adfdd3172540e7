package rocketqa

import (
	"context"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
)

// Fixtures: rocketqa/testdata/gen_paddle_fixtures.py (tiny models in Paddle's format, and the [CLS] vectors /
// scores a plain PyTorch implementation of the official ErnieModel computes from the same numbers).
const paddleFixtures = "testdata/paddle"

type paddleExpected struct {
	Queries, Titles, Paras []string
	QIDs                   [][]int32   `json:"q_ids"`
	PIDs                   [][]int32   `json:"p_ids"`
	PTypes                 [][]int32   `json:"p_types"`
	PNIDs                  [][]int32   `json:"pn_ids"`
	QVecs                  [][]float64 `json:"q_vecs"`
	PVecs                  [][]float64 `json:"p_vecs"`
	PNVecs                 [][]float64 `json:"pn_vecs"`
	IDs                    [][]int32   `json:"ids"`
	Scores                 []float64   `json:"scores"`
	ScoresNoTitle          []float64   `json:"scores_notitle"`
}

func readExpected(t *testing.T, name string) paddleExpected {
	b, err := os.ReadFile(filepath.Join(paddleFixtures, name, "expected.json"))
	require.NoError(t, err)
	var e paddleExpected
	require.NoError(t, json.Unmarshal(b, &e))
	return e
}

// copyFixture copies a fixture folder into a temporary directory (Load writes its cache beside the folder).
func copyFixture(t *testing.T, name string) string {
	dst := filepath.Join(t.TempDir(), name)
	src := filepath.Join(paddleFixtures, name)
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	}))
	return dst
}

// closeTo applies the project's float32 rule |got-want| <= atol + rtol*|want| (rtol 1.3e-6, atol 1e-5).
func closeTo(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	require.Len(t, got, len(want), what)
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i]) - want[i])
		if d > 1e-5+1.3e-6*math.Abs(want[i]) {
			t.Fatalf("%s[%d] = %v, want %v (|diff| %.3g)", what, i, got[i], want[i], d)
		}
		worst = max(worst, d)
	}
	t.Logf("%s: max |diff| %.2g", what, worst)
}

func flat(v [][]float32) []float32 { return slices.Concat(v...) }

func flat64(v [][]float64) []float64 { return slices.Concat(v...) }

func checkDual(t *testing.T, m *Model, e paddleExpected) {
	ctx := context.Background()
	require.NotNil(t, m.Dual)
	for i, q := range e.Queries {
		require.Equal(t, e.QIDs[i], m.Tok.EncodeQuery(q, m.emb.QMaxLen).IDs, "query %d ids (official: q \\t - \\t -)", i)
	}
	for i, p := range e.Paras {
		enc := m.Tok.EncodePassage(e.Titles[i], p, m.emb.PMaxLen)
		require.Equal(t, e.PIDs[i], enc.IDs, "para %d ids", i)
		require.Equal(t, e.PTypes[i], enc.TypeIDs, "para %d type ids", i)
		require.Equal(t, e.PNIDs[i], m.Tok.EncodePassage("", p, m.emb.PMaxLen).IDs, "para %d ids without title", i)
	}
	q, err := m.EncodeQuery(ctx, e.Queries)
	require.NoError(t, err)
	closeTo(t, "query [CLS]", flat(q), flat64(e.QVecs))
	p, err := m.EncodePara(ctx, e.Paras, e.Titles)
	require.NoError(t, err)
	closeTo(t, "para [CLS]", flat(p), flat64(e.PVecs))
	pn, err := m.EncodePara(ctx, e.Paras, nil)
	require.NoError(t, err)
	closeTo(t, "para [CLS] without titles", flat(pn), flat64(e.PNVecs))
	s, err := m.Matching(ctx, e.Queries, e.Paras, e.Titles)
	require.NoError(t, err)
	closeTo(t, "matching", s, e.Scores)
}

// TestConvertPaddleDual converts a zh_dureader_de-like release (query_ + titlepara_ towers, token\tid vocabulary,
// optimizer variables in the checkpoint) and checks the report, tokenization and [CLS] vectors.
func TestConvertPaddleDual(t *testing.T) {
	out := filepath.Join(t.TempDir(), "zh_de")
	rep, err := ConvertPaddle(filepath.Join(paddleFixtures, "zh_de"), out, ConvertOptions{})
	require.NoError(t, err)
	require.Equal(t, "dual_encoder", rep.ModelType)
	require.Equal(t, 2*(5+2*16), rep.Mapped)
	require.Equal(t, []string{"learning_rate_0", "query_word_embedding_moment1_0"}, rep.Unused)
	for _, f := range []string{"rocketqa.json", "paddle_source.json", "query_encoder/model.safetensors", "para_encoder/config.json", "para_encoder/vocab.txt"} {
		require.FileExists(t, filepath.Join(out, f))
	}
	m, err := Load(out, LoadOptions{BatchSize: 2})
	require.NoError(t, err)
	defer m.Close()
	require.True(t, m.Info.ForCN)
	require.False(t, m.Dual.Shared)
	checkDual(t, m, readExpected(t, "zh_de"))
}

// TestLoadPaddleShared loads a pair_marco_de-like folder directly (shared titlepara_ tower, ERNIE 2.0 with a task
// embedding, float16 variables, a vocabulary shorter than vocab_size) through Load's conversion cache.
func TestLoadPaddleShared(t *testing.T) {
	src := copyFixture(t, "pair_en_de")
	m, err := Load(src, LoadOptions{BatchSize: 2})
	require.NoError(t, err)
	defer m.Close()
	require.True(t, m.Dual.Shared)
	require.False(t, m.Info.ForCN)
	require.DirExists(t, src+".rocketqa-go")
	checkDual(t, m, readExpected(t, "pair_en_de"))
	// the official config file itself is accepted too, as load_model(conf_path) does
	m2, err := Load(filepath.Join(src, "config.json"), LoadOptions{})
	require.NoError(t, err)
	m2.Close()
}

// TestConvertPaddleTwinInit converts an ernie_base_1.0_twin_CN-like starting point (ernie_config.json, vocab.txt,
// params/; no RocketQA config).
func TestConvertPaddleTwinInit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "twin")
	rep, err := ConvertPaddle(filepath.Join(paddleFixtures, "twin_init"), out, ConvertOptions{QMaxSeqLen: 16, PMaxSeqLen: 24})
	require.NoError(t, err)
	require.Equal(t, "dual_encoder", rep.ModelType)
	require.Empty(t, rep.Unused)
	m, err := Load(out, LoadOptions{})
	require.NoError(t, err)
	defer m.Close()
	require.True(t, m.Info.ForCN, "for_cn guessed from a Chinese vocabulary")
	checkDual(t, m, readExpected(t, "twin_init"))
}

func checkCross(t *testing.T, name string, v2 bool) {
	out := filepath.Join(t.TempDir(), name)
	rep, err := ConvertPaddle(filepath.Join(paddleFixtures, name), out, ConvertOptions{})
	require.NoError(t, err)
	require.Equal(t, "cross_encoder", rep.ModelType)
	require.Empty(t, rep.Unused)
	m, err := Load(out, LoadOptions{BatchSize: 2})
	require.NoError(t, err)
	defer m.Close()
	require.Equal(t, v2, m.Info.JointTraining)
	e := readExpected(t, name)
	for i := range e.Queries {
		require.Equal(t, e.IDs[i], m.Tok.EncodePair(e.Queries[i], e.Titles[i], e.Paras[i], m.rr.MaxSeqLen).IDs)
	}
	ctx := context.Background()
	s, err := m.Matching(ctx, e.Queries, e.Paras, e.Titles)
	require.NoError(t, err)
	closeTo(t, name+" scores", s, e.Scores)
	s, err = m.Matching(ctx, e.Queries, e.Paras, nil)
	require.NoError(t, err)
	closeTo(t, name+" scores without titles", s, e.ScoresNoTitle)
}

// TestConvertPaddleCrossV1: a zh_dureader_ce-like v1 cross-encoder (pooled_fc, _cls_out_w [H, 2], P(relevant)).
func TestConvertPaddleCrossV1(t *testing.T) { checkCross(t, "zh_ce_v1", false) }

// TestConvertPaddleCrossV2: a v2_marco_ce-like cross-encoder (qtp_ prefix, raw [CLS], qtp__cls_out_w [H, 1], the
// logit), stored as bfloat16.
func TestConvertPaddleCrossV2(t *testing.T) { checkCross(t, "en_ce_v2", true) }

// TestConvertPaddleBadInput: clear errors naming the file or variable.
func TestConvertPaddleBadInput(t *testing.T) {
	conv := func(t *testing.T, src string) error {
		parent := t.TempDir()
		_, err := ConvertPaddle(src, filepath.Join(parent, "out"), ConvertOptions{})
		require.Error(t, err)
		ents, _ := os.ReadDir(parent)
		require.Empty(t, ents, "a failed conversion leaves nothing behind")
		return err
	}
	t.Run("missing variable", func(t *testing.T) {
		src := copyFixture(t, "zh_de")
		require.NoError(t, os.Remove(filepath.Join(src, "step_100", "titlepara_encoder_layer_1_ffn_fc_0.b_0")))
		require.ErrorContains(t, conv(t, src), "lacks 1 variable(s) the model needs: titlepara_encoder_layer_1_ffn_fc_0.b_0")
	})
	t.Run("missing head", func(t *testing.T) {
		src := copyFixture(t, "zh_ce_v1")
		require.NoError(t, os.Remove(filepath.Join(src, "step_7", "_cls_out_b")))
		require.ErrorContains(t, conv(t, src), "lacks the cross-encoder head: _cls_out_b")
	})
	t.Run("dims vs config", func(t *testing.T) {
		src := copyFixture(t, "zh_de")
		p := filepath.Join(src, "zh_config.json")
		b, _ := os.ReadFile(p)
		var c map[string]any
		require.NoError(t, json.Unmarshal(b, &c))
		c["vocab_size"] = c["vocab_size"].(float64) + 1
		b, _ = json.Marshal(c)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		err := conv(t, src)
		require.ErrorContains(t, err, "query_word_embedding: dims [31 8], but the ERNIE config zh_config.json wants [32 8]")
	})
	t.Run("truncated file", func(t *testing.T) {
		src := copyFixture(t, "zh_de")
		p := filepath.Join(src, "step_100", "query_pos_embedding")
		b, _ := os.ReadFile(p)
		require.NoError(t, os.WriteFile(p, b[:len(b)-3], 0o644))
		err := conv(t, src)
		require.ErrorContains(t, err, p)
		require.ErrorContains(t, err, "truncated")
	})
	t.Run("unknown dtype", func(t *testing.T) {
		src := copyFixture(t, "zh_de")
		p := filepath.Join(src, "step_100", "query_sent_embedding")
		b, _ := os.ReadFile(p)
		require.Equal(t, byte(0x08), b[20])
		b[21] = 15 // READER
		require.NoError(t, os.WriteFile(p, b, 0o644))
		err := conv(t, src)
		require.ErrorContains(t, err, p)
		require.ErrorContains(t, err, "unknown dtype 15")
	})
	t.Run("integer weights", func(t *testing.T) {
		src := copyFixture(t, "zh_de")
		p := filepath.Join(src, "step_100", "query_sent_embedding")
		b, _ := os.ReadFile(p)
		b[21] = 2 // INT32, same size
		require.NoError(t, os.WriteFile(p, b, 0o644))
		require.ErrorContains(t, conv(t, src), "not a floating-point type")
	})
	t.Run("missing vocabulary", func(t *testing.T) {
		src := copyFixture(t, "zh_de")
		require.NoError(t, os.Remove(filepath.Join(src, "zh_vocab.txt")))
		require.ErrorContains(t, conv(t, src), "vocabulary (model_vocab_path)")
	})
	t.Run("bad vocabulary line", func(t *testing.T) {
		src := copyFixture(t, "zh_de")
		f, err := os.OpenFile(filepath.Join(src, "zh_vocab.txt"), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		f.WriteString("extra\tx\n")
		f.Close()
		require.ErrorContains(t, conv(t, src), "zh_vocab.txt:32: bad id")
	})
	t.Run("not official", func(t *testing.T) {
		require.ErrorContains(t, conv(t, t.TempDir()), "not an official Paddle model folder")
	})
	t.Run("out not a conversion", func(t *testing.T) {
		out := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644))
		_, err := ConvertPaddle(filepath.Join(paddleFixtures, "zh_ce_v1"), out, ConvertOptions{})
		require.ErrorContains(t, err, "is not an earlier conversion")
		require.FileExists(t, filepath.Join(out, "notes.txt"))
	})
}

// TestLoadOfficialName: Load("zh_dureader_de") reads ~/.rocketqa/zh_dureader_de (here ROCKETQA_HOME) like the
// official load_model, converts it once, reuses the cache, and rebuilds it when the folder changes.
func TestLoadOfficialName(t *testing.T) {
	home := t.TempDir()
	t.Setenv("ROCKETQA_HOME", home)
	_, err := Load("zh_dureader_de", LoadOptions{})
	require.ErrorContains(t, err, "never downloads")
	require.ErrorContains(t, err, "http://rocketqa.bj.bcebos.com/RocketQAModels/zh_dureader_de.tar.gz")

	src := copyFixture(t, "zh_de")
	require.NoError(t, os.Rename(src, filepath.Join(home, "zh_dureader_de")))
	m, err := Load("zh_dureader_de", LoadOptions{})
	require.NoError(t, err)
	checkDual(t, m, readExpected(t, "zh_de"))
	m.Close()
	stamp := filepath.Join(home, "zh_dureader_de.rocketqa-go", SourceFile)
	st1, err := os.Stat(stamp)
	require.NoError(t, err)

	m, err = Load("zh_dureader_de", LoadOptions{})
	require.NoError(t, err)
	m.Close()
	st2, _ := os.Stat(stamp)
	require.Equal(t, st1.ModTime(), st2.ModTime(), "the cache is reused")

	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(home, "zh_dureader_de", "step_100", "query_pos_embedding"), later, later))
	m, err = Load("zh_dureader_de", LoadOptions{})
	require.NoError(t, err)
	m.Close()
	st3, _ := os.Stat(stamp)
	require.NotEqual(t, st1.ModTime(), st3.ModTime(), "a changed folder is converted again")
	ents, _ := os.ReadDir(home)
	for _, e := range ents {
		require.False(t, strings.HasPrefix(e.Name(), "."), "leftover %s", e.Name())
	}
}

// TestConvertPaddleERNIE: a plain ERNIE checkpoint (ernie_base_1.0_CN layout: no tower prefix, pooled_fc, pre-training
// heads) becomes one HuggingFace BERT directory with its pooler; the heads are reported as unused.
func TestConvertPaddleERNIE(t *testing.T) {
	src := copyFixture(t, "zh_ce_v1")
	ernie := filepath.Join(t.TempDir(), "ernie_base")
	require.NoError(t, os.MkdirAll(ernie, 0o755))
	require.NoError(t, os.Rename(filepath.Join(src, "step_7"), filepath.Join(ernie, "params")))
	require.NoError(t, os.Rename(filepath.Join(src, "zh_config.json"), filepath.Join(ernie, "ernie_config.json")))
	require.NoError(t, os.Rename(filepath.Join(src, "zh_vocab.txt"), filepath.Join(ernie, "vocab.txt")))
	for _, v := range []string{"_cls_out_w", "_cls_out_b"} {
		require.NoError(t, os.Rename(filepath.Join(ernie, "params", v), filepath.Join(ernie, "params", "mask_lm"+v)))
	}
	out := filepath.Join(t.TempDir(), "hf")
	rep, err := ConvertPaddle(ernie, out, ConvertOptions{})
	require.NoError(t, err)
	require.Equal(t, "encoder", rep.ModelType)
	require.Equal(t, []string{"mask_lm_cls_out_b", "mask_lm_cls_out_w"}, rep.Unused)
	require.NoFileExists(t, filepath.Join(out, encoder.InfoFile))
	m, err := encoder.LoadBERT(out, true)
	require.NoError(t, err)
	require.True(t, m.HasPooler())
	m.Close()
}

// TestLoadPaddleConcurrent: processes (here goroutines) loading one official folder at once share one conversion.
func TestLoadPaddleConcurrent(t *testing.T) {
	src := copyFixture(t, "zh_ce_v1")
	errs := make(chan error, 3)
	dirs := make(chan string, 3)
	for i := 0; i < 3; i++ {
		go func() {
			d, err := ResolvePaddle(src)
			errs <- err
			dirs <- d
		}()
	}
	for i := 0; i < 3; i++ {
		require.NoError(t, <-errs)
		require.Equal(t, src+".rocketqa-go", <-dirs)
	}
	m, err := Load(src, LoadOptions{})
	require.NoError(t, err)
	m.Close()
}

// TestLoadPaddleBroken: an official folder with a broken config gets its own error from Load, not "not found".
func TestLoadPaddleBroken(t *testing.T) {
	src := copyFixture(t, "zh_de")
	require.NoError(t, os.WriteFile(filepath.Join(src, "config.json"), []byte(`{"model_type": "dual_encoder", "model_checkpoint_path": "step_100"}`), 0o644))
	_, err := Load(src, LoadOptions{})
	require.ErrorContains(t, err, "missing or empty model_conf_path, model_vocab_path")
	_, err = Load(filepath.Join(t.TempDir(), "nothing"), LoadOptions{})
	require.ErrorContains(t, err, "not found")
}

// TestConvertPaddleOutChecks: a bad model_type and an --out that would overwrite the source are refused.
func TestConvertPaddleOutChecks(t *testing.T) {
	src := copyFixture(t, "zh_ce_v1")
	_, err := ConvertPaddle(src, src, ConvertOptions{})
	require.ErrorContains(t, err, "would overwrite the source")
	_, err = ConvertPaddle(src, filepath.Dir(src), ConvertOptions{})
	require.ErrorContains(t, err, "would overwrite the source")
	p := filepath.Join(src, "config.json")
	b, _ := os.ReadFile(p)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), `"cross_encoder"`, `"cross-encoder"`, 1)), 0o644))
	_, err = ConvertPaddle(src, filepath.Join(t.TempDir(), "o"), ConvertOptions{})
	require.ErrorContains(t, err, `model_type "cross-encoder" (want dual_encoder or cross_encoder)`)
}
