package encoder

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/torch"
)

// requireClose applies torch.testing.assert_close's rule for float32 (rtol 1.3e-6, atol 1e-5) elementwise.
func requireClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		require.LessOrEqual(t, d, 1e-5+1.3e-6*math.Abs(float64(want[i])), "%s[%d]: got %v want %v", what, i, got[i], want[i])
	}
}

func tensorNames(f *safetensors.File) []string {
	var out []string
	for _, x := range f.Tensors {
		out = append(out, x.Name)
	}
	return out
}

func floats(t *testing.T, x *torch.Tensor) []float32 {
	t.Helper()
	v, err := x.Float32s()
	require.NoError(t, err)
	return v
}

// TestMLMParityWithPyTorch checks the masked-LM loss, the logits at the masked positions and the gradient of every
// tensor (tied word embeddings included) against HF BertForMaskedLM's re-statement (testdata/ref_mlm.py) on fixed
// masks (gen_mlm_fixtures.py).
func TestMLMParityWithPyTorch(t *testing.T) {
	dir := filepath.Join("testdata", "tiny_mlm")
	exp, err := safetensors.ReadFile(filepath.Join(dir, "expected.safetensors"))
	require.NoError(t, err)
	h, fresh, err := LoadMLM(dir)
	require.NoError(t, err)
	require.False(t, fresh, "the fixture has an MLM head")
	defer h.Enc.Close()
	defer h.Close()
	require.False(t, h.Enc.HasPooler(), "BertForMaskedLM has no pooler")
	s := torch.NewScope()
	defer s.Close()
	ids := fixtureTensor(t, s, exp, "input_ids")
	types := fixtureTensor(t, s, exp, "token_type_ids")
	mask := fixtureTensor(t, s, exp, "attention_mask")
	pos := fixtureTensor(t, s, exp, "positions")
	labels := fixtureTensor(t, s, exp, "label_ids")

	loss := h.Loss(s, ids, types, mask, pos, labels, true) // dropout is 0 in the fixture's config
	requireClose(t, "loss", floats(t, loss), floats(t, fixtureTensor(t, s, exp, "loss")))
	var logits *torch.Tensor
	torch.NoGrad(func() {
		seq := h.Enc.Forward(s, ids, types, mask, false)
		logits = h.Logits(seq.Reshape(-1, seq.Size(-1)).IndexSelect(0, pos))
	})
	requireClose(t, "masked_logits", floats(t, logits), floats(t, fixtureTensor(t, s, exp, "masked_logits")))

	require.NoError(t, loss.Backward())
	n := 0
	for _, p := range h.Enc.Params() {
		requireClose(t, "grad "+p.Name, floats(t, s.Adopt(p.Tensor.Grad())), floats(t, fixtureTensor(t, s, exp, "grad."+MLMPrefix+p.Name)))
		n++
	}
	for _, p := range h.Params() {
		requireClose(t, "grad "+p.Name, floats(t, s.Adopt(p.Tensor.Grad())), floats(t, fixtureTensor(t, s, exp, "grad."+p.Name)))
		n++
	}
	grads := 0
	for _, name := range tensorNames(exp) {
		if strings.HasPrefix(name, "grad.") {
			grads++
		}
	}
	require.Equal(t, grads, n, "every tensor of the PyTorch model is compared")
}

// TestSaveMLMLoadsInPython saves the head and encoder, checks the file holds exactly HF BertForMaskedLM's
// safetensors names, loads it in PyTorch with load_state_dict(strict=True) and compares the MLM logits.
func TestSaveMLMLoadsInPython(t *testing.T) {
	h, _, err := LoadMLM(filepath.Join("testdata", "tiny_mlm"))
	require.NoError(t, err)
	defer h.Enc.Close()
	defer h.Close()
	out := filepath.Join(t.TempDir(), "mlm")
	require.NoError(t, SaveMLM(out, h, filepath.Join("testdata", "tiny_mlm", "vocab.txt")))

	f, err := safetensors.ReadFile(filepath.Join(out, SafetensorsFile))
	require.NoError(t, err)
	names := tensorNames(f)
	sort.Strings(names)
	heads := 0
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "cls.predictions."):
			heads++
			require.NotContains(t, n, "decoder", "the tied decoder is not written")
		default:
			require.True(t, strings.HasPrefix(n, "bert.embeddings.") || strings.HasPrefix(n, "bert.encoder."), n)
		}
	}
	require.Equal(t, 5, heads)
	require.Len(t, names, len(ExpectedShapes(h.Enc.Cfg, false))+5)

	// the directory is also a plain encoder for --init
	enc, err := LoadBERT(out, false)
	require.NoError(t, err)
	enc.Close()

	seqs := [][]int64{{2, 10, 4, 12, 3, 30, 3}, {2, 4, 21, 3}}
	var want [][]float32
	s := torch.NewScope()
	defer s.Close()
	torch.NoGrad(func() {
		for _, q := range seqs {
			ids := s.FromInt64(q, 1, int64(len(q)))
			z := s.Zeros([]int64{1, int64(len(q))}, torch.Int64, torch.CPU)
			o := s.Ones([]int64{1, int64(len(q))}, torch.Int64, torch.CPU)
			want = append(want, floats(t, h.Logits(h.Enc.Forward(s, ids, z, o, false))))
		}
	})
	havePythonTorch(t)
	args := []string{filepath.Join("testdata", "check_saved.py"), "--mlm", out}
	for _, q := range seqs {
		args = append(args, "--ids", joinInts(q))
	}
	cmd := exec.Command("/usr/bin/python3", args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	require.NoError(t, err)
	var res struct{ Logits [][][]float32 }
	require.NoError(t, json.Unmarshal(stdout, &res))
	require.Len(t, res.Logits, len(seqs))
	for i := range seqs {
		var got []float32
		for _, row := range res.Logits[i] {
			got = append(got, row...)
		}
		requireClose(t, "python logits", got, want[i])
	}
}

// TestMLMHeadErrors: an incomplete or misshapen head is an error naming the file and the tensor; a checkpoint
// without a head gets a new one.
func TestMLMHeadErrors(t *testing.T) {
	dir := filepath.Join("testdata", "tiny_mlm")
	cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
	require.NoError(t, err)
	raw, file, err := ReadStateDict(dir)
	require.NoError(t, err)
	enc, err := FromStateDict(cfg, Canonicalize(raw, ""), file, false)
	require.NoError(t, err)
	defer enc.Close()

	missing := map[string]safetensors.Tensor{}
	for k, v := range raw {
		if k != "cls.predictions.bias" {
			missing[k] = v
		}
	}
	_, err = MLMHeadFromStateDict(enc, missing, "x.safetensors")
	require.ErrorContains(t, err, "x.safetensors: MLM head: missing cls.predictions.bias")

	bad := map[string]safetensors.Tensor{}
	for k, v := range raw {
		bad[k] = v
	}
	b := raw["cls.predictions.transform.dense.bias"]
	bad["cls.predictions.transform.dense.bias"] = safetensors.F32(b.Name, []int64{3}, []float32{1, 2, 3})
	_, err = MLMHeadFromStateDict(enc, bad, "y.safetensors")
	require.ErrorContains(t, err, "cls.predictions.transform.dense.bias has shape [3], want [32]")

	none := Canonicalize(raw, "")
	h, err := MLMHeadFromStateDict(enc, none, "z")
	require.NoError(t, err)
	require.Nil(t, h, "no head in a plain BertModel checkpoint")
	h, err = NewMLMHead(enc)
	require.NoError(t, err)
	defer h.Close()
	require.Len(t, h.Params(), 5)
}
