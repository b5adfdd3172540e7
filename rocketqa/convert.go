package rocketqa

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rocketqa-go/rocketqa/encoder"
	"github.com/rocketqa-go/rocketqa/internal/dirlock"
	"github.com/rocketqa-go/rocketqa/paddle"
	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/tokenizer"
)

// SourceFile is written into a converted model directory: where it came from and a fingerprint of the source
// files, so that Load reuses a conversion cache only while the official folder is unchanged.
const SourceFile = "paddle_source.json"

// converterVersion changes when the conversion output changes; older caches are then rebuilt.
const converterVersion = 1

// ConvertOptions configure ConvertPaddle. The zero value converts a released model with its own settings.
type ConvertOptions struct {
	// Sequence lengths and for_cn for a folder without a RocketQA config (an ERNIE or "twin init" starting
	// point); they override the config's values when set. Defaults there: q 32, p 384 and max 384 (capped at
	// max_position_embeddings), for_cn guessed from the vocabulary (mostly CJK characters).
	QMaxSeqLen, PMaxSeqLen, MaxSeqLen int
	ForCN                             *bool
}

// ConvertReport says what ConvertPaddle did.
type ConvertReport struct {
	Source      string   `json:"source"`      // the official folder (absolute)
	Checkpoint  string   `json:"checkpoint"`  // the checkpoint directory read
	ModelType   string   `json:"model_type"`  // dual_encoder, cross_encoder, or encoder (a plain ERNIE)
	Layout      string   `json:"layout"`      // the variable layout found
	Mapped      int      `json:"mapped"`      // checkpoint variables converted
	Unused      []string `json:"unused"`      // checkpoint variables (files) not part of the model
	Notes       []string `json:"notes"`       // conversions worth knowing (folded task embedding, guessed for_cn, ...)
	Info        any      `json:"rocketqa"`    // the rocketqa.json written (nil for a plain encoder)
	Fingerprint string   `json:"fingerprint"` // of the source files
	Version     int      `json:"converter_version"`
}

// officialConfig is the official package's model config.json (rocketqa/encoder/dual_encoder.py and
// cross_encoder.py, _parse_args).
type officialConfig struct {
	ModelType      string  `json:"model_type"`
	QMaxSeqLen     *int    `json:"q_max_seq_len"`
	PMaxSeqLen     *int    `json:"p_max_seq_len"`
	MaxSeqLen      *int    `json:"max_seq_len"`
	ConfPath       string  `json:"model_conf_path"`
	VocabPath      string  `json:"model_vocab_path"`
	CheckpointPath string  `json:"model_checkpoint_path"`
	ForCN          *bool   `json:"for_cn"`
	ShareParameter flexInt `json:"share_parameter"`
	JointTraining  flexInt `json:"joint_training"`
}

// flexInt reads 0/1 or false/true (the official code tests share_parameter == 0 and joint_training == 1).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	switch s := strings.TrimSpace(string(b)); s {
	case "true":
		*f = 1
	case "false", "null":
		*f = 0
	default:
		var n int
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want 0, 1, true or false, got %s", s)
		}
		*f = flexInt(n)
	}
	return nil
}

// source is a resolved official folder.
type source struct {
	dir        string // folder the config's relative paths start from
	rqConfig   string // the RocketQA config.json ("" for an ERNIE / twin-init folder)
	rc         officialConfig
	ernieConf  string
	vocab      string
	checkpoint string
}

