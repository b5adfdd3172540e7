package encoder

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/rocketqa-go/rocketqa/safetensors"
)

// ReadPytorchBin reads the tensors of a zip-format `torch.save(state_dict)`
// file (a HuggingFace pytorch_model.bin), in the order they were saved.
//
// The file is a zip holding `<archive>/data.pkl`, a pickle (protocols 2-5)
// of a dict or collections.OrderedDict from names to tensors, and one
// `<archive>/data/<key>` entry per storage. Tensors are rebuilt from their
// storage, storage offset, size and stride (non-contiguous views and storages
// shared by several tensors are supported) and returned as contiguous
// little-endian data with safetensors dtype names. Nothing in the pickle is
// executed: only the handful of constructors torch.save uses are recognised.
//
// The legacy (pre-1.6, non-zip) torch.save format is refused with the Python
// command that converts it. TorchScript archives and files whose values are not
// all tensors are errors too.
func ReadPytorchBin(path string) ([]safetensors.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if n < 4 || string(magic[:2]) != "PK" {
		if n >= 2 && magic[0] == 0x80 && magic[1] <= 5 {
			return nil, fmt.Errorf("%s: legacy (non-zip) torch.save format is not supported; convert it once to the zip format with:\n"+
				"  /usr/bin/python3 -c \"import torch; torch.save(torch.load(%s, map_location='cpu'), %s)\" && mv %s %s",
				path, pyQuote(path), pyQuote(path+".zip"), shQuote(path+".zip"), shQuote(path))
		}
		return nil, fmt.Errorf("%s: not a PyTorch checkpoint (expected a zip archive written by torch.save)", path)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid zip archive (truncated file?): %v", path, err)
	}
	entries := map[string]*zip.File{}
	var pkl []string
	for _, e := range zr.File {
		entries[e.Name] = e
		if strings.HasSuffix(e.Name, "/data.pkl") && strings.Count(e.Name, "/") == 1 {
			pkl = append(pkl, e.Name)
		}
		if strings.HasSuffix(e.Name, "/constants.pkl") {
			return nil, fmt.Errorf("%s: this is a TorchScript archive (torch.jit.save), not a torch.save(state_dict) file", path)
		}
	}
	if len(pkl) != 1 {
		return nil, fmt.Errorf("%s: zip archive has %d <archive>/data.pkl entries, want 1 (not a torch.save file?)", path, len(pkl))
	}
	prefix := strings.TrimSuffix(pkl[0], "data.pkl")
	readEntry := func(name string, max int64) ([]byte, error) {
		e, ok := entries[name]
		if !ok {
			return nil, fmt.Errorf("%s: missing zip entry %s", path, name)
		}
		if max >= 0 && e.UncompressedSize64 > uint64(max) {
			return nil, fmt.Errorf("%s: zip entry %s is %d bytes, more than the %d expected", path, name, e.UncompressedSize64, max)
		}
		rc, err := e.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: zip entry %s: %v", path, name, err)
		}
		defer rc.Close()
		// Read exactly the declared size, then hit EOF so that the zip reader checks the CRC.
		b := make([]byte, e.UncompressedSize64)
		if _, err := io.ReadFull(rc, b); err != nil {
			return nil, fmt.Errorf("%s: reading zip entry %s: %v (truncated file?)", path, name, err)
		}
		if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			if err == nil || err == io.EOF {
				err = errors.New("more data than declared")
			}
			return nil, fmt.Errorf("%s: reading zip entry %s: %v", path, name, err)
		}
		return b, nil
	}
	bigEndian := false
	if _, ok := entries[prefix+"byteorder"]; ok {
		b, err := readEntry(prefix+"byteorder", 16)
		if err != nil {
			return nil, err
		}
		switch strings.TrimSpace(string(b)) {
		case "little":
		case "big":
			bigEndian = true
		default:
			return nil, fmt.Errorf("%s: unknown byteorder %q", path, b)
		}
	}
	data, err := readEntry(pkl[0], 1<<30)
	if err != nil {
		return nil, err
	}
	storages := map[string]*storage{}
	load := func(pid any) (any, error) {
		key, dtype, numel, err := parseStoragePID(pid)
		if err != nil {
			return nil, err
		}
		if s, ok := storages[key]; ok {
			if s.dtype != dtype {
				return nil, fmt.Errorf("storage %s used as both %s and %s", key, s.dtype, dtype)
			}
			return s, nil
		}
		es, _ := safetensors.ElemSize(dtype)
		if numel > math.MaxInt64/es {
			return nil, fmt.Errorf("storage %s: numel %d too large", key, numel)
		}
		b, err := readEntry(prefix+"data/"+key, numel*es)
		if err != nil {
			return nil, err
		}
		if int64(len(b)) != numel*es {
			return nil, fmt.Errorf("%s: storage %s holds %d bytes, want %d (%d x %s)", path, key, len(b), numel*es, numel, dtype)
		}
		s := &storage{key: key, dtype: dtype, numel: numel, data: b}
		storages[key] = s
		return s, nil
	}
	ts, err := stateDictFromPickle(data, load, bigEndian)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, pkl[0], err)
	}
	return ts, nil
}

