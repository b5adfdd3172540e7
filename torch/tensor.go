// Package torch is a small Go binding to libtorch (the C++ library behind PyTorch): tensors, the operations a
// BERT dual-encoder / cross-encoder training step needs, autograd, AdamW, and c10d collectives.
//
// # Tensor lifetime
//
// A *Tensor owns a libtorch tensor handle (reference-counted storage on the C++ side). Go finalizers are never used:
// memory is released deterministically in one of two ways.
//
//   - A Scope owns every tensor created in it and frees them all on Close. Tensors produced by an operation join the
//     scope of their first operand that has one, so a training step written as
//     `s := torch.NewScope(); defer s.Close(); x := s.FromInt64(ids, b, l); y := x.Embedding(...)...` frees every
//     intermediate when the step ends, while parameters (created outside any scope) live on.
//   - A tensor with no scope ("untracked": parameters, optimizer state, results whose operands are all untracked) is
//     freed by its Close method. Scope.Keep moves a tensor out of its scope so it survives Close; Scope.Adopt moves an
//     untracked tensor into a scope.
//
// Freeing a handle only drops a reference: views and autograd graphs that still need the storage keep it alive on the
// C++ side, so closing early is always memory-safe; using a closed *Tensor is an error, not a crash.
//
// # Errors
//
// Operations never panic. A failing libtorch call (shape mismatch, wrong dtype, index out of range, CUDA requested
// where there is none) returns a *Tensor carrying the error; every operation on it propagates the error without
// calling libtorch, so a chain of operations can be checked once with Err. The scope also remembers its first error.
//
// # Threads
//
// Grad mode and autocast are thread-local in libtorch; NoGrad and Autocast lock the calling goroutine to its OS thread
// while their function runs. Tensors may be used from several goroutines for reading (inference); a Scope is safe for
// concurrent use.
package torch

// #cgo CFLAGS: -I${SRCDIR}/internal/shim
// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Tensor is a handle to a libtorch tensor (or to the error of the operation that should have produced it).
type Tensor struct {
	h     C.TT
	err   error
	scope *Scope
}

// Scope owns the tensors created in it and frees them on Close. The nil *Scope is valid and means "untracked": the
// caller frees each tensor with Close. A Scope is safe for concurrent use.
type Scope struct {
	mu     sync.Mutex
	ts     []*Tensor
	err    error
	closed bool
}

var live atomic.Int64

// LiveTensors reports how many tensor handles are currently allocated (not yet closed). Tests use it to check that a
// loop releases everything it creates.
func LiveTensors() int64 { return live.Load() }

// NewScope returns an empty scope.
func NewScope() *Scope { return &Scope{} }

// With runs fn with a fresh scope and closes the scope afterwards. It returns fn's error, or else the scope's first
// operation error.
func With(fn func(s *Scope) error) error {
	s := NewScope()
	defer s.Close()
	if err := fn(s); err != nil {
		return err
	}
	return s.Err()
}

// Close frees every tensor the scope still owns. It is safe to call twice; tensors created in a closed scope are
// untracked.
func (s *Scope) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	ts := s.ts
	s.ts = nil
	s.closed = true
	s.mu.Unlock()
	for i := len(ts) - 1; i >= 0; i-- {
		t := ts[i]
		if t.scope == s {
			t.scope = nil
			t.Close()
		}
	}
}

// Err returns the first error of an operation whose result joined this scope.
func (s *Scope) Err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Len reports how many tensors the scope owns (including ones already closed individually).
func (s *Scope) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ts)
}

// Keep removes t from its scope so that it survives the scope's Close; the caller now owns it. It returns t.
func (s *Scope) Keep(t *Tensor) *Tensor {
	if t != nil && t.scope == s {
		t.scope = nil
	}
	return t
}

// Adopt moves t (untracked or owned by another scope) into s. It returns t.
func (s *Scope) Adopt(t *Tensor) *Tensor {
	if t == nil || s == nil {
		return t
	}
	t.scope = nil
	s.add(t)
	return t
}