// IsPaddleFolder reports whether path is an official RocketQA release folder (config.json naming a
// model_checkpoint_path), the path of such a config file, or an ERNIE starting point (ernie_config.json, vocab.txt
// and params/), and not a directory written by this library.
func IsPaddleFolder(path string) bool {
	_, err := findSource(path)
	return err == nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// errNotPaddle marks a path that is not an official folder at all (as opposed to a broken one).
var errNotPaddle = errors.New("not a PaddlePaddle model")

func findSource(path string) (*source, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rocketqa: %w: %w", errNotPaddle, err)
	}
	var conf string
	switch {
	case st.Mode().IsRegular():
		conf = path
	case fileExists(filepath.Join(path, encoder.InfoFile)):
		return nil, fmt.Errorf("rocketqa: %s holds %s: it is already a converted model directory (%w)", path, encoder.InfoFile, errNotPaddle)
	case fileExists(filepath.Join(path, "config.json")):
		conf = filepath.Join(path, "config.json")
	}
	if conf != "" {
		b, err := os.ReadFile(conf)
		if err != nil {
			return nil, fmt.Errorf("rocketqa: %w", err)
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(b, &probe); err != nil {
			return nil, fmt.Errorf("rocketqa: %s: %v (%w)", conf, err, errNotPaddle)
		}
		if _, ok := probe["model_checkpoint_path"]; ok {
			s := &source{dir: filepath.Dir(conf), rqConfig: conf}
			if err := json.Unmarshal(b, &s.rc); err != nil {
				return nil, fmt.Errorf("rocketqa: %s: %v", conf, err)
			}
			var missing []string
			for _, f := range []struct{ k, v string }{{"model_conf_path", s.rc.ConfPath}, {"model_vocab_path", s.rc.VocabPath}, {"model_checkpoint_path", s.rc.CheckpointPath}} {
				if f.v == "" {
					missing = append(missing, f.k)
				}
			}
			if len(missing) > 0 {
				return nil, fmt.Errorf("rocketqa: %s: missing or empty %s", conf, strings.Join(missing, ", "))
			}
			rel := func(p string) string {
				if filepath.IsAbs(p) {
					return p
				}
				return filepath.Join(s.dir, p)
			}
			s.ernieConf, s.vocab, s.checkpoint = rel(s.rc.ConfPath), rel(s.rc.VocabPath), rel(s.rc.CheckpointPath)
			return s, nil
		}
		if st.Mode().IsRegular() {
			return nil, fmt.Errorf("rocketqa: %s is not an official RocketQA config (no model_checkpoint_path; %w)", conf, errNotPaddle)
		}
	}
	// an ERNIE / twin-init folder (ernie_base_1.0_twin_CN: ernie_config.json, vocab.txt, params/)
	for _, ec := range []string{"ernie_config.json", "ernie_config"} {
		if fileExists(filepath.Join(path, ec)) && fileExists(filepath.Join(path, "vocab.txt")) && dirExists(filepath.Join(path, "params")) {
			return &source{dir: path, ernieConf: filepath.Join(path, ec), vocab: filepath.Join(path, "vocab.txt"), checkpoint: filepath.Join(path, "params")}, nil
		}
	}
	return nil, fmt.Errorf("rocketqa: %s is not an official Paddle model folder (want config.json with model_checkpoint_path, or ernie_config.json + vocab.txt + params/): %w", path, errNotPaddle)
}

// ernieConfig is the ERNIE config JSON the official ErnieModel reads (rocketqa/model/ernie.py).
type ernieConfig struct {
	HiddenSize        int      `json:"hidden_size"`
	NumHiddenLayers   int      `json:"num_hidden_layers"`
	NumAttentionHeads int      `json:"num_attention_heads"`
	VocabSize         int      `json:"vocab_size"`
	MaxPositions      int      `json:"max_position_embeddings"`
	SentTypes         int      `json:"sent_type_vocab_size"`
	TypeVocab         int      `json:"type_vocab_size"`
	UseTaskID         bool     `json:"use_task_id"`
	TaskTypes         int      `json:"task_type_vocab_size"`
	HiddenAct         string   `json:"hidden_act"`
	HiddenDropout     *float64 `json:"hidden_dropout_prob"`
	AttentionDropout  *float64 `json:"attention_probs_dropout_prob"`
	InitializerRange  *float64 `json:"initializer_range"`
	IntermediateSize  int      `json:"intermediate_size"`
}

// hfConfig turns the ERNIE config into this library's (HuggingFace BERT) config: relu or gelu as configured,
// layer_norm_eps 1e-5 (fluid.layers.layer_norm's default, which ERNIE's transformer_encoder uses),
// intermediate_size 4*hidden (ErnieModel passes d_inner_hid = emb_size * 4 and ignores the field),
// type_vocab_size from sent_type_vocab_size or type_vocab_size, pad id 0.
func (e ernieConfig) hfConfig(file string) (*encoder.Config, []string, error) {
	types := e.SentTypes
	if types == 0 {
		types = e.TypeVocab
	}
	var notes []string
	if e.IntermediateSize != 0 && e.IntermediateSize != 4*e.HiddenSize {
		notes = append(notes, fmt.Sprintf("%s: intermediate_size %d ignored; the official ErnieModel uses 4*hidden_size = %d", filepath.Base(file), e.IntermediateSize, 4*e.HiddenSize))
	}
	f := func(p *float64, d float64) float64 {
		if p == nil {
			return d
		}
		return *p
	}
	c := &encoder.Config{
		ModelType: "bert", VocabSize: e.VocabSize, HiddenSize: e.HiddenSize, NumHiddenLayers: e.NumHiddenLayers,
		NumAttentionHeads: e.NumAttentionHeads, IntermediateSize: 4 * e.HiddenSize, HiddenAct: e.HiddenAct,
		HiddenDropoutProb: f(e.HiddenDropout, 0.1), AttentionDropoutProb: f(e.AttentionDropout, 0.1),
		MaxPositionEmbeddings: e.MaxPositions, TypeVocabSize: types, LayerNormEps: 1e-5, PadTokenID: 0,
		InitializerRange: f(e.InitializerRange, 0.02),
	}
	if c.HiddenAct == "" {
		c.HiddenAct = "relu"
		notes = append(notes, filepath.Base(file)+": no hidden_act; relu (ERNIE 1.0)")
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("rocketqa: %s: %w", file, err)
	}
	if e.UseTaskID && e.TaskTypes <= 0 {
		return nil, nil, fmt.Errorf("rocketqa: %s: use_task_id without a positive task_type_vocab_size", file)
	}
	return c, notes, nil
}

// tower describes where one encoder's variables live.
type tower struct {
	prefix string // query_, titlepara_, qtp_ or ""
	pooler bool   // pooled_fc (v1 cross-encoder, plain ERNIE)
}

// towerNames maps Paddle variable names (prefix included) to canonical HuggingFace names and their Paddle
// shapes. Names: rocketqa/model/ernie.py (embeddings, pre_encoder layer norm, pooled_fc) and ERNIE's
// transformer_encoder.py (encoder_layer_{i}_multi_head_att_{query,key,value,output}_fc, _ffn_fc_{0,1},
// _post_att / _post_ffn layer norms); see docs/checkpoints.md.
func towerNames(tw tower, c *encoder.Config) (map[string]string, map[string][]int64) {
	H, I := int64(c.HiddenSize), int64(4*c.HiddenSize)
	m := map[string]string{}
	shape := map[string][]int64{}
	add := func(p, hf string, s ...int64) {
		m[tw.prefix+p] = hf
		shape[tw.prefix+p] = s
	}
	add("word_embedding", "embeddings.word_embeddings.weight", int64(c.VocabSize), H)
	add("pos_embedding", "embeddings.position_embeddings.weight", int64(c.MaxPositionEmbeddings), H)
	add("sent_embedding", "embeddings.token_type_embeddings.weight", int64(c.TypeVocabSize), H)
	add("pre_encoder_layer_norm_scale", "embeddings.LayerNorm.weight", H)
	add("pre_encoder_layer_norm_bias", "embeddings.LayerNorm.bias", H)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("encoder_layer_%d_", i)
		h := fmt.Sprintf("encoder.layer.%d.", i)
		for _, qkv := range []string{"query", "key", "value"} {
			add(p+"multi_head_att_"+qkv+"_fc.w_0", h+"attention.self."+qkv+".weight", H, H)
			add(p+"multi_head_att_"+qkv+"_fc.b_0", h+"attention.self."+qkv+".bias", H)
		}
		add(p+"multi_head_att_output_fc.w_0", h+"attention.output.dense.weight", H, H)
		add(p+"multi_head_att_output_fc.b_0", h+"attention.output.dense.bias", H)
		add(p+"post_att_layer_norm_scale", h+"attention.output.LayerNorm.weight", H)
		add(p+"post_att_layer_norm_bias", h+"attention.output.LayerNorm.bias", H)
		add(p+"ffn_fc_0.w_0", h+"intermediate.dense.weight", H, I)
		add(p+"ffn_fc_0.b_0", h+"intermediate.dense.bias", I)
		add(p+"ffn_fc_1.w_0", h+"output.dense.weight", I, H)
		add(p+"ffn_fc_1.b_0", h+"output.dense.bias", H)
		add(p+"post_ffn_layer_norm_scale", h+"output.LayerNorm.weight", H)
		add(p+"post_ffn_layer_norm_bias", h+"output.LayerNorm.bias", H)
	}
	if tw.pooler {
		// pooled_fc carries no tower prefix in ernie.py
		m["pooled_fc.w_0"], shape["pooled_fc.w_0"] = "pooler.dense.weight", []int64{H, H}
		m["pooled_fc.b_0"], shape["pooled_fc.b_0"] = "pooler.dense.bias", []int64{H}
	}
	return m, shape
}

