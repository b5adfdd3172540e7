package encoder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/rocketqa-go/rocketqa/safetensors"
)

// File names of a HuggingFace-layout model directory.
const (
	ConfigFile          = "config.json"
	SafetensorsFile     = "model.safetensors"
	SafetensorsIndex    = "model.safetensors.index.json"
	PytorchBinFile      = "pytorch_model.bin"
	VocabFile           = "vocab.txt"
	TokenizerConfigFile = "tokenizer_config.json"
)

// ExpectedShapes returns the canonical (HuggingFace BertModel, unprefixed)
// parameter names of an encoder with configuration cfg and their shapes,
// including pooler.dense.* when withPooler is set. cfg is assumed valid.
func ExpectedShapes(cfg *Config, withPooler bool) map[string][]int64 {
	H, I := int64(cfg.HiddenSize), int64(cfg.IntermediateSize)
	m := map[string][]int64{
		"embeddings.word_embeddings.weight":       {int64(cfg.VocabSize), H},
		"embeddings.position_embeddings.weight":   {int64(cfg.MaxPositionEmbeddings), H},
		"embeddings.token_type_embeddings.weight": {int64(cfg.TypeVocabSize), H},
		"embeddings.LayerNorm.weight":             {H},
		"embeddings.LayerNorm.bias":               {H},
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		p := fmt.Sprintf("encoder.layer.%d.", i)
		for _, qkv := range []string{"query", "key", "value"} {
			m[p+"attention.self."+qkv+".weight"] = []int64{H, H}
			m[p+"attention.self."+qkv+".bias"] = []int64{H}
		}
		m[p+"attention.output.dense.weight"] = []int64{H, H}
		m[p+"attention.output.dense.bias"] = []int64{H}
		m[p+"attention.output.LayerNorm.weight"] = []int64{H}
		m[p+"attention.output.LayerNorm.bias"] = []int64{H}
		m[p+"intermediate.dense.weight"] = []int64{I, H}
		m[p+"intermediate.dense.bias"] = []int64{I}
		m[p+"output.dense.weight"] = []int64{H, I}
		m[p+"output.dense.bias"] = []int64{H}
		m[p+"output.LayerNorm.weight"] = []int64{H}
		m[p+"output.LayerNorm.bias"] = []int64{H}
	}
	if withPooler {
		m["pooler.dense.weight"] = []int64{H, H}
		m["pooler.dense.bias"] = []int64{H}
	}
	return m
}

// ReadStateDict reads the weights of the model directory dir with their raw
// (file) names: model.safetensors if present, else the shards listed in
// model.safetensors.index.json, else pytorch_model.bin (zip-format
// torch.save). It returns the tensors and the path of the file it read.
func ReadStateDict(dir string) (map[string]safetensors.Tensor, string, error) {
	p := filepath.Join(dir, SafetensorsFile)
	if _, err := os.Stat(p); err == nil {
		f, err := safetensors.ReadFile(p)
		if err != nil {
			return nil, p, err
		}
		m := make(map[string]safetensors.Tensor, len(f.Tensors))
		for _, t := range f.Tensors {
			m[t.Name] = t
		}
		return m, p, nil
	}
	p = filepath.Join(dir, SafetensorsIndex)
	if _, err := os.Stat(p); err == nil {
		m, err := readSharded(p)
		return m, p, err
	}
	p = filepath.Join(dir, PytorchBinFile)
	if _, err := os.Stat(p); err == nil {
		ts, err := ReadPytorchBin(p)
		if err != nil {
			return nil, p, err
		}
		m := make(map[string]safetensors.Tensor, len(ts))
		for _, t := range ts {
			m[t.Name] = t
		}
		return m, p, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, "", err
	}
	return nil, "", fmt.Errorf("%s: no weights found (looked for %s, %s and %s)", dir, SafetensorsFile, SafetensorsIndex, PytorchBinFile)
}

