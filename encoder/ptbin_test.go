package encoder

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/safetensors"
)

func TestReadPytorchBinFixtures(t *testing.T) {
	for _, c := range []struct{ bin, expected string }{
		{"mixed.bin", "mixed.expected.safetensors"},
		{"module.bin", "module.expected.safetensors"},
		{"proto4.bin", "module.expected.safetensors"},
	} {
		t.Run(c.bin, func(t *testing.T) {
			got, err := ReadPytorchBin(filepath.Join("testdata", "ptbin", c.bin))
			require.NoError(t, err)
			exp, err := safetensors.ReadFile(filepath.Join("testdata", "ptbin", c.expected))
			require.NoError(t, err)
			order := strings.Split(exp.Metadata["order"], ",")
			names := make([]string, len(got))
			for i, tt := range got {
				names[i] = tt.Name
			}
			assert.Equal(t, order, names, "state dict order")
			for _, g := range got {
				w, ok := exp.Get(g.Name)
				require.True(t, ok, g.Name)
				assert.Equal(t, w.DType, g.DType, g.Name)
				assert.Equal(t, w.Shape, g.Shape, g.Name)
				assert.True(t, bytes.Equal(w.Data, g.Data), "%s: data differs", g.Name)
			}
		})
	}
	// Spot-check decoded values of the tricky views against the expected file's values.
	got, err := ReadPytorchBin(filepath.Join("testdata", "ptbin", "mixed.bin"))
	require.NoError(t, err)
	byName := map[string]safetensors.Tensor{}
	for _, g := range got {
		byName[g.Name] = g
	}
	tr := byName["transposed"]
	assert.Equal(t, []int64{5, 3}, tr.Shape)
	pos := byName["position_ids"]
	v, err := pos.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 1, 2, 3, 4, 5}, v)
	a, b := byName["shared_a"], byName["shared_b"]
	av, _ := a.Float32s()
	bv, _ := b.Float32s()
	// shared_a = base[0:2] (2x3), shared_b = base[1:].t() (3x3): base[1][j] is shared_a[3+j] and shared_b[j][0].
	for j := 0; j < 3; j++ {
		assert.Equal(t, av[3+j], bv[3*j], "shared storage element base[1][%d]", j)
	}
	i8t, boolt := byName["i8"], byName["bool"]
	i8, _ := i8t.Int64s()
	assert.Equal(t, []int64{-128, 5, 127}, i8)
	bo, _ := boolt.Int64s()
	assert.Equal(t, []int64{1, 0, 1, 1}, bo)
	assert.Equal(t, []int64{}, byName["scalar"].Shape)
	assert.Equal(t, []int64{0, 4}, byName["empty"].Shape)
}

func TestReadPytorchBinLegacy(t *testing.T) {
	p := filepath.Join("testdata", "ptbin", "legacy.bin")
	_, err := ReadPytorchBin(p)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, p+": legacy (non-zip) torch.save format is not supported")
	assert.Contains(t, msg, `/usr/bin/python3 -c "import torch; torch.save(torch.load('`+p+`', map_location='cpu'), '`+p+`.zip')" && mv '`+p+`.zip' '`+p+`'`)
}

// zipWith writes a zip archive with the given entries (in order).
func zipWith(t *testing.T, entries [][2]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Store})
		require.NoError(t, err)
		_, err = w.Write([]byte(e[1]))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	p := filepath.Join(t.TempDir(), "x.bin")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

// zipEntries returns the entries of a zip file.
func zipEntries(t *testing.T, path string) [][2]string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	var out [][2]string
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		out = append(out, [2]string{f.Name, string(b)})
	}
	return out
}