// pyQuote quotes s as a Python single-quoted string literal.
func pyQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, `"`, `\"`).Replace(s) + "'"
}

// shQuote quotes s for a POSIX shell.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// storage is one torch storage: a typed flat buffer.
type storage struct {
	key   string
	dtype string
	numel int64
	data  []byte
	refs  int // tensors built on this storage
}

var storageDTypes = map[string]string{
	"FloatStorage": "F32", "DoubleStorage": "F64", "HalfStorage": "F16", "BFloat16Storage": "BF16",
	"LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
	"ByteStorage": "U8", "BoolStorage": "BOOL",
}

// parseStoragePID decodes torch.save's persistent id
// ('storage', storage_type, key, location, numel).
func parseStoragePID(pid any) (key, dtype string, numel int64, err error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return "", "", 0, fmt.Errorf("persistent id %s is not a ('storage', type, key, location, numel) tuple", describe(pid))
	}
	if s, _ := t[0].(string); s != "storage" {
		return "", "", 0, fmt.Errorf("persistent id kind %s, want 'storage'", describe(t[0]))
	}
	g, ok := t[1].(pyGlobal)
	if !ok || (g.module != "torch" && g.module != "torch.cuda") {
		return "", "", 0, fmt.Errorf("storage type %s is not a torch storage class", describe(t[1]))
	}
	dtype, ok = storageDTypes[g.name]
	if !ok {
		return "", "", 0, fmt.Errorf("storage type %s.%s is not supported", g.module, g.name)
	}
	key, ok = t[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return "", "", 0, fmt.Errorf("invalid storage key %s", describe(t[2]))
	}
	numel, ok = t[4].(int64)
	if !ok || numel < 0 {
		return "", "", 0, fmt.Errorf("invalid storage size %s", describe(t[4]))
	}
	return key, dtype, numel, nil
}

// stateDictFromPickle runs the pickle in data and converts the resulting dict
// of tensors to safetensors tensors, in insertion order.
func stateDictFromPickle(data []byte, load func(pid any) (any, error), bigEndian bool) ([]safetensors.Tensor, error) {
	u := &unpickler{data: data, memo: map[int64]any{}, persistentLoad: load}
	v, err := u.run()
	if err != nil {
		return nil, err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("top-level object is %s, want a dict of tensors (torch.save(model.state_dict()))", describe(v))
	}
	out := make([]safetensors.Tensor, 0, len(d.keys))
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("state dict key %s is not a string", describe(k))
		}
		tr, ok := d.vals[i].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("state dict entry %q is %s, not a tensor (save a flat state_dict: torch.save(model.state_dict()))", name, describe(d.vals[i]))
		}
		t, err := tr.materialize(name, bigEndian)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// tensorRef is a tensor as torch._utils._rebuild_tensor_v2 describes it.
type tensorRef struct {
	st     *storage
	offset int64
	size   []int64
	stride []int64
}

