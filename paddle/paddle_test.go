package paddle

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rocketqa-go/rocketqa/internal/canceltest"
)

type dtypeCase struct {
	File   string     `json:"file"`
	DType  string     `json:"dtype"`
	Dims   []int64    `json:"dims"`
	Values []float64  `json:"values"`
	LoD    [][]uint64 `json:"lod"`
}

// TestReadDTypes reads the files gen_paddle_fixtures.py wrote (every dtype, ranks 0-3, an empty tensor, a 2-level
// LoD) and compares dtype, dims, LoD and values, then re-encodes each one and expects the same bytes.
func TestReadDTypes(t *testing.T) {
	b, err := os.ReadFile("testdata/dtypes/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []dtypeCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		p := filepath.Join("testdata/dtypes", c.File)
		tn, err := ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", c.File, err)
		}
		if tn.Name != c.File || tn.DType.String() != c.DType || !slices.Equal(tn.Dims, c.Dims) {
			t.Fatalf("%s: got name %q dtype %s dims %v", c.File, tn.Name, tn.DType, tn.Dims)
		}
		if len(c.LoD) != len(tn.LoD) {
			t.Fatalf("%s: LoD %v, want %v", c.File, tn.LoD, c.LoD)
		}
		for i := range c.LoD {
			if !slices.Equal(tn.LoD[i], c.LoD[i]) {
				t.Fatalf("%s: LoD %v, want %v", c.File, tn.LoD, c.LoD)
			}
		}
		var got []float64
		switch tn.DType {
		case FP16, FP32, FP64, BF16:
			f, err := tn.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range f {
				got = append(got, float64(x))
			}
		default:
			v, err := tn.Int64s()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range v {
				got = append(got, float64(x))
			}
		}
		if len(got) != len(c.Values) {
			t.Fatalf("%s: %d values, want %d", c.File, len(got), len(c.Values))
		}
		for i := range got {
			want := c.Values[i]
			if tn.DType == FP64 {
				want = float64(float32(want)) // Float32s narrows
			}
			if got[i] != want && !(tn.DType == Int64 && math.Abs(got[i]-want) <= math.Abs(want)*1e-15) {
				t.Fatalf("%s[%d] = %v, want %v", c.File, i, got[i], want)
			}
		}
		raw, _ := os.ReadFile(p)
		enc, err := Encode(tn)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, enc) {
			t.Fatalf("%s: Encode differs from the Python writer's bytes", c.File)
		}
	}
}

// TestHalf: FP16 data widens exactly (normal, subnormal, largest, signed zero, infinity, NaN).
func TestHalf(t *testing.T) {
	cases := []struct {
		h uint16
		f float32
	}{{0x3c00, 1}, {0xc000, -2}, {0x0001, float32(math.Ldexp(1, -24))}, {0x7bff, 65504}, {0x8000, float32(math.Copysign(0, -1))},
		{0x7c00, float32(math.Inf(1))}}
	tn := &Tensor{Name: "h", DType: FP16, Dims: []int64{int64(len(cases)) + 1}}
	for _, c := range cases {
		tn.Data = binary.LittleEndian.AppendUint16(tn.Data, c.h)
	}
	tn.Data = binary.LittleEndian.AppendUint16(tn.Data, 0x7e00)
	got, err := tn.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if g := got[i]; g != c.f || math.Signbit(float64(g)) != math.Signbit(float64(c.f)) {
			t.Fatalf("%#x -> %v, want %v", c.h, g, c.f)
		}
	}
	if !math.IsNaN(float64(got[len(cases)])) {
		t.Fatalf("0x7e00 -> %v, want NaN", got[len(cases)])
	}
	tn.Data = tn.Data[1:]
	if _, err := tn.Float32s(); err == nil || !strings.Contains(err.Error(), "paddle: h: 13 data bytes for 7 elements of") {
		t.Fatalf("short data: %v", err)
	}
}

func writeTmp(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "encoder_layer_0_ffn_fc_0.w_0")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fp32(dims []int64) []byte {
	tn := &Tensor{Name: "x", DType: FP32, Dims: dims}
	tn.Data = make([]byte, 4*tn.NumElements())
	b, err := Encode(tn)
	if err != nil {
		panic(err)
	}
	return b
}