// Error returns an invalid tensor carrying err, owned by s: the way for code built on this package to report a
// failure through a chain of operations. When an earlier operation in s already failed, err is most likely a
// consequence (a size check reading -1 from Size of that invalid result, say), so the tensor carries the earlier
// error first, then err: "torch: embedding: index out of range in self (then: ...)"; errors.Is and errors.As see
// both.
func (s *Scope) Error(err error) *Tensor {
	if err == nil {
		err = errors.New("torch: unknown error")
	}
	if first := s.Err(); first != nil && !errors.Is(err, first) {
		err = &consequenceError{cause: first, err: err}
	}
	return errTensor(err, s)
}

// consequenceError is an error reported after (and probably because of) an earlier failure in the same scope.
type consequenceError struct{ cause, err error }

func (e *consequenceError) Error() string   { return e.cause.Error() + " (then: " + e.err.Error() + ")" }
func (e *consequenceError) Unwrap() []error { return []error{e.cause, e.err} }

// Use returns a new handle to t owned by s: the same tensor (same storage and autograd identity, so gradients
// still accumulate into t), but operations on it put their results in s. Use it for parameters inside a step:
// `w := s.Use(param)`; closing the handle does not free t.
func (s *Scope) Use(t *Tensor) *Tensor {
	if r := bad1("Use", t); r != nil {
		return r
	}
	a := t.alias()
	if a.scope != s {
		s.Adopt(a)
	}
	return a
}

func (s *Scope) add(t *Tensor) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	t.scope = s
	s.ts = append(s.ts, t)
	if t.err != nil && s.err == nil {
		s.err = t.err
	}
	s.mu.Unlock()
}

// Close frees the tensor now. It is safe to call twice and on a tensor owned by a scope (the scope then skips it).
func (t *Tensor) Close() {
	if t == nil || t.h == nil {
		return
	}
	C.tt_free(t.h)
	t.h = nil
	live.Add(-1)
	if t.err == nil {
		t.err = errClosed
	}
}

var errClosed = errors.New("torch: use of a closed tensor")

// Err returns the error of the operation that produced t (or of any operand it propagated from), nil when t is valid.
func (t *Tensor) Err() error {
	if t == nil {
		return errors.New("torch: nil tensor")
	}
	if t.h == nil && t.err == nil {
		return errClosed
	}
	return t.err
}

// Scope returns the scope that owns t, nil when t is untracked.
func (t *Tensor) Scope() *Scope { return t.scope }

func newTensor(h C.TT, s *Scope) *Tensor {
	live.Add(1)
	t := &Tensor{h: h}
	if s != nil {
		s.add(t)
	}
	return t
}

func errTensor(err error, s *Scope) *Tensor {
	t := &Tensor{err: err}
	if s != nil {
		s.add(t)
	}
	return t
}

// cerr converts a malloc'd C error string into a Go error (and frees it).
func cerr(op string, e *C.char) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.free(unsafe.Pointer(e))
	return fmt.Errorf("torch: %s: %s", op, msg)
}

// operand validity

func operandErr(op string, a *Tensor) error {
	if a == nil {
		return fmt.Errorf("torch: %s: nil tensor", op)
	}
	if a.h == nil {
		if a.err == nil || a.err == errClosed {
			return fmt.Errorf("torch: %s: use of a closed tensor", op)
		}
		return a.err
	}
	return nil
}

// bad1 returns an error tensor when a cannot be used as an operand, nil otherwise.
func bad1(op string, a *Tensor) *Tensor {
	if err := operandErr(op, a); err != nil {
		return errTensor(err, scopeOf(a))
	}
	return nil
}

// bad2 is bad1 for two operands.
func bad2(op string, a, b *Tensor) *Tensor {
	err := operandErr(op, a)
	if err == nil {
		err = operandErr(op, b)
	}
	if err != nil {
		return errTensor(err, scopeOf(a, b))
	}
	return nil
}

func scopeOf(ts ...*Tensor) *Scope {
	for _, t := range ts {
		if t != nil && t.scope != nil {
			return t.scope
		}
	}
	return nil
}