// materialize copies the (possibly strided) view into a contiguous tensor.
func (tr *tensorRef) materialize(name string, bigEndian bool) (safetensors.Tensor, error) {
	s := tr.st
	es, _ := safetensors.ElemSize(s.dtype)
	bad := func(format string, a ...any) (safetensors.Tensor, error) {
		return safetensors.Tensor{}, fmt.Errorf("tensor %q (size %v, stride %v, offset %d, storage %s of %d %s): %s",
			name, tr.size, tr.stride, tr.offset, s.key, s.numel, s.dtype, fmt.Sprintf(format, a...))
	}
	numel := int64(1)
	for _, d := range tr.size {
		if d < 0 {
			return bad("negative dimension")
		}
		if d != 0 && numel > math.MaxInt64/d {
			return bad("too many elements")
		}
		numel *= d
	}
	t := safetensors.Tensor{Name: name, DType: s.dtype, Shape: append([]int64{}, tr.size...)}
	if numel == 0 {
		t.Data = []byte{}
		return t, nil
	}
	if tr.offset < 0 {
		return bad("negative storage offset")
	}
	last := tr.offset
	for i, d := range tr.size {
		st := tr.stride[i]
		if st < 0 {
			return bad("negative stride")
		}
		if d > 1 && st > 0 {
			if st > (math.MaxInt64-last)/(d-1) {
				return bad("view exceeds its storage")
			}
			last += (d - 1) * st
		}
	}
	if last >= s.numel {
		return bad("view exceeds its storage (last element %d)", last)
	}
	if numel > s.numel {
		return bad("the tensor has more elements than its storage (an expanded view); save a contiguous copy (.contiguous() / .clone())")
	}
	contiguous := true
	want := int64(1)
	for i := len(tr.size) - 1; i >= 0; i-- {
		if tr.size[i] != 1 && tr.stride[i] != want {
			contiguous = false
			break
		}
		want *= tr.size[i]
	}
	// A contiguous tensor that is the only user of its whole storage takes the
	// storage's bytes without a copy (the common case: peak memory stays 1x).
	if contiguous && !bigEndian && tr.offset == 0 && numel == s.numel && s.refs == 1 {
		t.Data = s.data[: numel*es : numel*es]
		return t, nil
	}
	out := make([]byte, numel*es)
	if contiguous {
		copy(out, s.data[tr.offset*es:(tr.offset+numel)*es])
	} else {
		nd := len(tr.size)
		idx := make([]int64, nd)
		for o := int64(0); o < numel; o++ {
			src := tr.offset
			for i := 0; i < nd; i++ {
				src += idx[i] * tr.stride[i]
			}
			copy(out[o*es:(o+1)*es], s.data[src*es:(src+1)*es])
			for i := nd - 1; i >= 0; i-- {
				idx[i]++
				if idx[i] < tr.size[i] {
					break
				}
				idx[i] = 0
			}
		}
	}
	if bigEndian && es > 1 {
		for o := int64(0); o < int64(len(out)); o += es {
			e := out[o : o+es]
			for a, b := 0, len(e)-1; a < b; a, b = a+1, b-1 {
				e[a], e[b] = e[b], e[a]
			}
		}
	}
	t.Data = out
	return t, nil
}