// TestBadFiles: every malformed file gets an error naming the file and the problem.
func TestBadFiles(t *testing.T) {
	good := fp32([]int64{2, 3})
	descAt := 4 + 8 + 4 + 4 // version, lod_level, version, desc size
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "truncated"},
		"short header":   {good[:10], "truncated"},
		"truncated data": {good[:len(good)-1], "truncated"},
		"trailing":       {append(append([]byte{}, good...), 0), "trailing bytes"},
		"version":        {append([]byte{1, 0, 0, 0}, good[4:]...), "LoDTensor version 1"},
		"unknown dtype": {func() []byte {
			b := append([]byte{}, good...)
			b[descAt+1] = 17 // RAW
			return b
		}(), "unknown dtype 17"},
		"desc size": {func() []byte {
			b := append([]byte{}, good...)
			binary.LittleEndian.PutUint32(b[16:], 0xfffffff0)
			return b
		}(), "TensorDesc size"},
		"negative dim": {func() []byte {
			desc := append([]byte{0x08, 5, 0x10}, binary.AppendUvarint(nil, uint64(1<<64-1))...)
			out := make([]byte, 16)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(desc)))
			return append(out, desc...)
		}(), "negative dim"},
		"huge dims": {func() []byte {
			desc := []byte{0x08, 5}
			for i := 0; i < 3; i++ {
				desc = binary.AppendUvarint(append(desc, 0x10), 1<<40)
			}
			out := make([]byte, 16)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(desc)))
			return append(out, desc...)
		}(), "overflow"},
		"lod odd": {func() []byte {
			out := binary.LittleEndian.AppendUint32(nil, 0)
			out = binary.LittleEndian.AppendUint64(out, 1)
			out = binary.LittleEndian.AppendUint64(out, 7)
			return append(out, good[12:]...)
		}(), "whole number"},
	}
	for name, c := range cases {
		p := writeTmp(t, c.data)
		_, err := ReadFile(p)
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: error %q does not name the file and %q", name, err, c.want)
		}
	}
	if _, err := ReadFile(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
	// a FIFO is refused before its open(2), which would block until a writer comes
	fifo := canceltest.FIFO(t, "fc_0.w_0")
	canceltest.Within(t, 10*time.Second, func() {
		if _, err := ReadFile(fifo); err == nil || !strings.Contains(err.Error(), fifo+": not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	})
}

// TestDimsOverflowRefused: dims whose product overflows int64 (here to exactly 0) do not pass for an empty tensor:
// Encode would write a file that Decode refuses, and Float32s would give no values for 2^64 elements.
func TestDimsOverflowRefused(t *testing.T) {
	for _, dims := range [][]int64{{1 << 32, 1 << 32}, {1 << 62, 4}, {1 << 40, 1 << 40, 0}} {
		tn := &Tensor{Name: "w", DType: FP32, Dims: dims}
		if _, err := Encode(tn); err == nil || !strings.Contains(err.Error(), "overflow") {
			t.Fatalf("Encode %v: %v", dims, err)
		}
		if _, err := tn.Float32s(); err == nil || !strings.Contains(err.Error(), "overflow") {
			t.Fatalf("Float32s %v: %v", dims, err)
		}
		tn.DType = Int64
		if _, err := tn.Int64s(); err == nil || !strings.Contains(err.Error(), "overflow") {
			t.Fatalf("Int64s %v: %v", dims, err)
		}
	}
}

// TestPackedDims: a TensorDesc written with packed dims (proto3-style) reads the same.
func TestPackedDims(t *testing.T) {
	dims := []int64{2, 300}
	var packed []byte
	for _, d := range dims {
		packed = binary.AppendUvarint(packed, uint64(d))
	}
	desc := append([]byte{0x08, 4, 0x12, byte(len(packed))}, packed...)
	desc = append(desc, 0x18, 1) // an unknown varint field is skipped
	out := make([]byte, 16)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(desc)))
	out = append(out, desc...)
	out = append(out, make([]byte, 2*600)...)
	tn, err := ReadFile(writeTmp(t, out))
	if err != nil {
		t.Fatal(err)
	}
	if tn.DType != FP16 || !slices.Equal(tn.Dims, dims) {
		t.Fatalf("got %s %v", tn.DType, tn.Dims)
	}
}

// FuzzDecode: arbitrary bytes never panic, and whatever decodes re-encodes to bytes that decode to the same tensor.
func FuzzDecode(f *testing.F) {
	f.Add(fp32([]int64{2, 3}))
	f.Add(fp32(nil))
	if raw, err := os.ReadFile("testdata/dtypes/lod2_float32"); err == nil {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tn, err := Decode(bytes.NewReader(b), int64(len(b)), "fuzz")
		tu, erru := Decode(bytes.NewReader(b), -1, "fuzz") // size unknown: same verdict, same tensor
		if (err == nil) != (erru == nil) || (err == nil && !bytes.Equal(tn.Data, tu.Data)) {
			t.Fatalf("known size: %v; unknown size: %v", err, erru)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		enc, err := Encode(tn)
		if err != nil {
			t.Fatal(err)
		}
		tn2, err := Decode(bytes.NewReader(enc), int64(len(enc)), "fuzz2")
		if err != nil {
			t.Fatal(err)
		}
		if tn2.DType != tn.DType || !slices.Equal(tn2.Dims, tn.Dims) || !bytes.Equal(tn2.Data, tn.Data) || len(tn2.LoD) != len(tn.LoD) {
			t.Fatal("round trip differs")
		}
		_, _ = tn.Float32s()
		_, _ = tn.Int64s()
	})
}