func res1(op string, e *C.char, out C.TT, a *Tensor) *Tensor {
	if err := cerr(op, e); err != nil {
		return errTensor(err, a.scope)
	}
	return newTensor(out, a.scope)
}

func res2(op string, e *C.char, out C.TT, a, b *Tensor) *Tensor {
	s := a.scope
	if s == nil {
		s = b.scope
	}
	if err := cerr(op, e); err != nil {
		return errTensor(err, s)
	}
	return newTensor(out, s)
}

// ---- dtypes and devices ----

// DType is a tensor element type.
type DType int

// Element types (the codes match the C shim).
const (
	Float32 DType = iota
	Float16
	BFloat16
	Int64
	Bool
	Int32
	Float64
	Uint8
)

var dtypeNames = [...]string{"float32", "float16", "bfloat16", "int64", "bool", "int32", "float64", "uint8"}
var dtypeSizes = [...]int{4, 2, 2, 8, 1, 4, 8, 1}

func (d DType) String() string {
	if d >= 0 && int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Size is the size of one element in bytes.
func (d DType) Size() int { return dtypeSizes[d] }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float16 || d == BFloat16 || d == Float64 }

// DeviceType is CPU or CUDA.
type DeviceType int

// Device types.
const (
	CPUDevice DeviceType = iota
	CUDADevice
)

// Device is where a tensor lives.
type Device struct {
	Type  DeviceType
	Index int
}

// CPU is the host device.
var CPU = Device{Type: CPUDevice}

// CUDA returns the i-th CUDA device.
func CUDA(i int) Device { return Device{Type: CUDADevice, Index: i} }

func (d Device) String() string {
	if d.Type == CUDADevice {
		return fmt.Sprintf("cuda:%d", d.Index)
	}
	return "cpu"
}

// ParseDevice parses "cpu", "cuda" or "cuda:N".
func ParseDevice(s string) (Device, error) {
	switch {
	case s == "cpu" || s == "":
		return CPU, nil
	case s == "cuda":
		return CUDA(0), nil
	}
	var i int
	if n, err := fmt.Sscanf(s, "cuda:%d", &i); n == 1 && err == nil && i >= 0 {
		return CUDA(i), nil
	}
	return CPU, fmt.Errorf("torch: bad device %q (want cpu, cuda or cuda:N)", s)
}

// ---- creation ----

func numel(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		n *= d
	}
	return n, nil
}

func shapePtr(shape []int64) *C.int64_t {
	if len(shape) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0]))
}

func (s *Scope) fromData(op string, p unsafe.Pointer, n int, dt DType, shape []int64, dev Device) *Tensor {
	want, err := numel(shape)
	if err != nil {
		return errTensor(fmt.Errorf("torch: %s: %v", op, err), s)
	}
	if want != int64(n) {
		return errTensor(fmt.Errorf("torch: %s: %d values do not fill shape %v (%d elements)", op, n, shape, want), s)
	}
	var dummy [8]byte
	if n == 0 {
		p = unsafe.Pointer(&dummy[0])
	}
	var out C.TT
	e := C.tt_from_data(p, shapePtr(shape), C.int(len(shape)), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out)
	if err := cerr(op, e); err != nil {
		return errTensor(err, s)
	}
	return newTensor(out, s)
}

func ptr[T any](v []T) unsafe.Pointer {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Pointer(&v[0])
}

// FromFloat32 copies data into a new CPU float32 tensor of the given shape.
func (s *Scope) FromFloat32(data []float32, shape ...int64) *Tensor {
	return s.fromData("FromFloat32", ptr(data), len(data), Float32, shape, CPU)
}

// FromInt64 copies data into a new CPU int64 tensor of the given shape.
func (s *Scope) FromInt64(data []int64, shape ...int64) *Tensor {
	return s.fromData("FromInt64", ptr(data), len(data), Int64, shape, CPU)
}

// FromBool copies data into a new CPU bool tensor of the given shape.
func (s *Scope) FromBool(data []bool, shape ...int64) *Tensor {
	return s.fromData("FromBool", ptr(data), len(data), Bool, shape, CPU)
}