// Python values produced by the unpickler.
type (
	pyTuple  []any
	pyBytes  []byte
	pyGlobal struct{ module, name string }
	pyList   struct{ items []any }
	pyDict   struct {
		keys, vals []any
		index      map[any]int
	}
	// pyCall is an object built by an unrecognised callable; it is kept as data
	// and only becomes an error if the state dict needs its value.
	pyCall struct {
		fn    pyGlobal
		args  pyTuple
		state any
	}
)

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, float64, nil:
	default:
		return fmt.Errorf("unsupported dict key %s", describe(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// describe names a value's Python type for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return fmt.Sprintf("bool %v", x)
	case int64:
		return fmt.Sprintf("int %d", x)
	case float64:
		return fmt.Sprintf("float %g", x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("str %q", x)
	case pyBytes:
		return fmt.Sprintf("bytes of length %d", len(x))
	case pyTuple:
		return fmt.Sprintf("tuple of length %d", len(x))
	case *pyList:
		return fmt.Sprintf("list of length %d", len(x.items))
	case *pyDict:
		return fmt.Sprintf("dict of length %d", len(x.keys))
	case pyGlobal:
		return fmt.Sprintf("global %s.%s", x.module, x.name)
	case *pyCall:
		return fmt.Sprintf("object %s.%s(...)", x.fn.module, x.fn.name)
	case *storage:
		return fmt.Sprintf("storage %s", x.key)
	case *tensorRef:
		return "tensor"
	case markType:
		return "mark"
	}
	return fmt.Sprintf("%T", v)
}

type markType struct{}

// unpickler is a minimal pickle virtual machine for torch.save's data.pkl.
type unpickler struct {
	data           []byte
	pos            int
	stack          []any
	metaStack      [][]any
	memo           map[int64]any
	persistentLoad func(pid any) (any, error)
}

var opNames = map[byte]string{
	'(': "MARK", '.': "STOP", '0': "POP", '1': "POP_MARK", '2': "DUP", 'F': "FLOAT", 'I': "INT", 'J': "BININT",
	'K': "BININT1", 'L': "LONG", 'M': "BININT2", 'N': "NONE", 'P': "PERSID", 'Q': "BINPERSID", 'R': "REDUCE",
	'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING", 'V': "UNICODE", 'X': "BINUNICODE", 'a': "APPEND",
	'b': "BUILD", 'c': "GLOBAL", 'd': "DICT", '}': "EMPTY_DICT", 'e': "APPENDS", 'g': "GET", 'h': "BINGET",
	'i': "INST", 'j': "LONG_BINGET", 'l': "LIST", ']': "EMPTY_LIST", 'o': "OBJ", 'p': "PUT", 'q': "BINPUT",
	'r': "LONG_BINPUT", 's': "SETITEM", 't': "TUPLE", ')': "EMPTY_TUPLE", 'u': "SETITEMS", 'G': "BINFLOAT",
	0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
	0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4", 'B': "BINBYTES",
	'C': "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 0x8e: "BINBYTES8", 0x8f: "EMPTY_SET",
	0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
	0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("unexpected end of pickle data at offset %d (need %d bytes)", u.pos, n)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readUint(n int) (uint64, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// readLen reads an n-byte little-endian length and checks it against the data left.
func (u *unpickler) readLen(n int) (int, error) {
	v, err := u.readUint(n)
	if err != nil {
		return 0, err
	}
	if v > uint64(len(u.data)-u.pos) {
		return 0, fmt.Errorf("length %d at offset %d runs past the end of the pickle", v, u.pos)
	}
	return int(v), nil
}

// readSized reads a w-byte little-endian length, then that many bytes.
func (u *unpickler) readSized(w int) ([]byte, error) {
	n, err := u.readLen(w)
	if err != nil {
		return nil, err
	}
	return u.read(n)
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", fmt.Errorf("unterminated line at offset %d", u.pos)
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popN pops the top n items, returned in stack order (a copy).
func (u *unpickler) popN(n int) ([]any, error) {
	if len(u.stack) < n {
		return nil, errors.New("stack underflow")
	}
	items := append([]any{}, u.stack[len(u.stack)-n:]...)
	u.stack = u.stack[:len(u.stack)-n]
	return items, nil
}

// containerOperands pops the operands of an opcode that adds to the container beneath them, which must be a C:
// the top n items for the one-shot forms (SETITEM, APPEND), everything since the last MARK for the batch forms
// (SETITEMS, APPENDS). The container stays on the stack.
func containerOperands[C any](u *unpickler, op byte, single bool, n int) (C, []any, error) {
	var c C
	var items []any
	var err error
	if single {
		items, err = u.popN(n)
	} else {
		items, err = u.popMark()
	}
	if err != nil {
		return c, nil, err
	}
	obj, err := u.top()
	if err != nil {
		return c, nil, err
	}
	c, ok := obj.(C)
	if !ok {
		return c, nil, fmt.Errorf("%s on %s", opNames[op], describe(obj))
	}
	return c, items, nil
}

func (u *unpickler) popMark() ([]any, error) {
	if len(u.metaStack) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	items := u.stack
	u.stack = u.metaStack[len(u.metaStack)-1]
	u.metaStack = u.metaStack[:len(u.metaStack)-1]
	return items, nil
}

func (u *unpickler) run() (any, error) {
	for {
		start := u.pos
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle ended at offset %d without STOP", u.pos)
		}
		op := u.data[u.pos]
		u.pos++
		if err := u.step(op); err != nil {
			if errors.Is(err, errStop) {
				v, err := u.pop()
				if err != nil {
					return nil, fmt.Errorf("STOP at offset %d: %w", start, err)
				}
				return v, nil
			}
			name := opNames[op]
			if name == "" {
				name = "unknown"
			}
			return nil, fmt.Errorf("pickle opcode %s (0x%02x) at offset %d: %w", name, op, start, err)
		}
	}
}

var errStop = errors.New("stop")

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		b, err := u.read(1)
		if err != nil {
			return err
		}
		if b[0] > 5 {
			return fmt.Errorf("unsupported pickle protocol %d", b[0])
		}
	case 0x95: // FRAME
		if _, err := u.readUint(8); err != nil {
			return err
		}
	case '.':
		return errStop
	case '(':
		u.metaStack = append(u.metaStack, u.stack)
		u.stack = nil
	case ')':
		u.push(pyTuple{})
	case 't':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(append([]any{}, items...)))
	case 0x85, 0x86, 0x87: // TUPLE1..3
		items, err := u.popN(int(op - 0x84))
		if err != nil {
			return err
		}
		u.push(pyTuple(items))
	case '}':
		u.push(newDict())
	case ']':
		u.push(&pyList{})
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'J':
		v, err := u.readUint(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(uint32(v))))
	case 'K':
		v, err := u.readUint(1)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case 'M':
		v, err := u.readUint(2)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case 0x8a, 0x8b: // LONG1, LONG4
		w := 1
		if op == 0x8b {
			w = 4
		}
		n, err := u.readLen(w)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		if n > 8 {
			return fmt.Errorf("integer of %d bytes does not fit in int64", n)
		}
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend
			v |= ^uint64(0) << (8 * uint(n))
		}
		u.push(int64(v))
	case 'G':
		b, err := u.read(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
		b, err := u.readSized(map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8, 'T': 4, 'U': 1}[op])
		if err != nil {
			return err
		}
		u.push(string(b))
	case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
		b, err := u.readSized(map[byte]int{'B': 4, 'C': 1, 0x8e: 8}[op])
		if err != nil {
			return err
		}
		u.push(pyBytes(append([]byte{}, b...)))
	case 'c': // GLOBAL
		mod, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		u.push(pyGlobal{mod, name})
	case 0x93: // STACK_GLOBAL
		items, err := u.popN(2)
		if err != nil {
			return err
		}
		mod, name := items[0], items[1]
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("module and name must be strings, got %s and %s", describe(mod), describe(name))
		}
		u.push(pyGlobal{ms, ns})
	case 'R', 0x81: // REDUCE, NEWOBJ
		items, err := u.popN(2)
		if err != nil {
			return err
		}
		fn, args := items[0], items[1]
		t, ok := args.(pyTuple)
		if !ok {
			return fmt.Errorf("arguments are %s, want a tuple", describe(args))
		}
		g, ok := fn.(pyGlobal)
		if !ok {
			return fmt.Errorf("callable is %s, want a global", describe(fn))
		}
		v, err := u.call(g, t)
		if err != nil {
			return err
		}
		u.push(v)
	case 'b': // BUILD
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *pyDict, *tensorRef: // OrderedDict's __dict__ (state_dict()._metadata), tensor attributes: not needed
		case *pyCall:
			o.state = state
		default:
			return fmt.Errorf("cannot set state on %s", describe(obj))
		}
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		if u.persistentLoad == nil {
			return errors.New("no persistent loader")
		}
		v, err := u.persistentLoad(pid)
		if err != nil {
			return err
		}
		u.push(v)
	case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
		v, err := u.top()
		if err != nil {
			return err
		}
		var idx uint64
		switch op {
		case 'q':
			idx, err = u.readUint(1)
		case 'r':
			idx, err = u.readUint(4)
		default:
			idx = uint64(len(u.memo))
		}
		if err != nil {
			return err
		}
		u.memo[int64(idx)] = v
	case 'h', 'j': // BINGET, LONG_BINGET
		w := 1
		if op == 'j' {
			w = 4
		}
		idx, err := u.readUint(w)
		if err != nil {
			return err
		}
		v, ok := u.memo[int64(idx)]
		if !ok {
			return fmt.Errorf("memo entry %d not defined", idx)
		}
		u.push(v)
	case 's', 'u': // SETITEM (one key and value), SETITEMS (pairs since the MARK)
		d, items, err := containerOperands[*pyDict](u, op, op == 's', 2)
		if err != nil {
			return err
		}
		if len(items)%2 != 0 {
			return fmt.Errorf("odd number of items (%d)", len(items))
		}
		for i := 0; i < len(items); i += 2 {
			if err := d.set(items[i], items[i+1]); err != nil {
				return err
			}
		}
	case 'a', 'e': // APPEND (one value), APPENDS (the values since the MARK)
		l, items, err := containerOperands[*pyList](u, op, op == 'a', 1)
		if err != nil {
			return err
		}
		l.items = append(l.items, items...)
	case '0': // POP
		if _, err := u.pop(); err != nil {
			return err
		}
	case '1': // POP_MARK
		if _, err := u.popMark(); err != nil {
			return err
		}
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	default:
		return errors.New("opcode not supported by this reader (torch.save files do not use it)")
	}
	return nil
}

