package encoder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/rocketqa-go/rocketqa/safetensors"
	"github.com/rocketqa-go/rocketqa/tokenizer"
)

// Config is the part of a HuggingFace BERT/ERNIE config.json that defines the
// encoder. Fields absent from the file take HuggingFace BertConfig's defaults
// where it has one (see ReadConfig); unknown fields are kept in Extra so that
// writing the config back preserves them.
type Config struct {
	// ModelType is "bert" or "ernie" (empty is read as "bert"). Both compute
	// the same function when UseTaskID is false.
	ModelType             string  `json:"model_type"`
	VocabSize             int     `json:"vocab_size"`
	HiddenSize            int     `json:"hidden_size"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	IntermediateSize      int     `json:"intermediate_size"`
	HiddenAct             string  `json:"hidden_act"` // "relu" or "gelu" (exact erf GELU)
	HiddenDropoutProb     float64 `json:"hidden_dropout_prob"`
	AttentionDropoutProb  float64 `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	TypeVocabSize         int     `json:"type_vocab_size"`
	LayerNormEps          float64 `json:"layer_norm_eps"`
	PadTokenID            int     `json:"pad_token_id"`
	InitializerRange      float64 `json:"initializer_range"`
	// UseTaskID is ERNIE's task-type embedding switch; true is not supported.
	UseTaskID bool `json:"use_task_id"`

	// Extra holds the config.json fields not listed above, verbatim.
	Extra map[string]json.RawMessage `json:"-"`
}

// Defaults of HuggingFace BertConfig for the fields that may be left out.
const (
	DefaultLayerNormEps     = 1e-12
	DefaultHiddenAct        = "gelu"
	DefaultDropoutProb      = 0.1
	DefaultTypeVocabSize    = 2
	DefaultPadTokenID       = 0
	DefaultInitializerRange = 0.02
)

// knownFields are the JSON names of Config's typed fields (the tags of configJSON).
var knownFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeOf(configJSON{})
	for i := range t.NumField() {
		m[t.Field(i).Tag.Get("json")] = true
	}
	return m
}()