// FromBytes copies raw little-endian element bytes of dtype dt into a new tensor on dev.
func (s *Scope) FromBytes(data []byte, dt DType, dev Device, shape ...int64) *Tensor {
	if dt < 0 || int(dt) >= len(dtypeSizes) {
		return errTensor(fmt.Errorf("torch: FromBytes: unknown dtype %d", dt), s)
	}
	if len(data)%dt.Size() != 0 {
		return errTensor(fmt.Errorf("torch: FromBytes: %d bytes is not a whole number of %s elements", len(data), dt), s)
	}
	return s.fromData("FromBytes", ptr(data), len(data)/dt.Size(), dt, shape, dev)
}

// FromFloat32 copies data into a new untracked CPU float32 tensor.
func FromFloat32(data []float32, shape ...int64) *Tensor {
	return (*Scope)(nil).FromFloat32(data, shape...)
}

// FromInt64 copies data into a new untracked CPU int64 tensor.
func FromInt64(data []int64, shape ...int64) *Tensor { return (*Scope)(nil).FromInt64(data, shape...) }

// Full returns a tensor of the given shape filled with v.
func (s *Scope) Full(shape []int64, v float64, dt DType, dev Device) *Tensor {
	var out C.TT
	e := C.tt_full(shapePtr(shape), C.int(len(shape)), C.double(v), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out)
	if err := cerr("Full", e); err != nil {
		return errTensor(err, s)
	}
	return newTensor(out, s)
}

// Zeros returns a tensor of zeros.
func (s *Scope) Zeros(shape []int64, dt DType, dev Device) *Tensor { return s.Full(shape, 0, dt, dev) }

// Ones returns a tensor of ones.
func (s *Scope) Ones(shape []int64, dt DType, dev Device) *Tensor { return s.Full(shape, 1, dt, dev) }

// Arange returns [start, start+step, ...) below end.
func (s *Scope) Arange(start, end, step float64, dt DType, dev Device) *Tensor {
	var out C.TT
	e := C.tt_arange(C.double(start), C.double(end), C.double(step), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out)
	if err := cerr("Arange", e); err != nil {
		return errTensor(err, s)
	}
	return newTensor(out, s)
}

// Randn returns standard-normal samples from the default generator (seeded by ManualSeed).
func (s *Scope) Randn(shape []int64, dt DType, dev Device) *Tensor {
	var out C.TT
	e := C.tt_randn(shapePtr(shape), C.int(len(shape)), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out)
	if err := cerr("Randn", e); err != nil {
		return errTensor(err, s)
	}
	return newTensor(out, s)
}

// Rand returns uniform [0, 1) samples from the default generator.
func (s *Scope) Rand(shape []int64, dt DType, dev Device) *Tensor {
	var out C.TT
	e := C.tt_rand(shapePtr(shape), C.int(len(shape)), C.int(dt), C.int(dev.Type), C.int(dev.Index), &out)
	if err := cerr("Rand", e); err != nil {
		return errTensor(err, s)
	}
	return newTensor(out, s)
}

// Zeros returns an untracked tensor of zeros.
func Zeros(shape []int64, dt DType, dev Device) *Tensor { return (*Scope)(nil).Zeros(shape, dt, dev) }

// Full returns an untracked tensor filled with v.
func Full(shape []int64, v float64, dt DType, dev Device) *Tensor {
	return (*Scope)(nil).Full(shape, v, dt, dev)
}

// Randn returns an untracked tensor of standard-normal samples.
func Randn(shape []int64, dt DType, dev Device) *Tensor { return (*Scope)(nil).Randn(shape, dt, dev) }

// ---- metadata and data out ----

// Dim is the number of dimensions (0 for an invalid tensor).
func (t *Tensor) Dim() int {
	if t == nil || t.h == nil {
		return 0
	}
	return int(C.tt_ndim(t.h))
}