// readSharded reads the shards named by a model.safetensors.index.json.
func readSharded(index string) (map[string]safetensors.Tensor, error) {
	b, err := os.ReadFile(index)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %v", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: empty weight_map", index)
	}
	shards := map[string]bool{}
	for _, s := range idx.WeightMap {
		if s == "" || filepath.Base(s) != s {
			return nil, fmt.Errorf("%s: invalid shard file name %q", index, s)
		}
		shards[s] = true
	}
	names := make([]string, 0, len(shards))
	for s := range shards {
		names = append(names, s)
	}
	sort.Strings(names)
	m := map[string]safetensors.Tensor{}
	for _, s := range names {
		p := filepath.Join(filepath.Dir(index), s)
		f, err := safetensors.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, t := range f.Tensors {
			if _, dup := m[t.Name]; dup {
				return nil, fmt.Errorf("%s: tensor %q appears in more than one shard", p, t.Name)
			}
			m[t.Name] = t
		}
	}
	for name, s := range idx.WeightMap {
		if _, ok := m[name]; !ok {
			return nil, fmt.Errorf("%s: tensor %q listed for shard %s is missing from it", index, name, s)
		}
	}
	return m, nil
}

// Canonicalize maps a raw state dict to canonical encoder names. It keeps the
// tensors whose names start with prefix (e.g. "" for a whole checkpoint,
// "query." for one tower of a dual encoder) and strips it, then strips a
// leading "bert." or "ernie.", renames the legacy LayerNorm parameters
// (".gamma" -> ".weight", ".beta" -> ".bias" after a segment containing
// "norm"), and drops what an encoder never uses: the buffers
// embeddings.position_ids and embeddings.token_type_ids, the
// pre-training heads cls.*, and ERNIE's task_type_embeddings (Config rejects
// use_task_id, so they are never part of a supported model). Other names
// (heads such as classifier.weight) are kept for the caller. Tensor.Name is
// set to the new name. When two raw names map to the same canonical name,
// the one that needed fewer rewrites wins.
func Canonicalize(raw map[string]safetensors.Tensor, prefix string) map[string]safetensors.Tensor {
	type cand struct {
		t     safetensors.Tensor
		edits int
		raw   string
	}
	best := map[string]cand{}
	for name, t := range raw {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		n := strings.TrimPrefix(name, prefix)
		edits := 0
		for _, p := range []string{"bert.", "ernie."} {
			if strings.HasPrefix(n, p) {
				n = strings.TrimPrefix(n, p)
				edits++
				break
			}
		}
		if i := strings.LastIndexByte(n, '.'); i > 0 {
			seg := n[:i]
			if j := strings.LastIndexByte(seg, '.'); j >= 0 {
				seg = seg[j+1:]
			}
			if strings.Contains(strings.ToLower(seg), "norm") {
				switch n[i+1:] {
				case "gamma":
					n = n[:i] + ".weight"
					edits++
				case "beta":
					n = n[:i] + ".bias"
					edits++
				}
			}
		}
		if n == "" || n == "embeddings.position_ids" || n == "embeddings.token_type_ids" || strings.HasPrefix(n, "cls.") ||
			strings.Contains(n, "task_type_embeddings.") {
			continue
		}
		if c, ok := best[n]; ok && (c.edits < edits || (c.edits == edits && c.raw < name)) {
			continue
		}
		t.Name = n
		best[n] = cand{t, edits, name}
	}
	out := make(map[string]safetensors.Tensor, len(best))
	for n, c := range best {
		out[n] = c.t
	}
	return out
}

// isEncoderName reports whether a canonical name belongs to the encoder
// proper (rather than a task head).
func isEncoderName(n string) bool {
	return strings.HasPrefix(n, "embeddings.") || strings.HasPrefix(n, "encoder.") || strings.HasPrefix(n, "pooler.")
}

func isFloat(dtype string) bool {
	switch dtype {
	case "F32", "F16", "BF16", "F64":
		return true
	}
	return false
}