// configJSON mirrors Config with pointers so that absent fields can be told
// from zero values.
type configJSON struct {
	ModelType             *string  `json:"model_type"`
	VocabSize             *int     `json:"vocab_size"`
	HiddenSize            *int     `json:"hidden_size"`
	NumHiddenLayers       *int     `json:"num_hidden_layers"`
	NumAttentionHeads     *int     `json:"num_attention_heads"`
	IntermediateSize      *int     `json:"intermediate_size"`
	HiddenAct             *string  `json:"hidden_act"`
	HiddenDropoutProb     *float64 `json:"hidden_dropout_prob"`
	AttentionDropoutProb  *float64 `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings *int     `json:"max_position_embeddings"`
	TypeVocabSize         *int     `json:"type_vocab_size"`
	LayerNormEps          *float64 `json:"layer_norm_eps"`
	PadTokenID            *int     `json:"pad_token_id"`
	InitializerRange      *float64 `json:"initializer_range"`
	UseTaskID             *bool    `json:"use_task_id"`
}

// UnmarshalJSON decodes a config.json object, applying BertConfig defaults to
// absent (or null) optional fields and keeping unknown fields in Extra.
// Required sizes (vocab_size, hidden_size, num_hidden_layers,
// num_attention_heads, intermediate_size, max_position_embeddings) stay 0 when
// absent, which Validate reports.
func (c *Config) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		return errors.New("config is null, want a JSON object")
	}
	var j configJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*c = Config{
		ModelType:             deref(j.ModelType, ""),
		VocabSize:             deref(j.VocabSize, 0),
		HiddenSize:            deref(j.HiddenSize, 0),
		NumHiddenLayers:       deref(j.NumHiddenLayers, 0),
		NumAttentionHeads:     deref(j.NumAttentionHeads, 0),
		IntermediateSize:      deref(j.IntermediateSize, 0),
		HiddenAct:             deref(j.HiddenAct, DefaultHiddenAct),
		HiddenDropoutProb:     deref(j.HiddenDropoutProb, DefaultDropoutProb),
		AttentionDropoutProb:  deref(j.AttentionDropoutProb, DefaultDropoutProb),
		MaxPositionEmbeddings: deref(j.MaxPositionEmbeddings, 0),
		TypeVocabSize:         deref(j.TypeVocabSize, DefaultTypeVocabSize),
		LayerNormEps:          deref(j.LayerNormEps, DefaultLayerNormEps),
		PadTokenID:            deref(j.PadTokenID, DefaultPadTokenID),
		InitializerRange:      deref(j.InitializerRange, DefaultInitializerRange),
		UseTaskID:             deref(j.UseTaskID, false),
	}
	// Old ERNIE conversions name the type vocabulary "sent_type_vocab_size".
	if j.TypeVocabSize == nil {
		if s, ok := raw["sent_type_vocab_size"]; ok {
			var n int
			if err := json.Unmarshal(s, &n); err != nil {
				return fmt.Errorf("sent_type_vocab_size: %v", err)
			}
			c.TypeVocabSize = n
		}
	}
	for k, v := range raw {
		if !knownFields[k] {
			if c.Extra == nil {
				c.Extra = map[string]json.RawMessage{}
			}
			c.Extra[k] = append(json.RawMessage(nil), v...)
		}
	}
	return nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// MarshalJSON encodes the typed fields and Extra as one JSON object with
// sorted keys. A typed field wins over an Extra entry of the same name.
func (c Config) MarshalJSON() ([]byte, error) {
	type typed Config // Config's fields without this method
	t := typed(c)
	if t.ModelType == "" {
		t.ModelType = "bert"
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if !c.UseTaskID {
		delete(m, "use_task_id")
	}
	for k, v := range c.Extra {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// ReadConfig reads and validates a config.json file. Fields absent from the
// file take HuggingFace BertConfig's defaults: layer_norm_eps 1e-12,
// hidden_act "gelu", both dropouts 0.1, type_vocab_size 2 (or ERNIE's
// sent_type_vocab_size when that is given instead), pad_token_id 0,
// initializer_range 0.02. Errors name the file. When a vocab.txt lies beside the file, it is checked against
// vocab_size (CheckVocabFile).
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: empty file (want a JSON object such as HF's BertConfig)", path)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := lineCol(data, se.Offset-1) // Offset counts the offending byte
			return nil, fmt.Errorf("%s:%d:%d: invalid JSON: %v", path, line, col, err)
		case errors.As(err, &te):
			// Offsets from UnmarshalJSON are relative to the object, which starts after any leading space.
			lead := int64(len(data) - len(bytes.TrimLeft(data, " \t\r\n")))
			line, col := lineCol(data, lead+te.Offset)
			return nil, fmt.Errorf("%s:%d:%d: field %q: cannot use JSON %s as %s", path, line, col, te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// A model directory's vocab.txt must not hand out ids past the embedding table (libtorch would only say
	// "index out of range in self", mid-training or mid-encoding).
	vocab := filepath.Join(filepath.Dir(path), VocabFile)
	if st, err := os.Stat(vocab); err == nil && !st.IsDir() {
		if err := CheckVocabFile(&c, path, vocab); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// CheckVocabFile reads the vocabulary at vocabPath and checks it against the config read from configPath (see
// CheckVocab). ReadConfig does this for the vocab.txt beside config.json; callers that pair a config with a
// vocabulary from elsewhere call it themselves.
func CheckVocabFile(c *Config, configPath, vocabPath string) error {
	tok, err := tokenizer.New(vocabPath, tokenizer.DefaultOptions())
	if err != nil {
		return err
	}
	return CheckVocab(c, configPath, tok.VocabSize(), vocabPath)
}

// CheckVocab reports an error naming both files when a vocabulary of ids ids (a tokenizer's VocabSize: one per line
// of vocab.txt) does not fit the word-embedding table of vocab_size rows. A smaller vocabulary is fine (checkpoints
// often pad vocab_size).
func CheckVocab(c *Config, configPath string, ids int, vocabPath string) error {
	if ids > c.VocabSize {
		return fmt.Errorf("encoder: %s has %d tokens (ids 0..%d) but %s has vocab_size %d: ids from %d on have no "+
			"row in the word-embedding table (use the vocab.txt the model was trained with)",
			vocabPath, ids, ids-1, configPath, c.VocabSize, c.VocabSize)
	}
	return nil
}

// lineCol gives the 1-based line and column of byte offset off in data; offsets outside data are clamped to it
// (a syntax error at the very start reports Offset 0, so callers may pass -1).
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Validate checks that the config describes an encoder this package can run:
// model_type "bert" or "ernie" (or empty), positive sizes, hidden_size
// divisible by num_attention_heads, hidden_act "relu" or "gelu", dropout
// probabilities in [0, 1), layer_norm_eps > 0, pad_token_id inside the
// vocabulary, absolute position embeddings, and no ERNIE task embedding.
// It reports every problem found, joined by "; ".
func (c *Config) Validate() error {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	switch c.ModelType {
	case "", "bert", "ernie":
	default:
		add("model_type %q is not supported (want \"bert\" or \"ernie\")", c.ModelType)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"intermediate_size", c.IntermediateSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings}, {"type_vocab_size", c.TypeVocabSize},
	} {
		if f.v <= 0 {
			add("%s must be positive, got %d", f.name, f.v)
		}
	}
	if c.HiddenSize > 0 && c.NumAttentionHeads > 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		add("hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	switch c.HiddenAct {
	case "relu", "gelu":
	default:
		add("hidden_act %q is not supported (want \"relu\" or \"gelu\", the exact erf GELU)", c.HiddenAct)
	}
	if !(c.HiddenDropoutProb >= 0 && c.HiddenDropoutProb < 1) {
		add("hidden_dropout_prob must be in [0, 1), got %g", c.HiddenDropoutProb)
	}
	if !(c.AttentionDropoutProb >= 0 && c.AttentionDropoutProb < 1) {
		add("attention_probs_dropout_prob must be in [0, 1), got %g", c.AttentionDropoutProb)
	}
	if !(c.LayerNormEps > 0) {
		add("layer_norm_eps must be > 0, got %g", c.LayerNormEps)
	}
	if !(c.InitializerRange >= 0) {
		add("initializer_range must be >= 0, got %g", c.InitializerRange)
	}
	if c.PadTokenID < 0 || (c.VocabSize > 0 && c.PadTokenID >= c.VocabSize) {
		add("pad_token_id %d is outside the vocabulary [0, %d)", c.PadTokenID, c.VocabSize)
	}
	if c.UseTaskID {
		add("use_task_id true is not supported (ERNIE task-type embeddings; RocketQA does not use them)")
	}
	if raw, ok := c.Extra["position_embedding_type"]; ok {
		var s string
		if json.Unmarshal(raw, &s) != nil || s != "absolute" {
			add("position_embedding_type %s is not supported (want \"absolute\")", string(raw))
		}
	}
	if len(errs) > 0 {
		return errors.New("invalid config: " + strings.Join(errs, "; "))
	}
	return nil
}

// WriteFile writes the config as indented JSON (sorted keys, trailing
// newline) to path atomically (temporary file + rename).
func (c *Config) WriteFile(path string) error {
	js, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "  "); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	buf.WriteByte('\n')
	return safetensors.WriteFileAtomic(path, buf.Bytes(), 0o644)
}