func TestReadPytorchBinErrors(t *testing.T) {
	src := filepath.Join("testdata", "ptbin", "mixed.bin")
	raw, err := os.ReadFile(src)
	require.NoError(t, err)
	dir := t.TempDir()

	trunc := filepath.Join(dir, "trunc.bin")
	require.NoError(t, os.WriteFile(trunc, raw[:len(raw)/2], 0o644))
	_, err = ReadPytorchBin(trunc)
	assert.ErrorContains(t, err, trunc+": not a valid zip archive (truncated file?)")

	text := filepath.Join(dir, "text.bin")
	require.NoError(t, os.WriteFile(text, []byte("hello, not a checkpoint"), 0o644))
	_, err = ReadPytorchBin(text)
	assert.ErrorContains(t, err, text+": not a PyTorch checkpoint")

	empty := filepath.Join(dir, "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = ReadPytorchBin(empty)
	assert.ErrorContains(t, err, "not a PyTorch checkpoint")

	_, err = ReadPytorchBin(filepath.Join(dir, "missing.bin"))
	assert.Error(t, err)

	entries := zipEntries(t, src)
	var pkl string
	var without [][2]string
	for _, e := range entries {
		if strings.HasSuffix(e[0], "/data.pkl") {
			pkl = e[0]
		}
		if !strings.HasSuffix(e[0], "/data/0") {
			without = append(without, e)
		}
	}
	require.NotEmpty(t, pkl)
	prefix := strings.TrimSuffix(pkl, "data.pkl")

	p := zipWith(t, without)
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, p+": missing zip entry "+prefix+"data/0")

	var short [][2]string
	for _, e := range entries {
		if e[0] == prefix+"data/0" {
			e[1] = e[1][:len(e[1])-4]
		}
		short = append(short, e)
	}
	p = zipWith(t, short)
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, "storage 0 holds")

	p = zipWith(t, [][2]string{{"archive/version", "3\n"}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, p+": zip archive has 0 <archive>/data.pkl entries")

	p = zipWith(t, [][2]string{{"archive/data.pkl", "x"}, {"archive/constants.pkl", "x"}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, "TorchScript archive")

	p = zipWith(t, [][2]string{{"archive/data.pkl", "\x80\x02(I1\n."}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, p+": archive/data.pkl: pickle opcode INT (0x49) at offset 3: opcode not supported")

	p = zipWith(t, [][2]string{{"archive/data.pkl", "\x80\x02]q\x00."}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, "top-level object is list of length 0, want a dict of tensors")

	p = zipWith(t, [][2]string{{"archive/data.pkl", "\x80\x02}q\x00(X\x05\x00\x00\x00epochK\x03u."}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, `state dict entry "epoch" is int 3, not a tensor`)

	p = zipWith(t, [][2]string{{"archive/data.pkl", "\x80\x02}q\x00(X\x01\x00\x00\x00a"}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, "without STOP")

	p = zipWith(t, [][2]string{{"archive/data.pkl", "\x80\x02}(X\x01\x00\x00\x00ac__main__\nEvil\n)Ru."}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, `state dict entry "a" is object __main__.Evil(...), not a tensor`)

	p = zipWith(t, [][2]string{{"archive/byteorder", "middle"}, {"archive/data.pkl", "\x80\x02}."}})
	_, err = ReadPytorchBin(p)
	assert.ErrorContains(t, err, `unknown byteorder "middle"`)
}

// pickleTensor builds a protocol-2 pickle of {name: tensor} with one storage,
// as torch.save would, with the given size, stride and offset.
func pickleTensor(name, storageType string, numel int, offset int, size, stride []int) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(")
	b.WriteByte('X')
	b.Write([]byte{byte(len(name)), 0, 0, 0})
	b.WriteString(name)
	b.WriteString("ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storageq\x03ctorch\n" + storageType + "\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06")
	b.WriteString("J")
	b.Write([]byte{byte(numel), byte(numel >> 8), 0, 0})
	b.WriteString("tq\x07QJ")
	b.Write([]byte{byte(offset), 0, 0, 0})
	b.WriteString("(")
	for _, s := range size {
		b.WriteString("J")
		b.Write([]byte{byte(s), byte(s >> 8), 0, 0})
	}
	b.WriteString("t(")
	for _, s := range stride {
		b.WriteString("J")
		b.Write([]byte{byte(s), byte(s >> 8), 0, 0})
	}
	b.WriteString("t\x89ccollections\nOrderedDict\n)Rtq\x08Rq\x09u.")
	return b.Bytes()
}

func TestPickleViews(t *testing.T) {
	// A 2x3 float storage 0..5.
	st := &storage{key: "0", dtype: "F32", numel: 6, data: safetensors.F32("", nil, []float32{0, 1, 2, 3, 4, 5}).Data}
	load := func(pid any) (any, error) { return st, nil }
	cases := []struct {
		name           string
		offset         int
		size, stride   []int
		want           []float32
		wantErr        string
		storageElemTyp string
	}{
		{name: "contiguous", size: []int{2, 3}, stride: []int{3, 1}, want: []float32{0, 1, 2, 3, 4, 5}},
		{name: "transposed", size: []int{3, 2}, stride: []int{1, 3}, want: []float32{0, 3, 1, 4, 2, 5}},
		{name: "offset slice", offset: 4, size: []int{2}, stride: []int{1}, want: []float32{4, 5}},
		{name: "column", offset: 1, size: []int{2}, stride: []int{3}, want: []float32{1, 4}},
		{name: "broadcast row", size: []int{1, 6}, stride: []int{0, 1}, want: []float32{0, 1, 2, 3, 4, 5}},
		{name: "past end", offset: 5, size: []int{2}, stride: []int{1}, wantErr: "view exceeds its storage (last element 6)"},
		{name: "expanded", size: []int{4, 3}, stride: []int{0, 1}, wantErr: "more elements than its storage"},
		{name: "rank mismatch", size: []int{6}, stride: []int{1, 1}, wantErr: "differ in length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, err := stateDictFromPickle(pickleTensor("w", "FloatStorage", 6, c.offset, c.size, c.stride), load, false)
			if c.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, ts, 1)
			assert.Equal(t, "w", ts[0].Name)
			v, err := ts[0].Float32s()
			require.NoError(t, err)
			assert.Equal(t, c.want, v)
		})
	}
	// Big-endian archives are byte-swapped.
	be := &storage{key: "0", dtype: "I32", numel: 2, data: []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe}}
	ts, err := stateDictFromPickle(pickleTensor("w", "IntStorage", 2, 0, []int{2}, []int{1}),
		func(any) (any, error) { return be, nil }, true)
	require.NoError(t, err)
	v, err := ts[0].Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{1, -2}, v)
}

func TestParseStoragePID(t *testing.T) {
	key, dtype, n, err := parseStoragePID(pyTuple{"storage", pyGlobal{"torch", "HalfStorage"}, "12", "cuda:0", int64(9)})
	require.NoError(t, err)
	assert.Equal(t, "12", key)
	assert.Equal(t, "F16", dtype)
	assert.Equal(t, int64(9), n)
	for _, bad := range []struct {
		pid  any
		want string
	}{
		{"x", "is not a ('storage'"},
		{pyTuple{"module", pyGlobal{"torch", "FloatStorage"}, "0", "cpu", int64(1)}, "persistent id kind"},
		{pyTuple{"storage", pyGlobal{"torch", "ComplexFloatStorage"}, "0", "cpu", int64(1)}, "torch.ComplexFloatStorage is not supported"},
		{pyTuple{"storage", pyGlobal{"os", "system"}, "0", "cpu", int64(1)}, "not a torch storage class"},
		{pyTuple{"storage", pyGlobal{"torch", "FloatStorage"}, "../x", "cpu", int64(1)}, "invalid storage key"},
		{pyTuple{"storage", pyGlobal{"torch", "FloatStorage"}, "0", "cpu", int64(-1)}, "invalid storage size"},
	} {
		_, _, _, err := parseStoragePID(bad.pid)
		assert.ErrorContains(t, err, bad.want)
	}
}

// fuzzLoad serves small zero-filled storages for any well-formed persistent id.
func fuzzLoad(pid any) (any, error) {
	key, dtype, numel, err := parseStoragePID(pid)
	if err != nil {
		return nil, err
	}
	if numel > 4096 {
		numel = 4096
	}
	es, _ := safetensors.ElemSize(dtype)
	return &storage{key: key, dtype: dtype, numel: numel, data: make([]byte, numel*es)}, nil
}

func FuzzUnpickle(f *testing.F) {
	for _, name := range []string{"mixed.bin", "module.bin", "proto4.bin"} {
		zr, err := zip.OpenReader(filepath.Join("testdata", "ptbin", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range zr.File {
			if strings.HasSuffix(e.Name, "/data.pkl") {
				rc, _ := e.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				f.Add(b)
			}
		}
		zr.Close()
	}
	f.Add(pickleTensor("w", "FloatStorage", 6, 1, []int{2, 2}, []int{1, 2}))
	f.Add([]byte("\x80\x02}q\x00(X\x05\x00\x00\x00epochK\x03u."))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := stateDictFromPickle(data, fuzzLoad, false)
		if err != nil {
			return
		}
		for _, tt := range ts {
			n := tt.NumElements()
			es, ok := safetensors.ElemSize(tt.DType)
			if !ok || n < 0 || int64(len(tt.Data)) != n*es {
				t.Fatalf("tensor %q: inconsistent dtype %s shape %v data %d", tt.Name, tt.DType, tt.Shape, len(tt.Data))
			}
		}
	})
}

// TestPickleOpcodes runs the container opcodes (TUPLE2, SETITEM, SETITEMS, APPEND, APPENDS), the sized strings and
// bytes, STACK_GLOBAL and REDUCE on hand-written pickles: the values they build and the errors on a wrong target, an
// odd SETITEMS, a missing MARK, too few items or a truncated length.
func TestPickleOpcodes(t *testing.T) {
	run := func(p string) (any, error) {
		u := &unpickler{data: []byte("\x80\x02" + p), memo: map[int64]any{}}
		return u.run()
	}
	key := func(k string) string { return "X" + string([]byte{byte(len(k)), 0, 0, 0}) + k }
	cases := []struct {
		name, pickle string
		want         any
		wantErr      string
	}{
		{name: "TUPLE2", pickle: "K\x01K\x02\x86.", want: pyTuple{int64(1), int64(2)}},
		{name: "SETITEM", pickle: "}" + key("a") + "K\x01s" + key("b") + "K\x02s.",
			want: &pyDict{keys: []any{"a", "b"}, vals: []any{int64(1), int64(2)}, index: map[any]int{"a": 0, "b": 1}}},
		{name: "SETITEMS", pickle: "}(" + key("a") + "K\x01" + key("b") + "K\x02u.",
			want: &pyDict{keys: []any{"a", "b"}, vals: []any{int64(1), int64(2)}, index: map[any]int{"a": 0, "b": 1}}},
		{name: "APPEND and APPENDS", pickle: "]K\x01a(K\x02K\x03e.", want: &pyList{items: []any{int64(1), int64(2), int64(3)}}},
		{name: "SETITEM on a list", pickle: "]K\x01K\x02s.", wantErr: "SETITEM (0x73) at offset 7: SETITEM on list of length 0"},
		{name: "SETITEMS on a list", pickle: "](K\x01K\x02u.", wantErr: "SETITEMS on list of length 0"},
		{name: "odd SETITEMS", pickle: "}(K\x01u.", wantErr: "odd number of items (1)"},
		{name: "APPEND on a dict", pickle: "}K\x01a.", wantErr: "APPEND on dict of length 0"},
		{name: "APPENDS on a dict", pickle: "}(K\x01e.", wantErr: "APPENDS on dict of length 0"},
		{name: "SETITEM short", pickle: "K\x01s.", wantErr: "SETITEM (0x73) at offset 4: stack underflow"},
		{name: "SETITEM without a dict", pickle: "K\x01K\x02s.", wantErr: "SETITEM (0x73) at offset 6: stack underflow"},
		{name: "APPENDS without MARK", pickle: "]e.", wantErr: "APPENDS (0x65) at offset 3: no MARK on the stack"},
		{name: "SHORT_BINUNICODE", pickle: "\x8c\x02ab.", want: "ab"},
		{name: "BINUNICODE", pickle: key("ab") + ".", want: "ab"},
		{name: "SHORT_BINBYTES", pickle: "C\x02ab.", want: pyBytes("ab")},
		{name: "BINBYTES truncated length", pickle: "B\x02\x00", wantErr: "BINBYTES (0x42) at offset 2"},
		{name: "SHORT_BINUNICODE truncated", pickle: "\x8c\x05ab", wantErr: "SHORT_BINUNICODE (0x8c) at offset 2"},
		{name: "STACK_GLOBAL", pickle: key("torch") + key("Size") + "\x93.", want: pyGlobal{"torch", "Size"}},
		{name: "STACK_GLOBAL not strings", pickle: key("torch") + "K\x01\x93.",
			wantErr: "module and name must be strings, got str \"torch\" and int 1"},
		{name: "STACK_GLOBAL short", pickle: key("torch") + "\x93.", wantErr: "STACK_GLOBAL (0x93) at offset 12: stack underflow"},
		{name: "REDUCE", pickle: "ctorch\nSize\n(K\x02K\x03tR.", want: &pyCall{fn: pyGlobal{"torch", "Size"}, args: pyTuple{int64(2), int64(3)}}},
		{name: "REDUCE args not a tuple", pickle: "ctorch\nSize\nK\x02R.", wantErr: "arguments are int 2, want a tuple"},
		{name: "REDUCE callable not a global", pickle: "K\x01)R.", wantErr: "callable is int 1, want a global"},
		{name: "REDUCE short", pickle: ")R.", wantErr: "REDUCE (0x52) at offset 3: stack underflow"},
		{name: "TUPLE2 short", pickle: "K\x01\x86.", wantErr: "TUPLE2 (0x86) at offset 4: stack underflow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := run(c.pickle)
			if c.wantErr != "" {
				assert.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, v)
		})
	}
}