// ckpt reads the variables of a checkpoint directory on demand.
type ckpt struct {
	dir   string
	files map[string]bool
	used  map[string]bool
}

func openCkpt(dir string) (*ckpt, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("rocketqa: checkpoint: %w", err)
	}
	c := &ckpt{dir: dir, files: map[string]bool{}, used: map[string]bool{}}
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			c.files[e.Name()] = true
		}
	}
	if len(c.files) == 0 {
		return nil, fmt.Errorf("rocketqa: checkpoint directory %s holds no variable files", dir)
	}
	return c, nil
}

func (c *ckpt) has(name string) bool { return c.files[name] }

// read returns a variable as float32 in its Paddle shape, checking the shape.
func (c *ckpt) read(name string, want []int64, why string) ([]float32, error) {
	p := filepath.Join(c.dir, name)
	t, err := paddle.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(t.Dims, want) {
		return nil, fmt.Errorf("rocketqa: %s: dims %v, but %s wants %v", p, t.Dims, why, want)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("rocketqa: %s: %w", p, err)
	}
	c.used[name] = true
	return v, nil
}

func (c *ckpt) unused() []string {
	var out []string
	for n := range c.files {
		if !c.used[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// transpose turns a row-major [r, k] matrix into [k, r].
func transpose(v []float32, r, k int) []float32 {
	out := make([]float32, len(v))
	for i := 0; i < r; i++ {
		for j := 0; j < k; j++ {
			out[j*r+i] = v[i*k+j]
		}
	}
	return out
}

// towerVars lists the variables a tower reads (sorted) and the name of its task embedding ("" when unused).
func towerVars(tw tower, c *encoder.Config, ec ernieConfig) ([]string, string) {
	names, _ := towerNames(tw, c)
	var need []string
	for n := range names {
		need = append(need, n)
	}
	var task string
	if ec.UseTaskID {
		task = tw.prefix + "task_embedding"
		need = append(need, task)
	}
	sort.Strings(need)
	return need, task
}

// checkMissing reports every variable of a tower that the checkpoint lacks, in one error.
func checkMissing(ck *ckpt, tw tower, c *encoder.Config, ec ernieConfig) error {
	need, _ := towerVars(tw, c, ec)
	var missing []string
	for _, n := range need {
		if !ck.has(n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("rocketqa: checkpoint %s lacks %d variable(s) the model needs: %s", ck.dir, len(missing), strings.Join(missing, ", "))
	}
	return nil
}

// readTower converts one tower. Paddle fc weights ([in, out], x @ W) are transposed to torch's [out, in]. When the
// ERNIE config sets use_task_id, the task embedding row of task id 0 (the official readers feed task_id 0 to every
// token) is added to every position embedding row: the sum the model computes is unchanged.
func readTower(ck *ckpt, tw tower, c *encoder.Config, ec ernieConfig, confFile string) ([]safetensors.Tensor, []string, error) {
	if err := checkMissing(ck, tw, c, ec); err != nil {
		return nil, nil, err
	}
	names, shapes := towerNames(tw, c)
	need, task := towerVars(tw, c, ec)
	why := "the ERNIE config " + filepath.Base(confFile)
	var out []safetensors.Tensor
	var notes []string
	var taskRow []float32
	if task != "" {
		v, err := ck.read(task, []int64{int64(ec.TaskTypes), int64(c.HiddenSize)}, why)
		if err != nil {
			return nil, nil, err
		}
		taskRow = v[:c.HiddenSize]
		notes = append(notes, fmt.Sprintf("%s row 0 (task_id 0, the official default) folded into the position embeddings", task))
	}
	for _, n := range need {
		if n == task {
			continue
		}
		s := shapes[n]
		v, err := ck.read(n, s, why)
		if err != nil {
			return nil, nil, err
		}
		hf := names[n]
		shape := s
		if len(s) == 2 && strings.HasSuffix(n, ".w_0") {
			v = transpose(v, int(s[0]), int(s[1]))
			shape = []int64{s[1], s[0]}
		}
		if taskRow != nil && hf == "embeddings.position_embeddings.weight" {
			H := c.HiddenSize
			for i := range v {
				v[i] += taskRow[i%H]
			}
		}
		out = append(out, safetensors.F32(hf, shape, v))
	}
	return out, notes, nil
}

// readVocab validates the vocabulary (token\tid lines, as the Chinese ERNIE ships, or one token per line) and
// writes it as a plain vocab.txt in id order (what HuggingFace BertTokenizer and this library read) to a temporary
// file in a new temporary directory; the caller removes that directory.
func readVocab(path string, c *encoder.Config, tmpDir string) (string, *tokenizer.Tokenizer, error) {
	tok, err := tokenizer.New(path, tokenizer.DefaultOptions())
	if err != nil {
		return "", nil, err
	}
	if tok.VocabSize() > c.VocabSize {
		return "", nil, fmt.Errorf("rocketqa: %s: %d tokens, but the model's word embedding has %d rows", path, tok.VocabSize(), c.VocabSize)
	}
	if tok.PAD() != int32(c.PadTokenID) {
		return "", nil, fmt.Errorf("rocketqa: %s: [PAD] has id %d; ERNIE pads with id 0", path, tok.PAD())
	}
	var b strings.Builder
	for i := 0; i < tok.VocabSize(); i++ {
		b.WriteString(tok.Token(int32(i)))
		b.WriteByte('\n')
	}
	d, err := os.MkdirTemp(tmpDir, ".vocab-")
	if err != nil {
		return "", nil, err
	}
	p := filepath.Join(d, encoder.VocabFile)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		os.RemoveAll(d)
		return "", nil, err
	}
	return p, tok, nil
}

// looksChinese reports whether most of a vocabulary's non-special tokens are single CJK characters.
func looksChinese(tok *tokenizer.Tokenizer) bool {
	cjk := 0
	for i := 0; i < tok.VocabSize(); i++ {
		s := tok.Token(int32(i))
		if r, n := utf8.DecodeRuneInString(s); n == len(s) && unicode.Is(unicode.Han, r) {
			cjk++
		}
	}
	return cjk*2 > tok.VocabSize()-5 || cjk >= 3000
}

// fingerprint hashes the names, sizes and modification times of the files a conversion reads.
func (s *source) fingerprint() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "v%d\n", converterVersion)
	files := []string{s.rqConfig, s.ernieConf, s.vocab}
	ents, err := os.ReadDir(s.checkpoint)
	if err != nil {
		return "", fmt.Errorf("rocketqa: checkpoint: %w", err)
	}
	for _, e := range ents {
		files = append(files, filepath.Join(s.checkpoint, e.Name()))
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("rocketqa: %w", err)
		}
		fmt.Fprintf(h, "%s\t%d\t%d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ConvertPaddle converts an official RocketQA release folder (or its config.json, or an ERNIE / twin-init folder)
// into a model directory of this library at out: rocketqa.json plus HuggingFace-layout towers (query_encoder/
// and para_encoder/ for a dual encoder, one directory for a cross-encoder), or a plain HuggingFace BERT directory
// for an ERNIE checkpoint without towers. Every checkpoint variable is mapped or listed in the report as unused;
// a variable the model needs that is missing, or has dims other than the ERNIE config implies, is an error. out is
// built beside itself and renamed into place; an existing out is replaced only when it is an earlier conversion
// (it holds paddle_source.json) or empty.
func ConvertPaddle(src, out string, o ConvertOptions) (*ConvertReport, error) {
	s, err := findSource(src)
	if err != nil {
		return nil, err
	}
	absSrc, _ := filepath.Abs(src)
	absOut, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	if absOut == absSrc || absOut == s.dir || strings.HasPrefix(s.checkpoint+string(filepath.Separator), absOut+string(filepath.Separator)) {
		return nil, fmt.Errorf("rocketqa: --out %s would overwrite the source %s", out, src)
	}
	for _, f := range []struct{ what, path string }{{"ERNIE config (model_conf_path)", s.ernieConf}, {"vocabulary (model_vocab_path)", s.vocab}} {
		if st, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("rocketqa: %s: %w", f.what, err)
		} else if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("rocketqa: %s %s: not a regular file", f.what, f.path)
		}
	}
	if !dirExists(s.checkpoint) {
		return nil, fmt.Errorf("rocketqa: checkpoint (model_checkpoint_path) %s: not a directory", s.checkpoint)
	}
	rep := &ConvertReport{Source: absSrc, Checkpoint: s.checkpoint, Version: converterVersion}
	if rep.Fingerprint, err = s.fingerprint(); err != nil {
		return nil, err
	}

	b, err := os.ReadFile(s.ernieConf)
	if err != nil {
		return nil, fmt.Errorf("rocketqa: ERNIE config: %w", err)
	}
	var ec ernieConfig
	if err := json.Unmarshal(b, &ec); err != nil {
		return nil, fmt.Errorf("rocketqa: %s: %v", s.ernieConf, err)
	}
	cfg, notes, err := ec.hfConfig(s.ernieConf)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, notes...)
	ck, err := openCkpt(s.checkpoint)
	if err != nil {
		return nil, err
	}

	// the layout: the config's model_type and flags, else what the variable names show
	mt := s.rc.ModelType
	hasQuery, hasTP, hasQTP := ck.has("query_word_embedding"), ck.has("titlepara_word_embedding"), ck.has("qtp_word_embedding")
	if mt == "" {
		switch {
		case hasQuery || hasTP:
			mt = "dual_encoder"
		case hasQTP || ck.has("_cls_out_w"):
			mt = "cross_encoder"
		default:
			mt = "encoder"
		}
		if s.rqConfig != "" && mt != "encoder" {
			rep.Notes = append(rep.Notes, "no model_type in "+filepath.Base(s.rqConfig)+"; "+mt+" from the variable names")
		}
	}
	if s.rqConfig != "" && mt != "dual_encoder" && mt != "cross_encoder" {
		return nil, fmt.Errorf("rocketqa: %s: model_type %q (want dual_encoder or cross_encoder)", s.rqConfig, s.rc.ModelType)
	}
	rep.ModelType = mt

	intOr := func(opt int, p *int, d int) int {
		if opt > 0 {
			return opt
		}
		if p != nil {
			return *p
		}
		return min(d, cfg.MaxPositionEmbeddings)
	}
	info := encoder.ModelInfo{ModelType: mt, DoLowerCase: true}
	tmpParent := filepath.Dir(absOut)
	if err := os.MkdirAll(tmpParent, 0o755); err != nil {
		return nil, err
	}
	vocab, tok, err := readVocab(s.vocab, cfg, tmpParent)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(filepath.Dir(vocab))
	switch {
	case o.ForCN != nil:
		info.ForCN = *o.ForCN
	case s.rc.ForCN != nil:
		info.ForCN = *s.rc.ForCN
	case s.rqConfig == "":
		info.ForCN = looksChinese(tok)
		rep.Notes = append(rep.Notes, fmt.Sprintf("for_cn %v guessed from the vocabulary (set it with --for-cn)", info.ForCN))
	default:
		info.ForCN = false // the official parser's default
	}
	if s.rqConfig == "" && s.rc.QMaxSeqLen == nil && o.QMaxSeqLen == 0 {
		rep.Notes = append(rep.Notes, "no RocketQA config: default lengths (set them with the options)")
	}

	// Each job reads one output directory's tensors; they run one at a time after the output is locked, so that
	// only one tower is in memory. Everything that needs no tensor data is checked first.
	type job struct {
		sub  string
		read func() ([]safetensors.Tensor, []string, error)
	}
	var jobs []job
	towerJob := func(sub string, tw tower) (job, error) {
		if err := checkMissing(ck, tw, cfg, ec); err != nil {
			return job{}, err
		}
		return job{sub, func() ([]safetensors.Tensor, []string, error) { return readTower(ck, tw, cfg, ec, s.ernieConf) }}, nil
	}
	switch mt {
	case "dual_encoder":
		info.QMaxSeqLen = intOr(o.QMaxSeqLen, s.rc.QMaxSeqLen, 32)
		info.PMaxSeqLen = intOr(o.PMaxSeqLen, s.rc.PMaxSeqLen, 384)
		share := s.rc.ShareParameter != 0
		if s.rqConfig == "" {
			share = !hasQuery && hasTP
		}
		if !hasTP {
			return nil, fmt.Errorf("rocketqa: checkpoint %s has no titlepara_ variables (titlepara_word_embedding); not a RocketQA dual encoder", s.checkpoint)
		}
		info.ShareParameter = share
		qpre := "query_"
		if share {
			qpre = "titlepara_" // dual_encoder_predict.py: share_parameter builds the query tower as titlepara_
			rep.Layout = "dual encoder, shared towers (titlepara_)"
		} else {
			rep.Layout = "dual encoder (query_ + titlepara_)"
		}
		j, err := towerJob(encoder.QueryDir, tower{prefix: qpre})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
		if !share {
			j, err := towerJob(encoder.ParaDir, tower{prefix: "titlepara_"})
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, j)
		}
	case "cross_encoder":
		info.MaxSeqLen = intOr(o.MaxSeqLen, s.rc.MaxSeqLen, 384)
		v2 := s.rc.JointTraining == 1
		if s.rqConfig == "" || (s.rc.JointTraining == 0 && hasQTP && !ck.has("_cls_out_w")) {
			v2 = hasQTP
		}
		info.JointTraining = v2
		pre, head, n := "", "_cls_out", int64(2)
		rep.Layout = "v1 cross-encoder (pooled_fc + _cls_out_w/b)"
		if v2 {
			pre, head, n = "qtp_", "qtp__cls_out", 1
			rep.Layout = "v2 cross-encoder (qtp_, raw [CLS] + qtp__cls_out_w/b)"
		}
		tw := tower{prefix: pre, pooler: !v2}
		if err := checkMissing(ck, tw, cfg, ec); err != nil {
			return nil, err
		}
		var miss []string
		for _, v := range []string{head + "_w", head + "_b"} {
			if !ck.has(v) {
				miss = append(miss, v)
			}
		}
		if len(miss) > 0 {
			return nil, fmt.Errorf("rocketqa: checkpoint %s lacks the cross-encoder head: %s", s.checkpoint, strings.Join(miss, ", "))
		}
		jobs = append(jobs, job{"", func() ([]safetensors.Tensor, []string, error) {
			ts, notes, err := readTower(ck, tw, cfg, ec, s.ernieConf)
			if err != nil {
				return nil, nil, err
			}
			H := int64(cfg.HiddenSize)
			why := "the cross-encoder head (cross_encoder_predict.py)"
			w, err := ck.read(head+"_w", []int64{H, n}, why)
			if err != nil {
				return nil, nil, err
			}
			bb, err := ck.read(head+"_b", []int64{n}, why)
			if err != nil {
				return nil, nil, err
			}
			ts = append(ts, safetensors.F32("classifier.weight", []int64{n, H}, transpose(w, int(H), int(n))), safetensors.F32("classifier.bias", []int64{n}, bb))
			return ts, notes, nil
		}})
	default: // a plain ERNIE checkpoint (ernie_base_1.0_CN): one HuggingFace BERT directory
		rep.Layout = "ERNIE encoder (no tower prefix)"
		j, err := towerJob("", tower{pooler: ck.has("pooled_fc.w_0")})
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	for _, l := range []int{info.QMaxSeqLen, info.PMaxSeqLen, info.MaxSeqLen} {
		if l > cfg.MaxPositionEmbeddings {
			return nil, fmt.Errorf("rocketqa: sequence length %d exceeds max_position_embeddings %d of %s", l, cfg.MaxPositionEmbeddings, s.ernieConf)
		}
	}
	if mt != "encoder" {
		rep.Info = info
	}

	// build beside out, then swap it in
	created := !dirExists(absOut)
	lock, err := dirlock.Acquire(absOut, "convert")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	success := false
	defer func() {
		if created && !success {
			os.Remove(filepath.Join(absOut, dirlock.FileName))
			os.Remove(absOut) // only if empty
		}
	}()
	if err := replaceable(absOut); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(tmpParent, "."+filepath.Base(absOut)+".convert-")
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	for _, j := range jobs {
		ts, notes, err := j.read()
		if err != nil {
			return nil, err
		}
		rep.Notes = append(rep.Notes, notes...)
		if err := encoder.SaveDir(filepath.Join(tmp, j.sub), cfg, ts, vocab); err != nil {
			return nil, err
		}
	}
	rep.Mapped = len(ck.used)
	rep.Unused = ck.unused()
	if rep.Unused == nil {
		rep.Unused = []string{}
	}
	if mt != "encoder" {
		ib, _ := json.MarshalIndent(info, "", "  ")
		if err := safetensors.WriteFileAtomic(filepath.Join(tmp, encoder.InfoFile), append(ib, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	rb, _ := json.MarshalIndent(rep, "", "  ")
	if err := safetensors.WriteFileAtomic(filepath.Join(tmp, SourceFile), append(rb, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	old := tmp + ".old"
	if err := os.Rename(absOut, old); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, absOut); err != nil {
		os.Rename(old, absOut)
		return nil, err
	}
	done, success = true, true
	os.RemoveAll(old)
	return rep, nil
}

// replaceable refuses to replace a directory that holds anything but the lock file unless it is an earlier
// conversion.
func replaceable(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if fileExists(filepath.Join(dir, SourceFile)) {
		return nil
	}
	for _, e := range ents {
		if e.Name() != dirlock.FileName {
			return fmt.Errorf("rocketqa: output %s exists and is not an earlier conversion (no %s); remove it or choose another --out", dir, SourceFile)
		}
	}
	return nil
}

// PaddleHome is where the official package keeps downloaded models (~/.rocketqa/<name>/); Load looks there for
// an official model name. The library never downloads.
func PaddleHome() string {
	if h := os.Getenv("ROCKETQA_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".rocketqa"
	}
	return filepath.Join(home, ".rocketqa")
}

// officialURL is the official package's download address for a model name (rocketqa/rocketqa.py, __MODELS).
func officialURL(name string) string {
	return "http://rocketqa.bj.bcebos.com/RocketQAModels/" + name + ".tar.gz"
}

// ResolvePaddle maps what Load was given to a model directory of this library: an official model name is looked
// up in PaddleHome; an official folder (or its config.json, or an ERNIE folder) is converted into a cache beside it
// (<folder>.rocketqa-go, or under the user cache directory when the folder's parent is not writable) unless a
// conversion of the same files is already there. Anything else is returned unchanged.
func ResolvePaddle(path string) (string, error) {
	if _, err := os.Stat(path); err != nil && slices.Contains(OfficialModels, path) {
		p := filepath.Join(PaddleHome(), path)
		if !dirExists(p) {
			return "", fmt.Errorf("rocketqa: %q is an official PaddlePaddle model name, and %s does not exist. This library never downloads: fetch %s yourself and unpack it into %s (as the official package does), or anywhere and pass that folder (docs/paddle.md)", path, p, officialURL(path), PaddleHome())
		}
		path = p
	}
	s, err := findSource(path)
	if errors.Is(err, errNotPaddle) {
		return path, nil // not an official folder: Load reads it (and reports what is wrong)
	}
	if err != nil {
		return "", err
	}
	fp, err := s.fingerprint()
	if err != nil {
		return "", err
	}
	base := s.dir
	if fileExists(path) && filepath.Base(path) != "config.json" {
		base = strings.TrimSuffix(path, filepath.Ext(path))
	}
	abs, _ := filepath.Abs(base)
	cache := abs + ".rocketqa-go"
	if cacheValid(cache, fp) {
		return cache, nil
	}
	if err := convertCache(path, cache, fp); err != nil {
		if !errors.Is(err, os.ErrPermission) && !errors.Is(err, syscall.EROFS) {
			return "", err
		}
		uc, uerr := os.UserCacheDir()
		if uerr != nil {
			return "", err
		}
		sum := sha256.Sum256([]byte(abs))
		cache = filepath.Join(uc, "rocketqa-go", filepath.Base(abs)+"-"+hex.EncodeToString(sum[:6]))
		if cacheValid(cache, fp) {
			return cache, nil
		}
		if err := convertCache(path, cache, fp); err != nil {
			return "", err
		}
	}
	return cache, nil
}

// cacheWait bounds how long Load waits for another process converting the same folder.
var cacheWait = 30 * time.Minute

// convertCache converts into the cache; when another process holds its lock (several processes loading one
// folder at once), it waits for that conversion instead of failing.
func convertCache(path, cache, fp string) error {
	deadline := time.Now().Add(cacheWait)
	for {
		_, err := ConvertPaddle(path, cache, ConvertOptions{})
		if !errors.Is(err, dirlock.ErrLocked) {
			return err
		}
		for !cacheValid(cache, fp) {
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(200 * time.Millisecond)
			if !lockedElsewhere(cache) {
				break // the other conversion ended without a result: try ourselves
			}
		}
		if cacheValid(cache, fp) {
			return nil
		}
	}
}

// lockedElsewhere reports whether another process holds the directory lock of dir.
func lockedElsewhere(dir string) bool {
	l, err := dirlock.Acquire(dir, "convert (probe)")
	if err != nil {
		return errors.Is(err, dirlock.ErrLocked)
	}
	l.Release()
	return false
}

func cacheValid(dir, fp string) bool {
	b, err := os.ReadFile(filepath.Join(dir, SourceFile))
	if err != nil {
		return false
	}
	var r ConvertReport
	if json.Unmarshal(b, &r) != nil {
		return false
	}
	return r.Fingerprint == fp && r.Version == converterVersion
}
