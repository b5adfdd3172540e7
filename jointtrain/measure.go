package jointtrain

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rocketqa-go/rocketqa/dataset"
	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/tokenizer"
	"github.com/rocketqa-go/rocketqa/torch"
)

// Measured is what MeasureStep saw.
type Measured struct {
	// PeakGrowth is the process's peak resident memory (VmHWM) after the step minus its resident memory before
	// the models were built: weights, gradients and the step's activations (no optimizer state).
	PeakGrowth int64
	Loss       float64
	StepTime   time.Duration
}

// procStatus reads a "VmXXX: N kB" field of /proc/self/status.
func procStatus(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) < 2 {
				break
			}
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("jointtrain: /proc/self/status has no %s", field)
}

// MeasureStep builds random models of c's size on the CPU, lists whose every sequence fills its maximum length,
// and runs one joint step (forward and backward, no optimizer), reporting the growth of the peak resident
// memory. Run it in a fresh process (one call per process): memory freed by an earlier step stays resident in the
// allocator's heap and a second call measures nothing useful. dir is scratch space for a vocabulary file.
func MeasureStep(c MemConfig, dir string) (Measured, error) {
	if c.ActivationBytes != 0 && c.ActivationBytes != 4 {
		return Measured{}, fmt.Errorf("jointtrain: MeasureStep runs float32 on the CPU")
	}
	vocab := filepath.Join(dir, "vocab.txt")
	var sb strings.Builder
	sb.WriteString("[PAD]\n[CLS]\n[SEP]\n[MASK]\n[UNK]\n")
	for i := 5; i < c.Vocab; i++ {
		fmt.Fprintf(&sb, "w%d\n", i)
	}
	if err := os.WriteFile(vocab, []byte(sb.String()), 0o644); err != nil {
		return Measured{}, err
	}
	tok, err := tokenizer.New(vocab, tokenizer.DefaultOptions())
	if err != nil {
		return Measured{}, err
	}
	r := rand.New(rand.NewPCG(1, 2))
	text := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = "w" + strconv.Itoa(5+r.IntN(c.Vocab-5))
		}
		return strings.Join(w, " ")
	}
	lists := make([]dataset.JointList, c.B)
	long := max(c.QLen, c.PLen, c.CELen) + 8
	for i := range lists {
		q := text(c.QLen + 4)
		lists[i].Query = q
		for j := 0; j < c.M; j++ {
			lists[i].Items = append(lists[i].Items, dataset.CrossExample{Query: q, Title: text(4), Para: text(long), Label: btoi(j == 0)})
		}
	}
	// one OS thread: glibc gives each thread its own heap arena, and memory freed in one is not reused by another
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base, err := procStatus("VmRSS")
	if err != nil {
		return Measured{}, err
	}
	cfg := &encoder.Config{ModelType: "bert", VocabSize: c.Vocab, HiddenSize: c.Hidden, NumHiddenLayers: c.Layers,
		NumAttentionHeads: c.Heads, IntermediateSize: c.Intermediate, HiddenAct: "gelu", HiddenDropoutProb: 0.1,
		AttentionDropoutProb: 0.1, MaxPositionEmbeddings: max(c.Positions, long), TypeVocabSize: max(c.TypeVocab, 2),
		InitializerRange: 0.02, LayerNormEps: 1e-12}
	mk := func(pooler bool) (*encoder.BERT, error) { cc := *cfg; return encoder.NewBERT(&cc, pooler) }
	q, err := mk(false)
	if err != nil {
		return Measured{}, err
	}
	p, err := mk(false)
	if err != nil {
		return Measured{}, err
	}
	de := encoder.NewDualEncoder(q, p)
	defer de.Close()
	ce, err := func() (*encoder.CrossEncoder, error) {
		e, err := mk(c.V1Head)
		if err != nil {
			return nil, err
		}
		v := encoder.HeadV2
		if c.V1Head {
			v = encoder.HeadV1
		}
		return encoder.NewCrossEncoder(e, v)
	}()
	if err != nil {
		return Measured{}, err
	}
	defer ce.Close()
	variant := Official
	if c.FrozenCE {
		variant = Static
	}
	task := &Task{DE: de, CE: ce, Tok: tok, Lists: lists, M: c.M, Variant: variant, QueryOnce: c.QueryOnce,
		ChunkSize: c.ChunkSize, Cached: c.Cached,
		DEInfo: encoder.ModelInfo{QMaxSeqLen: c.QLen, PMaxSeqLen: c.PLen}, CEInfo: encoder.ModelInfo{MaxSeqLen: c.CELen}}
	idx := make([]int, c.B)
	for i := range idx {
		idx[i] = i
	}
	start := time.Now()
	s := torch.NewScope()
	loss, err := task.Step(s, idx)
	s.Close()
	if err != nil {
		return Measured{}, err
	}
	el := time.Since(start)
	peak, err := procStatus("VmHWM")
	if err != nil {
		return Measured{}, err
	}
	return Measured{PeakGrowth: peak - base, Loss: loss, StepTime: el}, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
