// Package safetensors reads and writes the safetensors tensor file format
// (https://github.com/huggingface/safetensors) in pure Go.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON header,
// then a byte buffer. The header maps each tensor name to its dtype, shape and
// [begin, end) offsets into the buffer; an optional "__metadata__" entry holds
// string-to-string metadata. Readers here validate every header field, the
// offsets (in range, no overlap, no holes, covering the whole buffer) and that
// each tensor's byte size equals prod(shape)*element size, and report the file
// and tensor name in every error. Writers produce files the reference Python and
// Rust implementations accept: names sorted, data contiguous in name order,
// header padded with spaces to a multiple of 8 bytes.
package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rocketqa-go/rocketqa/dataset"
)

// MaxHeaderSize is the largest JSON header accepted when reading (the limit of
// the reference implementation).
const MaxHeaderSize = 100_000_000

// elemSizes maps the supported dtype names to their element sizes in bytes.
// The documented set is F32, F16, BF16, F64, I64, I32, I8, U8 and BOOL; I16, U16
// and U32 are also accepted since they convert losslessly to int64.
var elemSizes = map[string]int64{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1,
	"U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}

// ElemSize returns the size in bytes of one element of dtype, and false when
// the dtype is not supported.
func ElemSize(dtype string) (int64, bool) {
	n, ok := elemSizes[dtype]
	return n, ok
}

// Tensor is one named tensor: its dtype name (as written in safetensors
// headers: "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL"), its
// shape (empty for a scalar) and its row-major little-endian data.
type Tensor struct {
	Name  string
	DType string
	Shape []int64
	Data  []byte
}

// File is the content of a safetensors file.
type File struct {
	// Metadata is the header's "__metadata__" map (nil when absent).
	Metadata map[string]string
	// Tensors are the file's tensors sorted by name.
	Tensors []Tensor
}

// Get returns the tensor called name.
func (f *File) Get(name string) (*Tensor, bool) {
	i := sort.Search(len(f.Tensors), func(i int) bool { return f.Tensors[i].Name >= name })
	if i < len(f.Tensors) && f.Tensors[i].Name == name {
		return &f.Tensors[i], true
	}
	// Tensors may have been appended out of order by a caller: fall back to a scan.
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// NumElements returns the product of the shape (1 for a scalar), or -1 if a
// dimension is negative or the product overflows int64.
func (t *Tensor) NumElements() int64 {
	n, ok := numElements(t.Shape)
	if !ok {
		return -1
	}
	return n
}

func numElements(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// check verifies the dtype and that len(Data) matches the shape.
func (t *Tensor) check() error {
	es, ok := elemSizes[t.DType]
	if !ok {
		return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
	}
	n, ok := numElements(t.Shape)
	if !ok || n > math.MaxInt64/es {
		return fmt.Errorf("tensor %q: invalid shape %v", t.Name, t.Shape)
	}
	if int64(len(t.Data)) != n*es {
		return fmt.Errorf("tensor %q: %s shape %v needs %d bytes, data has %d", t.Name, t.DType, t.Shape, n*es, len(t.Data))
	}
	return nil
}

// Float32s decodes the data of an F32, F16, BF16 or F64 tensor as float32
// (F64 values are rounded to the nearest float32).
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	d := t.Data
	switch t.DType {
	case "F32":
		out := make([]float32, len(d)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
		return out, nil
	case "F16":
		out := make([]float32, len(d)/2)
		for i := range out {
			out[i] = HalfToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
		return out, nil
	case "BF16":
		out := make([]float32, len(d)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
		return out, nil
	case "F64":
		out := make([]float32, len(d)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q: dtype %s is not a floating-point type", t.Name, t.DType)
}

// Int64s decodes the data of an I64, I32, I16, I8, U32, U16, U8 or BOOL tensor
// as int64 (BOOL gives 0 or 1).
func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	d := t.Data
	es := elemSizes[t.DType]
	var out []int64
	switch t.DType {
	case "I64", "I32", "I16", "I8", "U32", "U16", "U8", "BOOL":
		out = make([]int64, int64(len(d))/es)
	default:
		return nil, fmt.Errorf("tensor %q: dtype %s is not an integer type", t.Name, t.DType)
	}
	for i := range out {
		switch t.DType {
		case "I64":
			out[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
		case "I32":
			out[i] = int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
		case "I16":
			out[i] = int64(int16(binary.LittleEndian.Uint16(d[2*i:])))
		case "I8":
			out[i] = int64(int8(d[i]))
		case "U32":
			out[i] = int64(binary.LittleEndian.Uint32(d[4*i:]))
		case "U16":
			out[i] = int64(binary.LittleEndian.Uint16(d[2*i:]))
		case "U8":
			out[i] = int64(d[i])
		case "BOOL":
			if d[i] > 1 {
				return nil, fmt.Errorf("tensor %q: BOOL element %d has byte value %d", t.Name, i, d[i])
			}
			out[i] = int64(d[i])
		}
	}
	return out, nil
}

// HalfToFloat32 converts an IEEE 754 binary16 value to float32 exactly
// (including subnormals, infinities and NaN payloads).
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf / NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// subnormal: normalise
	e := uint32(113)
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

// F32 builds an F32 tensor from v (row-major). The length of v must match the
// shape; WriteFile reports a mismatch.
func F32(name string, shape []int64, v []float32) Tensor {
	d := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(d[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: "F32", Shape: append([]int64{}, shape...), Data: d}
}

// I64 builds an I64 tensor from v (row-major). The length of v must match the
// shape; WriteFile reports a mismatch.
func I64(name string, shape []int64, v []int64) Tensor {
	d := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(d[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: "I64", Shape: append([]int64{}, shape...), Data: d}
}

// ReadFile reads and validates the safetensors file at path, which must be a regular file (a directory or a
// FIFO is refused, the FIFO before its open blocks).
func ReadFile(path string) (*File, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return Read(f, st.Size(), path)
}

type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// Read reads and validates a safetensors file of size bytes from r; name is
// used in error messages (usually the file path).
func Read(r io.ReaderAt, size int64, name string) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("%s: not a safetensors file: %d bytes, need at least 8 for the header length", name, size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("%s: reading header length: %w", name, err)
	}
	hlen := binary.LittleEndian.Uint64(lenBuf[:])
	if hlen == 0 || hlen > MaxHeaderSize {
		return nil, fmt.Errorf("%s: invalid header length %d (must be 1..%d)", name, hlen, MaxHeaderSize)
	}
	if hlen > uint64(size-8) {
		return nil, fmt.Errorf("%s: header length %d exceeds file size %d (truncated file?)", name, hlen, size)
	}
	hdr := make([]byte, hlen)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", name, err)
	}
	meta, entries, err := parseHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dataStart := 8 + int64(hlen)
	dataLen := size - dataStart

	// Validate each entry and collect offsets.
	type span struct {
		name       string
		begin, end int64
	}
	tensors := make([]Tensor, 0, len(entries))
	spans := make([]span, 0, len(entries))
	for _, e := range entries {
		var h headerEntry
		if err := json.Unmarshal(e.raw, &h); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: invalid header entry: %v", name, e.name, err)
		}
		if h.DType == nil || h.Shape == nil || h.DataOffsets == nil {
			return nil, fmt.Errorf("%s: tensor %q: header entry needs dtype, shape and data_offsets", name, e.name)
		}
		es, ok := elemSizes[*h.DType]
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q: unknown dtype %q", name, e.name, *h.DType)
		}
		shape := *h.Shape
		n, ok := numElements(shape)
		if !ok || n > math.MaxInt64/es {
			return nil, fmt.Errorf("%s: tensor %q: invalid shape %v", name, e.name, shape)
		}
		off := *h.DataOffsets
		if len(off) != 2 {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets must have 2 entries, got %v", name, e.name, off)
		}
		if off[0] < 0 || off[1] < off[0] || off[1] > dataLen {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets %v out of range [0, %d] (truncated file?)", name, e.name, off, dataLen)
		}
		if off[1]-off[0] != n*es {
			return nil, fmt.Errorf("%s: tensor %q: %s shape %v needs %d bytes, data_offsets %v span %d", name, e.name, *h.DType, shape, n*es, off, off[1]-off[0])
		}
		if shape == nil {
			shape = []int64{}
		}
		tensors = append(tensors, Tensor{Name: e.name, DType: *h.DType, Shape: shape})
		spans = append(spans, span{e.name, off[0], off[1]})
	}

	// Offsets must tile the buffer: sorted by begin, each starts where the last ended.
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		sa, sb := spans[order[a]], spans[order[b]]
		if sa.begin != sb.begin {
			return sa.begin < sb.begin
		}
		return sa.end < sb.end
	})
	pos := int64(0)
	for _, i := range order {
		s := spans[i]
		if s.begin < pos {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets [%d, %d] overlap the previous tensor (which ends at %d)", name, s.name, s.begin, s.end, pos)
		}
		if s.begin > pos {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets [%d, %d] leave a hole after offset %d (data not contiguous)", name, s.name, s.begin, s.end, pos)
		}
		pos = s.end
	}
	if pos != dataLen {
		return nil, fmt.Errorf("%s: tensors cover %d bytes of data but the file has %d after the header", name, pos, dataLen)
	}

	buf := make([]byte, dataLen)
	if dataLen > 0 {
		if _, err := r.ReadAt(buf, dataStart); err != nil {
			return nil, fmt.Errorf("%s: reading tensor data: %w", name, err)
		}
	}
	for i := range tensors {
		s := spans[i]
		tensors[i].Data = buf[s.begin:s.end:s.end]
	}
	sort.Slice(tensors, func(a, b int) bool { return tensors[a].Name < tensors[b].Name })
	return &File{Metadata: meta, Tensors: tensors}, nil
}

type rawEntry struct {
	name string
	raw  json.RawMessage
}

// parseHeader parses the JSON header, rejecting duplicate keys.
func parseHeader(hdr []byte) (map[string]string, []rawEntry, error) {
	if !utf8.Valid(hdr) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	if hdr[0] != '{' {
		return nil, nil, errors.New("invalid JSON header: does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid JSON header: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("invalid JSON header: not an object")
	}
	var meta map[string]string
	var entries []rawEntry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON header: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("invalid JSON header: object key is not a string")
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("invalid JSON header: duplicate entry %q", key)
		}
		seen[key] = true
		if key == "" {
			return nil, nil, errors.New("invalid JSON header: empty tensor name")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON header: entry %q: %v", key, err)
		}
		if key == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("invalid JSON header: __metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		entries = append(entries, rawEntry{key, raw})
	}
	if _, err := dec.Token(); err != nil { // closing brace
		return nil, nil, fmt.Errorf("invalid JSON header: %v", err)
	}
	// Only whitespace may follow the object (writers pad with spaces).
	if strings.TrimRight(string(hdr[dec.InputOffset():]), " \t\r\n") != "" {
		return nil, nil, errors.New("invalid JSON header: trailing data after the object")
	}
	return meta, entries, nil
}

// encodeHeader validates tensors and returns the length-prefixed, padded
// header and the tensors in data order (sorted by name).
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, []*Tensor, error) {
	ts := make([]*Tensor, len(tensors))
	for i := range tensors {
		ts[i] = &tensors[i]
	}
	sort.SliceStable(ts, func(a, b int) bool { return ts[a].Name < ts[b].Name })
	hdr := map[string]any{}
	if len(metadata) > 0 {
		hdr["__metadata__"] = metadata
	}
	var off int64
	for i, t := range ts {
		if t.Name == "" {
			return nil, nil, errors.New("tensor with an empty name")
		}
		if t.Name == "__metadata__" {
			return nil, nil, errors.New(`tensor name "__metadata__" is reserved`)
		}
		if i > 0 && ts[i-1].Name == t.Name {
			return nil, nil, fmt.Errorf("duplicate tensor name %q", t.Name)
		}
		if err := t.check(); err != nil {
			return nil, nil, err
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		n := int64(len(t.Data))
		hdr[t.Name] = map[string]any{"dtype": t.DType, "shape": shape, "data_offsets": [2]int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return nil, nil, err
	}
	pad := (8 - len(js)%8) % 8
	out := make([]byte, 0, 8+len(js)+pad)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(js)+pad))
	out = append(out, js...)
	out = append(out, bytes.Repeat([]byte{' '}, pad)...)
	return out, ts, nil
}

// Encode serialises tensors (sorted by name, data in that order) and metadata
// into the safetensors byte format.
func Encode(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	hdr, ts, err := encodeHeader(tensors, metadata)
	if err != nil {
		return nil, err
	}
	n := len(hdr)
	for _, t := range ts {
		n += len(t.Data)
	}
	out := make([]byte, 0, n)
	out = append(out, hdr...)
	for _, t := range ts {
		out = append(out, t.Data...)
	}
	return out, nil
}

// WriteFile writes tensors and metadata to path atomically: the bytes are
// streamed to a temporary file in the same directory, which is synced and
// renamed over path.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	hdr, ts, err := encodeHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		for _, t := range ts {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it to path, so that path holds either its old content or all of data.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic streams write's bytes into path through the module's one atomic writer (dataset.CreateTemp and
// dataset.CommitTemp: a temporary file beside path, synced and renamed; path's directory must exist).
func writeAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := dataset.CreateTemp(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := dataset.CommitTemp(tmp, path); err != nil {
		return err
	}
	if perm != dataset.FileMode {
		return os.Chmod(path, perm)
	}
	return nil
}
