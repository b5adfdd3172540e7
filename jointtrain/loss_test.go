package jointtrain

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/tinytest"
	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// fixtureTask loads the models of testdata/gen_joint_fixtures.py (dropout off) and its batch.
func fixtureTask(t *testing.T, head string) (*Task, *safetensors.File, *Batch) {
	f, err := safetensors.ReadFile("testdata/joint.safetensors")
	require.NoError(t, err)
	q, err := encoder.LoadBERT(tinytest.ErnieDir(t), false)
	require.NoError(t, err)
	p, err := encoder.LoadBERT(tinyBert, false)
	require.NoError(t, err)
	de := encoder.NewDualEncoder(q, p)
	t.Cleanup(de.Close)
	ce, _, err := encoder.LoadCross(filepath.Join("testdata", "ce_"+head))
	require.NoError(t, err)
	t.Cleanup(ce.Close)
	noDropout(q, p, ce.Enc)
	rows := func(name string) []tokenizer.Encoding {
		get := func(k string) ([]int64, []int64) {
			st, ok := f.Get(name + "." + k)
			require.True(t, ok, name+"."+k)
			v, err := st.Int64s()
			require.NoError(t, err)
			return v, st.Shape
		}
		ids, shape := get("ids")
		types, _ := get("types")
		lens, _ := get("len")
		var out []tokenizer.Encoding
		for i, n := range lens {
			e := tokenizer.Encoding{}
			for j := int64(0); j < n; j++ {
				e.IDs = append(e.IDs, int32(ids[int64(i)*shape[1]+j]))
				e.TypeIDs = append(e.TypeIDs, int32(types[int64(i)*shape[1]+j]))
			}
			out = append(out, e)
		}
		return out
	}
	bt := &Batch{Q: rows("q"), P: rows("p"), C: rows("c"), B: 2, M: 3}
	return &Task{DE: de, CE: ce, Tok: tinytest.Tokenizer(t), M: 3}, f, bt
}

func perCopy(bt *Batch) *Batch {
	out := *bt
	out.Q = nil
	for _, q := range bt.Q {
		for j := 0; j < bt.M; j++ {
			out.Q = append(out.Q, q)
		}
	}
	return &out
}

func fixtureScalar(t *testing.T, f *safetensors.File, name string) float64 {
	st, ok := f.Get(name)
	require.True(t, ok, name)
	v, err := st.Float32s()
	require.NoError(t, err)
	return float64(v[0])
}

// fixtureName maps a task parameter name to the fixture's (q./p./ce. + the HF name).
func fixtureName(name string) string {
	switch {
	case strings.HasPrefix(name, "de.query."):
		return "q." + strings.TrimPrefix(name, "de.query.")
	case strings.HasPrefix(name, "de.para."):
		return "p." + strings.TrimPrefix(name, "de.para.")
	}
	return name
}

// TestLossVariantsMatchPyTorch: for every loss variant (and query-once, and a v1 head scored z1 − z0) the loss, its
// two terms and the gradient of every parameter of both models equal the plain PyTorch re-statement's, for the
// plain step and for the two-pass chunked step (chunks of 2 rows, which do not divide m = 3).
func TestLossVariantsMatchPyTorch(t *testing.T) {
	cases := []struct {
		name, head string
		v          Variant
		once       bool
	}{
		{"official", "v2", Official, false}, {"seed", "v2", Seed, false}, {"paper", "v2", Paper, false},
		{"static", "v2", Static, false}, {"official_once", "v2", Official, true}, {"official_v1", "v1", Official, false},
	}
	for _, c := range cases {
		for _, cached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cached=%v", c.name, cached), func(t *testing.T) {
				task, f, bt := fixtureTask(t, c.head)
				task.Variant, task.QueryOnce = c.v, c.once
				if cached {
					task.Cached, task.ChunkSize = true, 2
				}
				if !c.once {
					bt = perCopy(bt)
				}
				s := torch.NewScope()
				loss, err := task.StepBatch(s, bt)
				s.Close()
				require.NoError(t, err)
				tinytest.RequireClose(t, []float64{fixtureScalar(t, f, c.name+".loss")}, []float64{loss}, "loss")
				tinytest.RequireClose(t, []float64{fixtureScalar(t, f, c.name+".sup")}, []float64{task.Last.Sup}, "sup")
				tinytest.RequireClose(t, []float64{fixtureScalar(t, f, c.name+".kl")}, []float64{task.Last.KL}, "kl")
				got := tinytest.Grads(t, task.Params())
				n := 0
				for name, g := range got {
					st, ok := f.Get(c.name + ".grad." + fixtureName(name))
					require.True(t, ok, "fixture gradient for %s", name)
					want, err := st.Float32s()
					require.NoError(t, err)
					tinytest.RequireClose(t, tinytest.F64(want), tinytest.F64(g), name)
					n++
				}
				wantN := 0
				for _, k := range f.Tensors {
					if strings.HasPrefix(k.Name, c.name+".grad.") {
						wantN++
					}
				}
				require.Equal(t, wantN, n, "every parameter of the re-statement is compared")
				if c.v == Static {
					for _, p := range task.CE.Params() {
						require.Nil(t, p.Tensor.Grad(), "static: no gradient reaches the cross-encoder (%s)", p.Name)
					}
				}
			})
		}
	}
}

// TestOfficialCEGradientsAreSupervisedOnly: in the official variant the cross-encoder's gradients equal those of
// L_sup alone (the KL's teacher is detached), and the KL term is not zero (so the check can fail).
func TestOfficialCEGradientsAreSupervisedOnly(t *testing.T) {
	task, f, bt := fixtureTask(t, "v2")
	s := torch.NewScope()
	_, err := task.StepBatch(s, perCopy(bt))
	s.Close()
	require.NoError(t, err)
	require.Greater(t, task.Last.KL, 1e-3)
	got := tinytest.Grads(t, task.Params())
	n := 0
	for name, g := range got {
		if !strings.HasPrefix(name, "ce.") {
			continue
		}
		st, ok := f.Get("sup_only.grad." + name)
		require.True(t, ok, name)
		want, err := st.Float32s()
		require.NoError(t, err)
		tinytest.RequireClose(t, tinytest.F64(want), tinytest.F64(g), name)
		n++
	}
	require.Greater(t, n, 10)
	// and the seed variant's do differ from L_sup alone (the detachment is what makes them equal)
	task.Variant = Seed
	s = torch.NewScope()
	_, err = task.StepBatch(s, perCopy(bt))
	s.Close()
	require.NoError(t, err)
	seed := tinytest.Grads(t, task.Params())
	st, _ := f.Get("sup_only.grad.ce.classifier.weight")
	want, _ := st.Float32s()
	require.NotEqual(t, want, seed["ce.classifier.weight"])
}