// CheckShapes compares canonical tensors got with the wanted shapes (from
// ExpectedShapes) and reports, in one error naming file, every missing
// tensor, every tensor with a different shape or a non-float dtype, and every
// unexpected tensor that looks like an encoder weight (embeddings.*,
// encoder.*, pooler.*). Pooler tensors are not unexpected when want has no
// pooler at all (the caller does not use it). Other names (task heads) are
// ignored.
func CheckShapes(file string, got map[string]safetensors.Tensor, want map[string][]int64) error {
	var missing, wrong, unexpected []string
	wantPooler := false
	for n := range want {
		if strings.HasPrefix(n, "pooler.") {
			wantPooler = true
		}
	}
	for n, shape := range want {
		t, ok := got[n]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%s (want %v)", n, shape))
		case !slices.Equal(t.Shape, shape):
			wrong = append(wrong, fmt.Sprintf("%s: want %v, got %v", n, shape, t.Shape))
		case !isFloat(t.DType):
			wrong = append(wrong, fmt.Sprintf("%s: dtype %s, want a float type", n, t.DType))
		}
	}
	for n, t := range got {
		if _, ok := want[n]; ok || !isEncoderName(n) {
			continue
		}
		if strings.HasPrefix(n, "pooler.") && !wantPooler {
			continue
		}
		unexpected = append(unexpected, fmt.Sprintf("%s %v", n, t.Shape))
	}
	if len(missing)+len(wrong)+len(unexpected) == 0 {
		return nil
	}
	sort.Strings(missing)
	sort.Strings(wrong)
	sort.Strings(unexpected)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: weights do not match the config:", file)
	if len(missing) > 0 {
		fmt.Fprintf(&b, "\n  missing (%d): %s", len(missing), strings.Join(missing, ", "))
	}
	if len(wrong) > 0 {
		fmt.Fprintf(&b, "\n  wrong shape or dtype (%d): %s", len(wrong), strings.Join(wrong, "; "))
	}
	if len(unexpected) > 0 {
		fmt.Fprintf(&b, "\n  unexpected (%d): %s", len(unexpected), strings.Join(unexpected, ", "))
	}
	return errors.New(b.String())
}

// savedFiles are the files SaveDir writes.
var savedFiles = map[string]bool{
	ConfigFile: true, SafetensorsFile: true, VocabFile: true, TokenizerConfigFile: true,
}

// staleWeights reports whether name is a weights file that SaveDir's
// model.safetensors supersedes (it is not carried over into the new directory).
func staleWeights(name string) bool {
	switch name {
	case PytorchBinFile, SafetensorsIndex, "pytorch_model.bin.index.json":
		return true
	}
	return (strings.HasPrefix(name, "model-") && strings.HasSuffix(name, ".safetensors")) ||
		(strings.HasPrefix(name, "pytorch_model-") && strings.HasSuffix(name, ".bin"))
}

