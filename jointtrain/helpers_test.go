package jointtrain

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

const (
	tinyErnie = "../encoder/testdata/tiny_ernie"
	tinyBert  = "../encoder/testdata/tiny_bert"
)

// requireClose applies the project's tolerance rule (torch.testing.assert_close's): |got - want| <= atol +
// rtol*|want| with the float32 defaults rtol 1.3e-6, atol 1e-5, for every element.
func requireClose(t testing.TB, want, got []float64, what string) {
	t.Helper()
	const rtol, atol = 1.3e-6, 1e-5
	require.Equal(t, len(want), len(got), "%s: length", what)
	for i := range want {
		d := got[i] - want[i]
		if d < 0 {
			d = -d
		}
		w := want[i]
		if w < 0 {
			w = -w
		}
		if !(d <= atol+rtol*w) {
			t.Fatalf("%s[%d]: got %.9g, want %.9g (|diff| %.3g > %.3g)", what, i, got[i], want[i], d, atol+rtol*w)
		}
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func noDropout(ms ...*encoder.BERT) {
	for _, m := range ms {
		m.Cfg.HiddenDropoutProb, m.Cfg.AttentionDropoutProb = 0, 0
	}
}

// grads returns (and clears) the gradient of every parameter of the task.
func grads(t *testing.T, task *Task) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range task.Params() {
		g := p.Tensor.Grad()
		require.NotNil(t, g, p.Name)
		v, err := g.Float32s()
		require.NoError(t, err)
		g.Close()
		out[p.Name] = v
		require.NoError(t, p.Tensor.ZeroGrad())
	}
	return out
}

func tinyTok(t *testing.T) *tokenizer.Tokenizer {
	tok, err := tokenizer.New(filepath.Join(tinyErnie, "vocab.txt"), tokenizer.DefaultOptions())
	require.NoError(t, err)
	return tok
}

// tinyLists makes n lists of m items of random characters from the tiny vocab, the first labelled positive.
func tinyLists(t *testing.T, n, m int, seed uint64) []dataset.JointList {
	b, err := os.ReadFile(filepath.Join(tinyErnie, "vocab.txt"))
	require.NoError(t, err)
	toks := strings.Fields(string(b))[5:]
	r := rand.New(rand.NewPCG(seed, 7))
	text := func(lo, hi int) string {
		var sb strings.Builder
		for i := 0; i < lo+r.IntN(hi-lo+1); i++ {
			sb.WriteString(toks[r.IntN(len(toks))])
		}
		return sb.String()
	}
	out := make([]dataset.JointList, n)
	for i := range out {
		q := text(2, 6)
		l := dataset.JointList{Query: q}
		for j := 0; j < m; j++ {
			lab := 0
			if j == 0 {
				lab = 1
			}
			l.Items = append(l.Items, dataset.CrossExample{Query: q, Title: text(0, 2), Para: text(3, 12), Label: lab})
		}
		out[i] = l
	}
	return out
}

// tinyTask builds random tiny towers (seeded) and a v2 cross-encoder for text lists.
func tinyTask(t *testing.T, lists []dataset.JointList, m int, dropout bool) *Task {
	cfg, err := encoder.ReadConfig(filepath.Join(tinyErnie, "config.json"))
	require.NoError(t, err)
	if !dropout {
		cfg.HiddenDropoutProb, cfg.AttentionDropoutProb = 0, 0
	}
	torch.ManualSeed(42)
	mk := func() *encoder.BERT {
		c := *cfg
		b, err := encoder.NewBERT(&c, false)
		require.NoError(t, err)
		return b
	}
	de := encoder.NewDualEncoder(mk(), mk())
	t.Cleanup(de.Close)
	ce, err := encoder.NewCrossEncoder(mk(), encoder.HeadV2)
	require.NoError(t, err)
	t.Cleanup(ce.Close)
	return &Task{DE: de, CE: ce, Tok: tinyTok(t), Lists: lists, M: m, Vocab: filepath.Join(tinyErnie, "vocab.txt"),
		DEInfo: encoder.ModelInfo{QMaxSeqLen: 8, PMaxSeqLen: 16}, CEInfo: encoder.ModelInfo{MaxSeqLen: 20}}
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }
