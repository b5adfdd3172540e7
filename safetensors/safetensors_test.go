package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/canceltest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sample returns tensors of several dtypes, a scalar and an empty tensor.
func sample() []Tensor {
	return []Tensor{
		F32("weight", []int64{2, 3}, []float32{1.5, -2, 3.25, 0, float32(math.Inf(-1)), 1e-30}),
		I64("ids", []int64{4}, []int64{-1, 0, 1 << 40, math.MinInt64}),
		{Name: "half", DType: "F16", Shape: []int64{3}, Data: []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}},
		{Name: "mask", DType: "BOOL", Shape: []int64{2}, Data: []byte{1, 0}},
		F32("scalar", nil, []float32{7}),
		F32("empty", []int64{0, 5}, nil),
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	meta := map[string]string{"format": "pt", "k": "v"}
	require.NoError(t, WriteFile(path, sample(), meta))

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	hlen := binary.LittleEndian.Uint64(raw)
	assert.Zero(t, hlen%8, "header padded to 8 bytes")
	assert.Equal(t, byte('{'), raw[8])

	f, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, meta, f.Metadata)
	names := []string{}
	for _, x := range f.Tensors {
		names = append(names, x.Name)
	}
	assert.Equal(t, []string{"empty", "half", "ids", "mask", "scalar", "weight"}, names)

	for _, want := range sample() {
		got, ok := f.Get(want.Name)
		require.True(t, ok, want.Name)
		assert.Equal(t, want.DType, got.DType, want.Name)
		assert.Equal(t, want.Shape, got.Shape, want.Name)
		if len(want.Data) == 0 {
			assert.Empty(t, got.Data)
		} else {
			assert.Equal(t, want.Data, got.Data, want.Name)
		}
	}
	w, _ := f.Get("weight")
	v, err := w.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1.5, -2, 3.25, 0, float32(math.Inf(-1)), 1e-30}, v)
	assert.Equal(t, int64(6), w.NumElements())
	ids, _ := f.Get("ids")
	iv, err := ids.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{-1, 0, 1 << 40, math.MinInt64}, iv)
	h, _ := f.Get("half")
	hv, err := h.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2, float32(math.Ldexp(1, -24))}, hv)
	m, _ := f.Get("mask")
	mv, err := m.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 0}, mv)
	s, _ := f.Get("scalar")
	assert.Equal(t, []int64{}, s.Shape)
	assert.Equal(t, int64(1), s.NumElements())
	_, ok := f.Get("nope")
	assert.False(t, ok)

	// Re-encoding what was read reproduces the file byte for byte.
	again, err := Encode(f.Tensors, f.Metadata)
	require.NoError(t, err)
	assert.Equal(t, raw, again)

	// No metadata: no __metadata__ entry.
	require.NoError(t, WriteFile(path, sample()[:1], nil))
	f, err = ReadFile(path)
	require.NoError(t, err)
	assert.Nil(t, f.Metadata)
	raw, _ = os.ReadFile(path)
	assert.NotContains(t, string(raw), "__metadata__")
}

func TestConversionErrors(t *testing.T) {
	f := F32("w", []int64{2}, []float32{1, 2})
	_, err := f.Int64s()
	assert.ErrorContains(t, err, `tensor "w": dtype F32 is not an integer type`)
	i := I64("i", []int64{1}, []int64{3})
	_, err = i.Float32s()
	assert.ErrorContains(t, err, `tensor "i": dtype I64 is not a floating-point type`)
	bad := F32("short", []int64{3}, []float32{1, 2})
	_, err = bad.Float32s()
	assert.ErrorContains(t, err, `tensor "short": F32 shape [3] needs 12 bytes, data has 8`)
	b := Tensor{Name: "b", DType: "BOOL", Shape: []int64{1}, Data: []byte{2}}
	_, err = b.Int64s()
	assert.ErrorContains(t, err, "BOOL element 0 has byte value 2")
	assert.Equal(t, int64(-1), (&Tensor{Shape: []int64{2, -1}}).NumElements())
	assert.Equal(t, int64(-1), (&Tensor{Shape: []int64{math.MaxInt64, 2}}).NumElements())
}

func TestHalfToFloat32(t *testing.T) {
	cases := map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x3555: 0.333251953125,
		0x0001: float32(math.Ldexp(1, -24)), 0x03ff: float32(math.Ldexp(1023, -24)), 0x0400: float32(math.Ldexp(1, -14)),
		0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)),
	}
	for h, want := range cases {
		assert.Equal(t, want, HalfToFloat32(h), "%#04x", h)
	}
	assert.True(t, math.Signbit(float64(HalfToFloat32(0x8000))))
	assert.True(t, math.IsNaN(float64(HalfToFloat32(0x7e00))))
	// Monotone over all positive finite halves, and exact: every value times 2^24 is an integer.
	prev := float32(-1)
	for h := uint16(0); h < 0x7c00; h++ {
		v := HalfToFloat32(h)
		require.Greater(t, v, prev, "%#04x", h)
		prev = v
		if h < 0x6400 { // below 2^10 the scaled value must be integral
			s := float64(v) * (1 << 24)
			require.Equal(t, math.Trunc(s), s, "%#04x", h)
		}
	}
}

func TestReadPythonWritten(t *testing.T) {
	path := filepath.Join("testdata", "python_written.safetensors")
	f, err := ReadFile(path)
	require.NoError(t, err)
	var exp struct {
		Metadata map[string]string `json:"metadata"`
		Tensors  map[string]struct {
			DType  string  `json:"dtype"`
			Shape  []int64 `json:"shape"`
			Values []any   `json:"values"`
		} `json:"tensors"`
	}
	js, err := os.ReadFile(filepath.Join("testdata", "python_written.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(js, &exp))
	assert.Equal(t, exp.Metadata, f.Metadata)
	require.Len(t, f.Tensors, len(exp.Tensors))
	for name, e := range exp.Tensors {
		tt, ok := f.Get(name)
		require.True(t, ok, name)
		assert.Equal(t, e.DType, tt.DType, name)
		assert.Equal(t, e.Shape, tt.Shape, name)
		switch e.DType {
		case "F32", "F16", "BF16", "F64":
			got, err := tt.Float32s()
			require.NoError(t, err, name)
			require.Len(t, got, len(e.Values), name)
			for i, v := range e.Values {
				switch v {
				case "nan":
					assert.True(t, math.IsNaN(float64(got[i])), "%s[%d]", name, i)
				case "inf":
					assert.True(t, math.IsInf(float64(got[i]), 1), "%s[%d]", name, i)
				case "-inf":
					assert.True(t, math.IsInf(float64(got[i]), -1), "%s[%d]", name, i)
				default:
					assert.Equal(t, float32(v.(float64)), got[i], "%s[%d]", name, i)
				}
			}
		default:
			got, err := tt.Int64s()
			require.NoError(t, err, name)
			require.Len(t, got, len(e.Values), name)
			for i, v := range e.Values {
				// JSON numbers decode as float64; the fixture's large ints are powers of two, exact in float64.
				assert.Equal(t, int64(v.(float64)), got[i], "%s[%d]", name, i)
			}
		}
	}
	// Go's encoder reproduces the Python writer's bytes exactly (same key order, padding, data order).
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	again, err := Encode(f.Tensors, f.Metadata)
	require.NoError(t, err)
	assert.Equal(t, raw, again)
}

func havePythonTorch(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		t.Skip("/usr/bin/python3 with torch not available")
	}
}

func TestGoWrittenReadByPython(t *testing.T) {
	havePythonTorch(t)
	path := filepath.Join(t.TempDir(), "go.safetensors")
	ts := append(sample(), Tensor{Name: "bf", DType: "BF16", Shape: []int64{2}, Data: []byte{0x80, 0x3f, 0x40, 0xc0}})
	require.NoError(t, WriteFile(path, ts, map[string]string{"who": "go"}))
	out, err := exec.Command("/usr/bin/python3", filepath.Join("testdata", "check_go_written.py"), path).Output()
	require.NoError(t, err, string(out))
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &got))
	assert.JSONEq(t, `{"who":"go"}`, string(got["__metadata__"]))
	assert.JSONEq(t, `{"dtype":"F32","shape":[2,3],"values":[1.5,-2,3.25,0,"-inf",1.0000000031710769e-30]}`, string(got["weight"]))
	assert.JSONEq(t, `{"dtype":"I64","shape":[4],"values":[-1,0,1099511627776,-9223372036854775808]}`, string(got["ids"]))
	assert.JSONEq(t, `{"dtype":"F16","shape":[3],"values":[1,-2,5.960464477539063e-08]}`, string(got["half"]))
	assert.JSONEq(t, `{"dtype":"BOOL","shape":[2],"values":[1,0]}`, string(got["mask"]))
	assert.JSONEq(t, `{"dtype":"F32","shape":[],"values":[7]}`, string(got["scalar"]))
	assert.JSONEq(t, `{"dtype":"F32","shape":[0,5],"values":[]}`, string(got["empty"]))
	assert.JSONEq(t, `{"dtype":"BF16","shape":[2],"values":[1,-3]}`, string(got["bf"]))
}

