// Package paddle reads PaddlePaddle's per-variable tensor files, the format fluid.io.save_persistables and
// save_params write (one file per variable, named after it), in pure Go.
//
// The byte layout follows PaddlePaddle's own C++ source:
//
//   - paddle/fluid/framework/lod_tensor.cc, SerializeToStream / DeserializeFromStream: a uint32 LoDTensor version
//     (0), a uint64 number of LoD levels, then per level a uint64 byte size and that many bytes of size_t
//     offsets, then the tensor;
//   - paddle/fluid/framework/tensor_util.cc, TensorToStream / TensorFromStream: a uint32 tensor version (0), an
//     int32 byte size of the TensorDesc protobuf, the serialized TensorDesc, then numel * sizeof(dtype) bytes of
//     raw row-major data;
//   - paddle/fluid/framework/framework.proto, message VarType.TensorDesc { required Type data_type = 1; repeated
//     int64 dims = 2; } and the VarType.Type enum (BOOL 0, INT16 1, INT32 2, INT64 3, FP16 4, FP32 5, FP64 6,
//     UINT8 20, INT8 21, BF16 22, ...).
//
// Integers and data are written with the host's byte order by os.write of the raw memory; every platform
// Paddle ships for is little-endian, so this reader reads little-endian. A file holds exactly one tensor
// (trailing bytes are an error, as are a truncated stream, an unknown dtype, negative dims or a size that does
// not match the data). Every error names the file.
package paddle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/rocketqa-go/rocketqa/safetensors"
)

// DType is a VarType.Type value of framework.proto.
type DType int32

// The VarType.Type values that can be a tensor's data_type.
const (
	Bool       DType = 0
	Int16      DType = 1
	Int32      DType = 2
	Int64      DType = 3
	FP16       DType = 4
	FP32       DType = 5
	FP64       DType = 6
	SizeT      DType = 19
	Uint8      DType = 20
	Int8       DType = 21
	BF16       DType = 22
	Complex64  DType = 23
	Complex128 DType = 24
)

var dtypeInfo = map[DType]struct {
	name string
	size int64
}{
	Bool: {"bool", 1}, Int16: {"int16", 2}, Int32: {"int32", 4}, Int64: {"int64", 8}, FP16: {"float16", 2},
	FP32: {"float32", 4}, FP64: {"float64", 8}, SizeT: {"size_t", 8}, Uint8: {"uint8", 1}, Int8: {"int8", 1},
	BF16: {"bfloat16", 2}, Complex64: {"complex64", 8}, Complex128: {"complex128", 16},
}