// SaveDir writes a HuggingFace-layout model directory: config.json,
// model.safetensors (tensors with canonical names; the encoder tensors are
// checked against cfg first), vocab.txt (a copy of vocabPath) and
// tokenizer_config.json (tokenizer_class "BertTokenizer", do_lower_case and
// model_max_length taken from a tokenizer_config.json beside vocabPath when
// there is one, else true and max_position_embeddings). Such a directory
// loads in Python with transformers' BertModel/AutoModel.from_pretrained.
//
// Everything is written into a temporary directory beside dir, synced, and
// renamed to dir, so a crash never leaves a half-written model. When dir
// already exists, the files SaveDir writes are replaced, superseded weight
// files (pytorch_model.bin, sharded weights and their index) are dropped, and
// every other regular file (e.g. a training-state or info file) is carried
// over into the new directory; a dir holding sub-directories is refused.
func SaveDir(dir string, cfg *Config, tensors []safetensors.Tensor, vocabPath string) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	got := make(map[string]safetensors.Tensor, len(tensors))
	withPooler := false
	for _, t := range tensors {
		// a masked-LM checkpoint prefixes the encoder's names with "bert." (SaveMLM)
		n := strings.TrimPrefix(t.Name, MLMPrefix)
		if _, dup := got[n]; dup {
			return fmt.Errorf("%s: duplicate tensor %q", dir, t.Name)
		}
		got[n] = t
		if strings.HasPrefix(n, "pooler.") {
			withPooler = true
		}
	}
	if err := CheckShapes(filepath.Join(dir, SafetensorsFile), got, ExpectedShapes(cfg, withPooler)); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	carry, err := carryOver(dir)
	if err != nil {
		return err
	}
	tokCfg, err := tokenizerConfig(vocabPath, cfg)
	if err != nil {
		return err
	}

	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := cfg.WriteFile(filepath.Join(tmp, ConfigFile)); err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(tmp, SafetensorsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if err := copyFile(vocabPath, filepath.Join(tmp, VocabFile)); err != nil {
		return err
	}
	if err := safetensors.WriteFileAtomic(filepath.Join(tmp, TokenizerConfigFile), tokCfg, 0o644); err != nil {
		return err
	}
	for _, name := range carry {
		src, dst := filepath.Join(dir, name), filepath.Join(tmp, name)
		if err := os.Link(src, dst); err != nil {
			if err := copyFile(src, dst); err != nil {
				return err
			}
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}

	// Swap: move an old dir aside, move the new one in, then delete the old one.
	// (A crash between the two renames leaves both complete copies beside dir,
	// as .<base>.tmp-*.old and .<base>.tmp-*; never a partial model in dir.)
	var old string
	if _, err := os.Lstat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir)
		}
		return err
	}
	done = true
	if err := syncDir(parent); err != nil {
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// carryOver lists the regular files of an existing dir that SaveDir keeps,
// and refuses a dir that is not a directory or holds anything but regular
// files.
func carryOver(dir string) ([]string, error) {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var carry, other []string
	for _, e := range entries {
		switch {
		case !e.Type().IsRegular():
			other = append(other, e.Name())
		case savedFiles[e.Name()] || staleWeights(e.Name()):
		default:
			carry = append(carry, e.Name())
		}
	}
	if len(other) > 0 {
		return nil, fmt.Errorf("%s exists and holds entries that are not regular files (%s); refusing to replace it", dir, strings.Join(other, ", "))
	}
	return carry, nil
}

// tokenizerConfig builds tokenizer_config.json, starting from the one beside
// vocabPath when present.
func tokenizerConfig(vocabPath string, cfg *Config) ([]byte, error) {
	m := map[string]any{}
	src := filepath.Join(filepath.Dir(vocabPath), TokenizerConfigFile)
	if b, err := os.ReadFile(src); err == nil {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %v", src, err)
		}
		if m == nil {
			m = map[string]any{}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if _, ok := m["do_lower_case"]; !ok {
		m["do_lower_case"] = true
	}
	if _, ok := m["model_max_length"]; !ok {
		m["model_max_length"] = cfg.MaxPositionEmbeddings
	}
	m["tokenizer_class"] = "BertTokenizer"
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Vocab is a vocabulary file and the tokenizer_config.json beside it (when there is one), read into memory when a
// run starts, so that every model the run saves carries the vocabulary it was trained with, even when the file is
// changed, moved or deleted meanwhile (the init directory of a long run, say).
type Vocab struct {
	Path   string // the file it was read from
	text   []byte
	tokCfg []byte // nil: none beside it
}

// Bytes returns the vocabulary file's contents as read (not a copy: do not modify).
func (v *Vocab) Bytes() []byte { return v.text }

// ReadVocab reads a vocab.txt (and the tokenizer_config.json in its directory, if any).
func ReadVocab(path string) (*Vocab, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := &Vocab{Path: path, text: text}
	cfg, err := os.ReadFile(filepath.Join(filepath.Dir(path), TokenizerConfigFile))
	switch {
	case err == nil:
		v.tokCfg = cfg
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return v, nil
}

// With writes the vocabulary into a new temporary directory beside dir (where a model is being saved), calls save
// with the path of its vocab.txt (the vocabPath of SaveDir, SaveDual, SaveCross, SaveMLM) and removes the
// directory again. A nil Vocab calls save with fallback (a vocab.txt path read as it is then).
func (v *Vocab) With(dir, fallback string, save func(vocabPath string) error) error {
	if v == nil {
		return save(fallback)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".vocab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, VocabFile)
	if err := os.WriteFile(path, v.text, 0o644); err != nil {
		return err
	}
	if v.tokCfg != nil {
		if err := os.WriteFile(filepath.Join(tmp, TokenizerConfigFile), v.tokCfg, 0o644); err != nil {
			return err
		}
	}
	return save(path)
}