// build assembles a file from a header string and data bytes; hlen overrides the header length when >= 0.
func build(header string, data []byte, hlen int64) []byte {
	if hlen < 0 {
		hlen = int64(len(header))
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(hlen))
	out = append(out, header...)
	return append(out, data...)
}

func TestReadValidation(t *testing.T) {
	eight := make([]byte, 8)
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	valid := build(good, eight, -1)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"too short", []byte{1, 2, 3}, "not a safetensors file: 3 bytes"},
		{"zero header length", build("", nil, 0), "invalid header length 0"},
		{"huge header length", build("{}", nil, MaxHeaderSize+1), "invalid header length 100000001"},
		{"header past end", build(good, eight, 500), "header length 500 exceeds file size"},
		{"truncated data", valid[:len(valid)-3], `tensor "a": data_offsets [0 8] out of range [0, 5] (truncated file?)`},
		{"truncated header", valid[:20], "exceeds file size 20"},
		{"bad json", build(`{"a":{"dtype":"F32",`, nil, -1), "invalid JSON header"},
		{"not json object", build(`["a"]`, nil, -1), "does not start with '{'"},
		{"trailing data", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x`, eight, -1), "trailing data after the object"},
		{"not utf8", build("{\"\xff\":1}", nil, -1), "not valid UTF-8"},
		{"duplicate", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight, -1), `duplicate entry "a"`},
		{"bad metadata", build(`{"__metadata__":{"x":1}}`, nil, -1), "__metadata__ must map strings to strings"},
		{"entry not object", build(`{"a":3}`, nil, -1), `tensor "a": invalid header entry`},
		{"missing offsets", build(`{"a":{"dtype":"F32","shape":[2]}}`, eight, -1), `tensor "a": header entry needs dtype, shape and data_offsets`},
		{"unknown dtype", build(`{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`, eight, -1), `tensor "a": unknown dtype "Q4"`},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight, -1), `tensor "a": invalid shape [-2]`},
		{"overflowing shape", build(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}`, eight, -1), `tensor "a": invalid shape`},
		{"fractional dim", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, eight, -1), `tensor "a": invalid header entry`},
		{"three offsets", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, eight, -1), "data_offsets must have 2 entries"},
		{"reversed offsets", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, eight, -1), `tensor "a": data_offsets [8 0] out of range`},
		{"negative offset", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, eight, -1), "out of range"},
		{"offset past end", build(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight, -1), `tensor "a": data_offsets [0 16] out of range [0, 8]`},
		{"wrong size", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight, -1), `tensor "a": F32 shape [3] needs 12 bytes, data_offsets [0 8] span 8`},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight, -1), `tensor "b": data_offsets [4, 8] overlap the previous tensor`},
		{"hole", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight, -1), `tensor "a": data_offsets [4, 8] leave a hole after offset 0`},
		{"extra data", build(good, make([]byte, 12), -1), "tensors cover 8 bytes of data but the file has 12"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(c.file), int64(len(c.file)), "bad.safetensors")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "bad.safetensors: ")
			assert.Contains(t, err.Error(), c.want)
		})
	}
	f, err := Read(bytes.NewReader(valid), int64(len(valid)), "ok")
	require.NoError(t, err)
	assert.Len(t, f.Tensors, 1)

	// ReadFile names the path; missing files are an error.
	dir := t.TempDir()
	p := filepath.Join(dir, "trunc.safetensors")
	require.NoError(t, os.WriteFile(p, valid[:len(valid)-1], 0o644))
	_, err = ReadFile(p)
	assert.ErrorContains(t, err, p+`: tensor "a": data_offsets [0 8] out of range [0, 7]`)
	_, err = ReadFile(filepath.Join(dir, "missing"))
	assert.Error(t, err)

	// a directory or a FIFO (whose open(2) blocks until a writer comes) is refused, not read or waited on
	fifo := canceltest.FIFO(t, "model.safetensors")
	canceltest.Within(t, 10*time.Second, func() {
		_, err := ReadFile(fifo)
		assert.ErrorContains(t, err, fifo+": not a regular file")
	})
	_, err = ReadFile(dir)
	assert.ErrorContains(t, err, dir+": not a regular file")
}

func TestWriteFileErrorsAreAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	require.NoError(t, WriteFile(path, sample(), nil))
	before, _ := os.ReadFile(path)

	cases := []struct {
		ts   []Tensor
		want string
	}{
		{[]Tensor{F32("w", []int64{3}, []float32{1, 2})}, `tensor "w": F32 shape [3] needs 12 bytes, data has 8`},
		{[]Tensor{F32("w", []int64{1}, []float32{1}), F32("w", []int64{1}, []float32{2})}, `duplicate tensor name "w"`},
		{[]Tensor{{Name: "q", DType: "Q4", Shape: []int64{1}, Data: []byte{1}}}, `tensor "q": unknown dtype "Q4"`},
		{[]Tensor{F32("", []int64{1}, []float32{1})}, "empty name"},
		{[]Tensor{F32("__metadata__", []int64{1}, []float32{1})}, "reserved"},
	}
	for _, c := range cases {
		err := WriteFile(path, c.ts, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), path+": ")
		assert.Contains(t, err.Error(), c.want)
	}
	after, _ := os.ReadFile(path)
	assert.Equal(t, before, after, "a failed write leaves the old file")
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no temp files left behind")

	err := WriteFile(filepath.Join(dir, "no", "such", "dir.safetensors"), sample(), nil)
	assert.Error(t, err)
}

func FuzzRead(f *testing.F) {
	good, _ := Encode(sample(), map[string]string{"a": "b"})
	f.Add(good)
	if py, err := os.ReadFile(filepath.Join("testdata", "python_written.safetensors")); err == nil {
		f.Add(py)
	}
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8), -1))
	f.Add(build(`{}`, nil, -1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// Anything accepted decodes and re-encodes to a readable file.
		for i := range file.Tensors {
			tt := &file.Tensors[i]
			if _, err := tt.Float32s(); err != nil {
				if _, err2 := tt.Int64s(); err2 != nil && tt.DType != "BOOL" {
					t.Fatalf("accepted tensor %q does not decode: %v / %v", tt.Name, err, err2)
				}
			}
		}
		enc, err := Encode(file.Tensors, file.Metadata)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := Read(bytes.NewReader(enc), int64(len(enc)), "again"); err != nil {
			t.Fatalf("re-read: %v", err)
		}
	})
}