// call applies one of the constructors that torch.save pickles use.
func (u *unpickler) call(g pyGlobal, args pyTuple) (any, error) {
	switch g.module + "." + g.name {
	case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
		if len(args) == 0 {
			return newDict(), nil
		}
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return rebuildTensor(args)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(args) < 1 {
			return nil, fmt.Errorf("%s.%s needs arguments", g.module, g.name)
		}
		if _, ok := args[0].(*tensorRef); !ok {
			return nil, fmt.Errorf("%s.%s: data is %s, not a tensor", g.module, g.name, describe(args[0]))
		}
		return args[0], nil
	case "_codecs.encode":
		if len(args) == 2 {
			if s, ok := args[0].(string); ok {
				// Python 3 pickles bytes in protocol 2 as _codecs.encode(str, 'latin1').
				b := make([]byte, 0, len(s))
				for _, r := range s {
					if r > 0xff {
						return nil, fmt.Errorf("_codecs.encode: character %U is not latin-1", r)
					}
					b = append(b, byte(r))
				}
				return pyBytes(b), nil
			}
		}
	}
	return &pyCall{fn: g, args: args}, nil
}

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
// (and the older 4-argument _rebuild_tensor).
func rebuildTensor(args pyTuple) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor needs at least 4 arguments, got %d", len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: storage is %s", describe(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: storage offset is %s", describe(args[1]))
	}
	ints := func(v any, what string) ([]int64, error) {
		t, ok := v.(pyTuple)
		if !ok {
			return nil, fmt.Errorf("_rebuild_tensor: %s is %s, want a tuple", what, describe(v))
		}
		out := make([]int64, len(t))
		for i, x := range t {
			n, ok := x.(int64)
			if !ok {
				return nil, fmt.Errorf("_rebuild_tensor: %s[%d] is %s", what, i, describe(x))
			}
			out[i] = n
		}
		return out, nil
	}
	size, err := ints(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := ints(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor: size %v and stride %v differ in length", size, stride)
	}
	st.refs++
	return &tensorRef{st: st, offset: off, size: size, stride: stride}, nil
}
