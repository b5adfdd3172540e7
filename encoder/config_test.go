package encoder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestReadConfigFixtures(t *testing.T) {
	c, err := ReadConfig(filepath.Join("testdata", "tiny_ernie", "config.json"))
	require.NoError(t, err)
	assert.Equal(t, "ernie", c.ModelType)
	assert.Equal(t, 97, c.VocabSize)
	assert.Equal(t, 32, c.HiddenSize)
	assert.Equal(t, 2, c.NumHiddenLayers)
	assert.Equal(t, 4, c.NumAttentionHeads)
	assert.Equal(t, 64, c.IntermediateSize)
	assert.Equal(t, "relu", c.HiddenAct)
	assert.Equal(t, 1e-5, c.LayerNormEps)
	assert.Equal(t, 40, c.MaxPositionEmbeddings)
	assert.Equal(t, 4, c.TypeVocabSize)
	assert.Equal(t, 0.1, c.HiddenDropoutProb)
	assert.Equal(t, 0.1, c.AttentionDropoutProb)
	assert.False(t, c.UseTaskID)
	assert.JSONEq(t, `["ErnieModel"]`, string(c.Extra["architectures"]))
	assert.JSONEq(t, `3`, string(c.Extra["task_type_vocab_size"]))
	assert.NotContains(t, c.Extra, "hidden_size")

	b, err := ReadConfig(filepath.Join("testdata", "tiny_bert", "config.json"))
	require.NoError(t, err)
	assert.Equal(t, "bert", b.ModelType)
	assert.Equal(t, "gelu", b.HiddenAct)
	assert.Equal(t, 1e-12, b.LayerNormEps)
	assert.Equal(t, 2, b.TypeVocabSize)
	assert.JSONEq(t, `"absolute"`, string(b.Extra["position_embedding_type"]))
}

func TestConfigDefaults(t *testing.T) {
	p := writeTemp(t, "config.json", `{"vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 1,
		"num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 20, "pad_token_id": null}`)
	c, err := ReadConfig(p)
	require.NoError(t, err)
	assert.Equal(t, "", c.ModelType)
	assert.Equal(t, 1e-12, c.LayerNormEps)
	assert.Equal(t, "gelu", c.HiddenAct)
	assert.Equal(t, 0.1, c.HiddenDropoutProb)
	assert.Equal(t, 0.1, c.AttentionDropoutProb)
	assert.Equal(t, 2, c.TypeVocabSize)
	assert.Equal(t, 0, c.PadTokenID)
	assert.Equal(t, 0.02, c.InitializerRange)
	assert.Nil(t, c.Extra)

	// Explicit values win over defaults, and old ERNIE configs' sent_type_vocab_size is honoured.
	p = writeTemp(t, "config.json", `{"vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 1,
		"num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 20, "sent_type_vocab_size": 4,
		"hidden_dropout_prob": 0, "pad_token_id": 3, "hidden_act": "relu", "layer_norm_eps": 1e-5}`)
	c, err = ReadConfig(p)
	require.NoError(t, err)
	assert.Equal(t, 4, c.TypeVocabSize)
	assert.Equal(t, 0.0, c.HiddenDropoutProb)
	assert.Equal(t, 3, c.PadTokenID)
	assert.Equal(t, "relu", c.HiddenAct)
	assert.Equal(t, 1e-5, c.LayerNormEps)
}

func validConfig() Config {
	return Config{ModelType: "bert", VocabSize: 10, HiddenSize: 8, NumHiddenLayers: 1, NumAttentionHeads: 2,
		IntermediateSize: 16, HiddenAct: "gelu", HiddenDropoutProb: 0.1, AttentionDropoutProb: 0.1,
		MaxPositionEmbeddings: 12, TypeVocabSize: 2, LayerNormEps: 1e-12, InitializerRange: 0.02}
}

func TestConfigValidate(t *testing.T) {
	ok := validConfig()
	require.NoError(t, ok.Validate())
	cases := []struct {
		name string
		mod  func(c *Config)
		want []string
	}{
		{"gelu_new", func(c *Config) { c.HiddenAct = "gelu_new" }, []string{`hidden_act "gelu_new" is not supported`}},
		{"empty act", func(c *Config) { c.HiddenAct = "" }, []string{`hidden_act "" is not supported`}},
		{"divisibility", func(c *Config) { c.HiddenSize = 10; c.NumAttentionHeads = 3 }, []string{"hidden_size 10 is not divisible by num_attention_heads 3"}},
		{"task id", func(c *Config) { c.UseTaskID = true }, []string{"use_task_id true is not supported"}},
		{"eps", func(c *Config) { c.LayerNormEps = 0 }, []string{"layer_norm_eps must be > 0, got 0"}},
		{"sizes", func(c *Config) { c.VocabSize = 0; c.NumHiddenLayers = -1; c.TypeVocabSize = 0 },
			[]string{"vocab_size must be positive, got 0", "num_hidden_layers must be positive, got -1", "type_vocab_size must be positive, got 0"}},
		{"model type", func(c *Config) { c.ModelType = "roberta" }, []string{`model_type "roberta" is not supported`}},
		{"dropout", func(c *Config) { c.AttentionDropoutProb = 1 }, []string{"attention_probs_dropout_prob must be in [0, 1), got 1"}},
		{"pad", func(c *Config) { c.PadTokenID = 10 }, []string{"pad_token_id 10 is outside the vocabulary [0, 10)"}},
		{"relative positions", func(c *Config) {
			c.Extra = map[string]json.RawMessage{"position_embedding_type": json.RawMessage(`"relative_key"`)}
		}, []string{`position_embedding_type "relative_key" is not supported`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mod(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestReadConfigErrors(t *testing.T) {
	base := `"vocab_size": 50, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
"intermediate_size": 16, "max_position_embeddings": 20`
	p := writeTemp(t, "config.json", "{"+base+`, "hidden_act": "gelu_new", "use_task_id": true}`)
	_, err := ReadConfig(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+": invalid config: ")
	assert.Contains(t, err.Error(), `hidden_act "gelu_new" is not supported (want "relu" or "gelu"`)
	assert.Contains(t, err.Error(), "use_task_id true is not supported")

	p = writeTemp(t, "config.json", "{"+base+",\n\"hidden_size\" 8}")
	_, err = ReadConfig(p)
	assert.ErrorContains(t, err, p+":3:15: invalid JSON")

	p = writeTemp(t, "config.json", "{"+base+",\n  \"layer_norm_eps\": \"1e-5\"}")
	_, err = ReadConfig(p)
	assert.ErrorContains(t, err, p+`:3:`)
	assert.ErrorContains(t, err, `field "layer_norm_eps": cannot use JSON string as float64`)

	p = writeTemp(t, "config.json", `[1]`)
	_, err = ReadConfig(p)
	assert.ErrorContains(t, err, p+":")

	// a syntax error at offset 0 (an empty file gave Offset 0: lineCol sliced data[:-1] and panicked)
	for _, c := range []struct{ content, want string }{
		{"", ": empty file"},
		{" \n\t", ": empty file"},
		{"x", ":1:1: invalid JSON"},
		{"\ufeff{}", ":1:1: invalid JSON"},
		{"}", ":1:1: invalid JSON"},
		{"{", ":1:1: invalid JSON: unexpected end of JSON input"},
		{"\n{\"vocab_size\": ", ":2:15: invalid JSON: unexpected end of JSON input"},
	} {
		p = writeTemp(t, "config.json", c.content)
		require.NotPanics(t, func() { _, err = ReadConfig(p) }, "%q", c.content)
		assert.ErrorContains(t, err, p+c.want, "%q", c.content)
	}
	line, col := lineCol([]byte("ab"), -1)
	assert.Equal(t, [2]int{1, 1}, [2]int{line, col})

	p = writeTemp(t, "config.json", `{"sent_type_vocab_size": "x"}`)
	_, err = ReadConfig(p)
	assert.ErrorContains(t, err, "sent_type_vocab_size")

	_, err = ReadConfig(filepath.Join(t.TempDir(), "missing.json"))
	assert.Error(t, err)
}

func TestConfigWriteRoundTrip(t *testing.T) {
	src := filepath.Join("testdata", "tiny_ernie", "config.json")
	c, err := ReadConfig(src)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, c.WriteFile(out))

	back, err := ReadConfig(out)
	require.NoError(t, err)
	assert.Equal(t, c, back)

	// The JSON object is the same as the original, except use_task_id false, which is left out.
	var orig, written map[string]any
	b, _ := os.ReadFile(src)
	require.NoError(t, json.Unmarshal(b, &orig))
	b, _ = os.ReadFile(out)
	require.NoError(t, json.Unmarshal(b, &written))
	assert.Equal(t, false, orig["use_task_id"])
	delete(orig, "use_task_id")
	assert.Equal(t, orig, written)
	assert.Equal(t, byte('\n'), b[len(b)-1])

	// An empty model_type is written as "bert"; a failing write leaves no file.
	v := validConfig()
	v.ModelType = ""
	require.NoError(t, v.WriteFile(out))
	b, _ = os.ReadFile(out)
	assert.Contains(t, string(b), `"model_type": "bert"`)
	assert.Error(t, v.WriteFile(filepath.Join(t.TempDir(), "no", "dir", "config.json")))
}

// TestVocabLargerThanConfig: a vocab.txt with more tokens than vocab_size is refused at load, naming both files
// (before: training failed later with sizes -1, encoding with libtorch's "index out of range in self").
func TestVocabLargerThanConfig(t *testing.T) {
	src := filepath.Join("testdata", "tiny_bert")
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	vocab, err := os.ReadFile(filepath.Join(src, "vocab.txt"))
	require.NoError(t, err)
	vp, cp := filepath.Join(dir, "vocab.txt"), filepath.Join(dir, "config.json")

	require.NoError(t, os.WriteFile(vp, vocab, 0o644)) // 97 tokens, vocab_size 97
	m, err := LoadBERT(dir, true)
	require.NoError(t, err)
	m.Close()
	cfg, err := ReadConfig(cp)
	require.NoError(t, err)
	require.NoError(t, CheckVocab(cfg, cp, 50, vp), "a smaller vocabulary fits")

	require.NoError(t, os.WriteFile(vp, append(vocab, "extra1\nextra2\n"...), 0o644))
	want := vp + " has 99 tokens (ids 0..98) but " + cp + " has vocab_size 97"
	_, err = ReadConfig(cp)
	require.ErrorContains(t, err, want)
	_, err = LoadBERT(dir, true)
	require.ErrorContains(t, err, want)
	require.ErrorContains(t, CheckVocabFile(cfg, "cfg.json", vp), vp+" has 99 tokens (ids 0..98) but cfg.json has vocab_size 97")

	require.NoError(t, os.WriteFile(vp, []byte("[PAD]\n"), 0o644))
	_, err = ReadConfig(cp)
	require.ErrorContains(t, err, vp+" has no [UNK] token", "a broken vocab.txt beside config.json is reported")
}

// TestConfigMarshalJSON pins the bytes of MarshalJSON: sorted keys, typed fields over Extra entries of the same
// name, use_task_id only when true (an Extra use_task_id stays when it is false), Extra verbatim but compacted.
func TestConfigMarshalJSON(t *testing.T) {
	c := validConfig()
	c.ModelType = ""
	c.Extra = map[string]json.RawMessage{"architectures": json.RawMessage(`[ "BertModel" ]`), "hidden_size": json.RawMessage(`7`),
		"use_task_id": json.RawMessage(`"extra"`)}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	want := fmt.Sprintf(`{"architectures":["BertModel"],"attention_probs_dropout_prob":%v,"hidden_act":%q,"hidden_dropout_prob":%v,`+
		`"hidden_size":%d,"initializer_range":%v,"intermediate_size":%d,"layer_norm_eps":%v,"max_position_embeddings":%d,`+
		`"model_type":"bert","num_attention_heads":%d,"num_hidden_layers":%d,"pad_token_id":%d,"type_vocab_size":%d,`+
		`"use_task_id":"extra","vocab_size":%d}`,
		c.AttentionDropoutProb, c.HiddenAct, c.HiddenDropoutProb, c.HiddenSize, c.InitializerRange, c.IntermediateSize,
		c.LayerNormEps, c.MaxPositionEmbeddings, c.NumAttentionHeads, c.NumHiddenLayers, c.PadTokenID, c.TypeVocabSize,
		c.VocabSize)
	require.Equal(t, want, string(b))
	c.UseTaskID = true
	b, err = json.Marshal(c)
	require.NoError(t, err)
	require.Contains(t, string(b), `"use_task_id":true,`)
}