// String returns the dtype's name ("float32", ...) or "dtype(N)" for an unknown value.
func (d DType) String() string {
	if i, ok := dtypeInfo[d]; ok {
		return i.name
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size returns the size in bytes of one element, and false for a value that is not a tensor dtype.
func (d DType) Size() (int64, bool) {
	i, ok := dtypeInfo[d]
	return i.size, ok
}

// MaxDescSize bounds the TensorDesc message; real ones are a few dozen bytes.
const MaxDescSize = 1 << 20

// maxRank bounds the number of dims (Paddle's DDim allows 9).
const maxRank = 64

// Tensor is one deserialized variable.
type Tensor struct {
	Name  string // the variable name (the file's base name when read with ReadFile)
	DType DType
	Dims  []int64    // empty for a scalar
	LoD   [][]uint64 // level offsets; empty for parameters
	Data  []byte     // row-major, little-endian, numel * element size bytes
}

// NumElements returns the product of the dims (1 for a scalar).
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// checkedProduct is the product of dims and false when a dim is negative or a partial product (or its size in
// bytes of sz-byte elements) overflows int64: the check Decode makes.
func checkedProduct(dims []int64, sz int64) (int64, bool) {
	n := int64(1)
	for _, x := range dims {
		if x < 0 || (x != 0 && n > math.MaxInt64/x) {
			return 0, false
		}
		n *= x
	}
	return n, sz <= 0 || n <= math.MaxInt64/sz
}

// checkedNumElements is NumElements after a check that Data holds that many elements of DType.
func (t *Tensor) checkedNumElements() (int64, error) {
	sz, _ := t.DType.Size()
	n, ok := checkedProduct(t.Dims, sz)
	if !ok {
		return 0, fmt.Errorf("paddle: %s: dims %v: negative, or the size overflows", t.Name, t.Dims)
	}
	if int64(len(t.Data)) != n*sz {
		return 0, fmt.Errorf("paddle: %s: %d data bytes for %d elements of %s", t.Name, len(t.Data), n, t.DType)
	}
	return n, nil
}

// Float32s converts the data of a floating-point tensor (float32, float16, bfloat16, float64) to float32.
func (t *Tensor) Float32s() ([]float32, error) {
	n, err := t.checkedNumElements()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	b := t.Data
	switch t.DType {
	case FP32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case FP16:
		for i := range out {
			out[i] = safetensors.HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case FP64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		return nil, fmt.Errorf("paddle: %s: dtype %s is not a floating-point type", t.Name, t.DType)
	}
	return out, nil
}

// Int64s converts the data of an integer or bool tensor to int64.
func (t *Tensor) Int64s() ([]int64, error) {
	n, err := t.checkedNumElements()
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	b := t.Data
	for i := range out {
		switch t.DType {
		case Bool, Uint8:
			out[i] = int64(b[i])
		case Int8:
			out[i] = int64(int8(b[i]))
		case Int16:
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case Int32:
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case Int64, SizeT:
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		default:
			return nil, fmt.Errorf("paddle: %s: dtype %s is not an integer type", t.Name, t.DType)
		}
	}
	return out, nil
}

// ReadFile reads one variable file; the tensor is named after the file's base name.
func ReadFile(path string) (*Tensor, error) {
	// refuse a FIFO before open(2), which would block until a writer comes (checked again on the open file)
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("paddle: %s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("paddle: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("paddle: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("paddle: %s: not a regular file", path)
	}
	t, err := Decode(io.LimitReader(f, st.Size()+1), st.Size(), path)
	if err != nil {
		return nil, err
	}
	t.Name = baseName(path)
	return t, nil
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == os.PathSeparator {
			return p[i+1:]
		}
	}
	return p
}

// Decode reads one serialized LoDTensor from r, which holds size bytes (the data length is checked against it
// before anything large is allocated; pass -1 when unknown). file names the source in errors and becomes the
// tensor's Name.
func Decode(r io.Reader, size int64, file string) (*Tensor, error) {
	d := &decoder{r: r, file: file, left: size}
	t, err := d.tensor()
	if err != nil {
		return nil, err
	}
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n > 0 {
		return nil, fmt.Errorf("paddle: %s: trailing bytes after the tensor data at offset %d (a file holds one variable; a combined params file needs the program to split it)", file, d.off)
	}
	t.Name = file
	return t, nil
}

type decoder struct {
	r    io.Reader
	file string
	off  int64
	left int64 // bytes left in the input, -1 when unknown
}

func (d *decoder) errf(format string, a ...any) error {
	return fmt.Errorf("paddle: %s: offset %d: %s", d.file, d.off, fmt.Sprintf(format, a...))
}

func (d *decoder) read(n int64, what string) ([]byte, error) {
	if n < 0 || (d.left >= 0 && n > d.left) {
		have := d.left
		return nil, d.errf("truncated: %s needs %d bytes, the file has %d left", what, n, have)
	}
	var buf []byte
	if d.left >= 0 {
		buf = make([]byte, n)
		if _, err := io.ReadFull(d.r, buf); err != nil {
			return nil, d.errf("truncated while reading %s: %v", what, err)
		}
	} else {
		var b bytes.Buffer
		m, err := io.CopyN(&b, d.r, n)
		if err != nil {
			return nil, d.errf("truncated while reading %s (%d of %d bytes): %v", what, m, n, err)
		}
		buf = b.Bytes()
	}
	d.off += n
	if d.left >= 0 {
		d.left -= n
	}
	return buf, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.read(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.read(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) tensor() (*Tensor, error) {
	// lod_tensor.cc: uint32 version, uint64 lod_level, levels
	v, err := d.u32("the LoDTensor version")
	if err != nil {
		return nil, err
	}
	if v != 0 {
		return nil, d.errf("LoDTensor version %d (only version 0 exists)", v)
	}
	levels, err := d.u64("the number of LoD levels")
	if err != nil {
		return nil, err
	}
	if levels > 64 {
		return nil, d.errf("%d LoD levels (corrupt header?)", levels)
	}
	t := &Tensor{}
	for i := uint64(0); i < levels; i++ {
		n, err := d.u64(fmt.Sprintf("the byte size of LoD level %d", i))
		if err != nil {
			return nil, err
		}
		if n%8 != 0 || n > math.MaxInt64 {
			return nil, d.errf("LoD level %d has %d bytes, not a whole number of 8-byte offsets", i, n)
		}
		b, err := d.read(int64(n), fmt.Sprintf("LoD level %d", i))
		if err != nil {
			return nil, err
		}
		lv := make([]uint64, n/8)
		for j := range lv {
			lv[j] = binary.LittleEndian.Uint64(b[8*j:])
		}
		t.LoD = append(t.LoD, lv)
	}
	// tensor_util.cc: uint32 version, int32 desc size, TensorDesc, data
	if v, err = d.u32("the tensor version"); err != nil {
		return nil, err
	}
	if v != 0 {
		return nil, d.errf("tensor version %d (only version 0 exists)", v)
	}
	ds, err := d.u32("the TensorDesc size")
	if err != nil {
		return nil, err
	}
	if int32(ds) < 0 || ds > MaxDescSize {
		return nil, d.errf("TensorDesc size %d out of range", int32(ds))
	}
	descOff := d.off
	desc, err := d.read(int64(ds), "the TensorDesc")
	if err != nil {
		return nil, err
	}
	dt, dims, err := parseDesc(desc)
	if err != nil {
		return nil, fmt.Errorf("paddle: %s: TensorDesc at offset %d: %w", d.file, descOff, err)
	}
	sz, ok := dt.Size()
	if !ok {
		return nil, fmt.Errorf("paddle: %s: unknown dtype %d in the TensorDesc (known: bool, int8/16/32/64, uint8, float16/32/64, bfloat16, complex64/128)", d.file, int32(dt))
	}
	t.DType, t.Dims = dt, dims
	n := int64(1)
	for _, x := range dims {
		if x < 0 {
			return nil, fmt.Errorf("paddle: %s: dims %v: a saved tensor cannot have a negative dim", d.file, dims)
		}
		if x != 0 && n > math.MaxInt64/x {
			return nil, fmt.Errorf("paddle: %s: dims %v overflow", d.file, dims)
		}
		n *= x
	}
	if n > math.MaxInt64/sz {
		return nil, fmt.Errorf("paddle: %s: dims %v overflow", d.file, dims)
	}
	if t.Data, err = d.read(n*sz, fmt.Sprintf("the data of a %s tensor %v", dt, dims)); err != nil {
		return nil, err
	}
	return t, nil
}

var errTruncatedVarint = errors.New("truncated varint")

func varint(b []byte) (uint64, int, error) {
	var x uint64
	for i := 0; i < len(b) && i < 10; i++ {
		x |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return x, i + 1, nil
		}
	}
	if len(b) >= 10 {
		return 0, 0, errors.New("varint longer than 10 bytes")
	}
	return 0, 0, errTruncatedVarint
}

// parseDesc decodes a VarType.TensorDesc message: field 1 data_type (varint enum), field 2 dims (int64, unpacked
// as proto2 writes it, or packed). Unknown fields are skipped by wire type.
func parseDesc(b []byte) (DType, []int64, error) {
	var dt int64 = -1
	dims := []int64{}
	for len(b) > 0 {
		key, n, err := varint(b)
		if err != nil {
			return 0, nil, fmt.Errorf("field key: %w", err)
		}
		b = b[n:]
		field, wire := key>>3, key&7
		switch {
		case field == 1 && wire == 0:
			v, n, err := varint(b)
			if err != nil {
				return 0, nil, fmt.Errorf("data_type: %w", err)
			}
			b = b[n:]
			dt = int64(int32(v))
		case field == 2 && wire == 0:
			v, n, err := varint(b)
			if err != nil {
				return 0, nil, fmt.Errorf("dims: %w", err)
			}
			b = b[n:]
			dims = append(dims, int64(v))
		case field == 2 && wire == 2:
			l, n, err := varint(b)
			if err != nil || l > uint64(len(b)-n) {
				return 0, nil, errors.New("packed dims: bad length")
			}
			p := b[n : n+int(l)]
			b = b[n+int(l):]
			for len(p) > 0 {
				v, m, err := varint(p)
				if err != nil {
					return 0, nil, fmt.Errorf("packed dims: %w", err)
				}
				p = p[m:]
				dims = append(dims, int64(v))
			}
		default:
			var skip int
			switch wire {
			case 0:
				_, m, err := varint(b)
				if err != nil {
					return 0, nil, fmt.Errorf("field %d: %w", field, err)
				}
				skip = m
			case 1:
				skip = 8
			case 2:
				l, m, err := varint(b)
				if err != nil || l > uint64(len(b)-m) {
					return 0, nil, fmt.Errorf("field %d: bad length", field)
				}
				skip = m + int(l)
			case 5:
				skip = 4
			default:
				return 0, nil, fmt.Errorf("field %d: unsupported wire type %d", field, wire)
			}
			if skip > len(b) {
				return 0, nil, fmt.Errorf("field %d: truncated", field)
			}
			b = b[skip:]
		}
		if len(dims) > maxRank {
			return 0, nil, fmt.Errorf("more than %d dims", maxRank)
		}
	}
	if dt < 0 {
		return 0, nil, errors.New("no data_type (a required field)")
	}
	return DType(dt), dims, nil
}

// Encode serializes t as SerializeToStream does (version 0, its LoD, version 0, the TensorDesc with dims
// unpacked, the data). It checks that the data size matches the dims and dtype.
func Encode(t *Tensor) ([]byte, error) {
	sz, ok := t.DType.Size()
	if !ok {
		return nil, fmt.Errorf("paddle: %s: unknown dtype %d", t.Name, int32(t.DType))
	}
	for _, d := range t.Dims {
		if d < 0 {
			return nil, fmt.Errorf("paddle: %s: negative dim in %v", t.Name, t.Dims)
		}
	}
	n, ok := checkedProduct(t.Dims, sz)
	if !ok {
		return nil, fmt.Errorf("paddle: %s: dims %v overflow", t.Name, t.Dims)
	}
	if int64(len(t.Data)) != n*sz {
		return nil, fmt.Errorf("paddle: %s: %d data bytes for %v %s", t.Name, len(t.Data), t.Dims, t.DType)
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write(le.AppendUint32(nil, 0))
	b.Write(le.AppendUint64(nil, uint64(len(t.LoD))))
	for _, lv := range t.LoD {
		b.Write(le.AppendUint64(nil, uint64(8*len(lv))))
		for _, x := range lv {
			b.Write(le.AppendUint64(nil, x))
		}
	}
	b.Write(le.AppendUint32(nil, 0))
	desc := binary.AppendUvarint([]byte{0x08}, uint64(uint32(t.DType)))
	if t.DType < 0 {
		desc = binary.AppendUvarint([]byte{0x08}, uint64(int64(t.DType)))
	}
	for _, d := range t.Dims {
		desc = binary.AppendUvarint(append(desc, 0x10), uint64(d))
	}
	b.Write(le.AppendUint32(nil, uint32(len(desc))))
	b.Write(desc)
	b.Write(t.Data)
	return b.Bytes(), nil
}
