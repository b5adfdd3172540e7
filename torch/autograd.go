package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// SetRequiresGrad marks t as a leaf that accumulates gradients (or not). It returns t; a failure is recorded in t.
func (t *Tensor) SetRequiresGrad(on bool) *Tensor {
	if err := operandErr("SetRequiresGrad", t); err != nil {
		return t
	}
	if err := cerr("SetRequiresGrad", C.tt_requires_grad_(t.h, C.bool(on))); err != nil {
		t.err = err
	}
	return t
}

// RequiresGrad reports whether autograd tracks t.
func (t *Tensor) RequiresGrad() bool {
	if t == nil || t.h == nil {
		return false
	}
	return bool(C.tt_requires_grad(t.h))
}

// Backward computes the gradients of the scalar t with respect to every leaf that requires grad (accumulating into
// their Grad).
func (t *Tensor) Backward() error { return t.BackwardWith(nil, false) }

// BackwardWith backpropagates the given gradient of t (same shape as t; nil for a scalar t). With retainGraph the
// graph can be backpropagated again. This is what gradient caching needs: backward of embeddings with a cached
// gradient.
func (t *Tensor) BackwardWith(grad *Tensor, retainGraph bool) error {
	if err := operandErr("Backward", t); err != nil {
		return err
	}
	var gh C.TT
	if grad != nil {
		if err := operandErr("Backward", grad); err != nil {
			return err
		}
		gh = grad.h
	}
	return cerr("Backward", C.tt_backward(t.h, gh, C.bool(retainGraph)))
}

// Grad returns the accumulated gradient of t (a new handle in t's scope, sharing the gradient's storage), or nil when
// there is none.
func (t *Tensor) Grad() *Tensor {
	if r := bad1("Grad", t); r != nil {
		return r
	}
	var out C.TT
	if err := cerr("Grad", C.tt_grad(t.h, &out)); err != nil {
		return errTensor(err, t.scope)
	}
	if out == nil {
		return nil
	}
	return newTensor(out, t.scope)
}

// SetGrad replaces t's gradient with g (nil clears it).
func (t *Tensor) SetGrad(g *Tensor) error {
	if err := operandErr("SetGrad", t); err != nil {
		return err
	}
	var gh C.TT
	if g != nil {
		if err := operandErr("SetGrad", g); err != nil {
			return err
		}
		gh = g.h
	}
	return cerr("SetGrad", C.tt_set_grad(t.h, gh))
}

// ZeroGrad clears t's gradient (set to none, as PyTorch's default).
func (t *Tensor) ZeroGrad() error { return t.SetGrad(nil) }

// NoGrad runs fn with gradient recording off (torch.no_grad). The goroutine is locked to its OS thread meanwhile,
// since grad mode is thread-local; goroutines started by fn are not covered.
func NoGrad(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := C.tt_set_grad_enabled(false)
	defer C.tt_set_grad_enabled(prev)
	fn()
}

// GradEnabled reports whether gradient recording is on for the calling thread.
func GradEnabled() bool { return bool(C.tt_is_grad_enabled()) }

// Autocast runs fn with automatic mixed precision on the given device type (CUDA: float16 or bfloat16; CPU:
// bfloat16), as torch.autocast. The goroutine is locked to its OS thread meanwhile.
func Autocast(dev DeviceType, dt DType, fn func()) error {
	if dt != Float16 && dt != BFloat16 {
		return fmt.Errorf("torch: Autocast: dtype %s (want float16 or bfloat16)", dt)
	}
	if dev == CUDADevice && !CUDAAvailable() {
		return fmt.Errorf("torch: Autocast: CUDA requested but this libtorch has no usable CUDA device")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := C.tt_set_autocast(C.int(dev), true, C.int(dt))
	defer func() {
		C.tt_set_autocast(C.int(dev), prev, C.int(dt))
		if !prev {
			C.tt_autocast_clear_cache()
		}
	}()
	fn()
	return nil
}

// ---- runtime ----

// SetNumThreads sets libtorch's intra-op thread count.
func SetNumThreads(n int) { C.tt_set_num_threads(C.int(n)) }

// NumThreads returns libtorch's intra-op thread count.
func NumThreads() int { return int(C.tt_get_num_threads()) }

// CUDAAvailable reports whether the linked libtorch has CUDA and a device is visible.
func CUDAAvailable() bool { return bool(C.tt_cuda_available()) }

// CUDADeviceCount returns the number of visible CUDA devices.
func CUDADeviceCount() int { return int(C.tt_cuda_device_count()) }

// Config returns libtorch's build configuration (at::show_config), which names the BLAS in use.
func Config() string {
	p := C.tt_config()
	defer C.free(unsafe.Pointer(p))
	return C.GoString(p)
}

// BLASInfo returns a one-line summary of the BLAS libtorch was built with and the active libblas (OpenBLAS variant).
func BLASInfo() string {
	var parts []string
	for _, l := range strings.Split(Config(), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "- BLAS_INFO") || strings.HasPrefix(l, "- LAPACK_INFO") {
			parts = append(parts, strings.TrimPrefix(l, "- "))
		}
		if strings.Contains(l, "BLAS_INFO=") {
			for _, kv := range strings.Split(l, ",") {
				if strings.Contains(kv, "BLAS_INFO=") {
					parts = append(parts, strings.TrimSpace(kv))
				}
			}
		}
	}
	return strings.Join(parts, " ")
}

// ManualSeed seeds the default CPU (and CUDA) generators, as torch.manual_seed.
func ManualSeed(seed uint64) { C.tt_manual_seed(C.uint64_t(seed)) }

// RNGState returns the state of dev's default generator, to restore with SetRNGState (checkpoints, gradient caching).
func RNGState(dev Device) ([]byte, error) {
	var out C.TT
	if err := cerr("RNGState", C.tt_rng_state(C.int(dev.Type), C.int(dev.Index), &out)); err != nil {
		return nil, err
	}
	t := newTensor(out, nil)
	defer t.Close()
	return t.Bytes()
}

// SetRNGState restores a generator state returned by RNGState.
func SetRNGState(dev Device, state []byte) error {
	t := FromUint8(state)
	defer t.Close()
	if err := t.Err(); err != nil {
		return err
	}
	return cerr("SetRNGState", C.tt_set_rng_state(C.int(dev.Type), C.int(dev.Index), t.h))
}

// FromUint8 copies bytes into a new untracked 1-D uint8 tensor.
func FromUint8(b []byte) *Tensor {
	return (*Scope)(nil).fromData("FromUint8", ptr(b), len(b), Uint8, []int64{int64(len(b))}, CPU)
}