// Shape returns the sizes (nil for an invalid tensor).
func (t *Tensor) Shape() []int64 {
	if t == nil || t.h == nil {
		return nil
	}
	n := int(C.tt_ndim(t.h))
	out := make([]int64, n)
	if n > 0 {
		C.tt_shape(t.h, (*C.int64_t)(unsafe.Pointer(&out[0])))
	}
	return out
}

// Size returns the size of dimension d (negative d counts from the end); -1 when out of range or invalid.
func (t *Tensor) Size(d int) int64 {
	sh := t.Shape()
	if d < 0 {
		d += len(sh)
	}
	if d < 0 || d >= len(sh) {
		return -1
	}
	return sh[d]
}

// Numel is the number of elements.
func (t *Tensor) Numel() int64 {
	n, _ := numel(t.Shape())
	if t == nil || t.h == nil {
		return 0
	}
	return n
}

// DType returns the element type (-1 for an invalid tensor).
func (t *Tensor) DType() DType {
	if t == nil || t.h == nil {
		return -1
	}
	return DType(C.tt_dtype(t.h))
}

// Device returns where the tensor lives.
func (t *Tensor) Device() Device {
	if t == nil || t.h == nil {
		return CPU
	}
	var ty, ix C.int
	C.tt_device(t.h, &ty, &ix)
	return Device{Type: DeviceType(ty), Index: int(ix)}
}

func (t *Tensor) String() string {
	if err := t.Err(); err != nil {
		return "Tensor(error: " + err.Error() + ")"
	}
	return fmt.Sprintf("Tensor(%v, %s, %s)", t.Shape(), t.DType(), t.Device())
}

func (t *Tensor) copyOut(op string, dt DType, p unsafe.Pointer, nbytes int) error {
	if err := t.Err(); err != nil {
		return err
	}
	src := t
	if t.DType() != dt || t.Device() != CPU {
		src = t.To(dt).ToDevice(CPU)
		if src != t {
			defer src.Close()
		}
		if err := src.Err(); err != nil {
			return err
		}
	}
	var dummy [8]byte
	if nbytes == 0 {
		p = unsafe.Pointer(&dummy[0])
	}
	return cerr(op, C.tt_copy_out(src.h, p, C.int64_t(nbytes)))
}

// Float32s copies the elements (converted to float32, moved to CPU) into a new slice in row-major order.
func (t *Tensor) Float32s() ([]float32, error) {
	if err := t.Err(); err != nil {
		return nil, err
	}
	out := make([]float32, t.Numel())
	return out, t.copyOut("Float32s", Float32, ptr(out), len(out)*4)
}

// Int64s copies the elements (converted to int64) into a new slice.
func (t *Tensor) Int64s() ([]int64, error) {
	if err := t.Err(); err != nil {
		return nil, err
	}
	out := make([]int64, t.Numel())
	return out, t.copyOut("Int64s", Int64, ptr(out), len(out)*8)
}

// Bools copies the elements (converted to bool) into a new slice.
func (t *Tensor) Bools() ([]bool, error) {
	if err := t.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, t.Numel())
	return out, t.copyOut("Bools", Bool, ptr(out), len(out))
}

// Bytes copies the raw elements in the tensor's own dtype.
func (t *Tensor) Bytes() ([]byte, error) {
	if err := t.Err(); err != nil {
		return nil, err
	}
	dt := t.DType()
	out := make([]byte, t.Numel()*int64(dt.Size()))
	return out, t.copyOut("Bytes", dt, ptr(out), len(out))
}

// Item returns the value of a one-element tensor as float64.
func (t *Tensor) Item() (float64, error) {
	if err := t.Err(); err != nil {
		return 0, err
	}
	if n := t.Numel(); n != 1 {
		return 0, fmt.Errorf("torch: Item: tensor of shape %v has %d elements, want 1", t.Shape(), n)
	}
	v := make([]float64, 1)
	return v[0], t.copyOut("Item", Float64, ptr(v), 8)
}

// FromBytes copies raw little-endian element bytes into a new untracked tensor.
func FromBytes(data []byte, dt DType, dev Device, shape ...int64) *Tensor {
	return (*Scope)(nil).FromBytes(data, dt, dev, shape...)
}
