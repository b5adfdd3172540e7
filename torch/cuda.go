package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// SetAllowTF32 lets cuBLAS and cuDNN use TF32 tensor cores for float32 matrix products and convolutions (faster,
// about 10 bits of mantissa). libtorch's default is off for matrix products; exact CUDA-vs-CPU comparisons keep it
// off. It has no effect on the CPU.
func SetAllowTF32(on bool) { C.tt_set_allow_tf32(C.bool(on)) }

// Synchronize waits until every kernel queued on the CUDA device d has finished (time measurements need it: CUDA
// kernels run asynchronously). It is a no-op for the CPU.
func Synchronize(d Device) error {
	if d.Type != CUDADevice {
		return nil
	}
	return cerr("Synchronize", C.tt_cuda_synchronize(C.int(d.Index)))
}

// CUDAMemory is a snapshot of the CUDA caching allocator's statistics of one device, in bytes (as
// torch.cuda.memory_allocated, max_memory_allocated and memory_reserved).
type CUDAMemory struct {
	Allocated     int64 // bytes held by live tensors
	PeakAllocated int64 // the most Allocated has been since the last reset
	Reserved      int64 // bytes the allocator holds from the driver (allocated plus cached)
}

// CUDAMemoryStats returns the caching allocator's statistics of the CUDA device d, then resets the peak when
// resetPeak is set. It needs the shim built with the CUDA headers (torch/internal/shim/build.sh finds them through
// CUDA_HOME or nvcc; docs/cuda.md); the default cgo build returns an error saying so.
func CUDAMemoryStats(d Device, resetPeak bool) (CUDAMemory, error) {
	var m CUDAMemory
	if d.Type != CUDADevice {
		return m, fmt.Errorf("torch: CUDAMemoryStats: %s is not a CUDA device", d)
	}
	if !CUDAAvailable() {
		return m, fmt.Errorf("torch: CUDAMemoryStats: device %s requested but this libtorch has no usable CUDA device", d)
	}
	var a, p, r C.int64_t
	if err := cerr("CUDAMemoryStats", C.tt_cuda_memory(C.int(d.Index), C.bool(resetPeak), &a, &p, &r)); err != nil {
		return m, err
	}
	return CUDAMemory{Allocated: int64(a), PeakAllocated: int64(p), Reserved: int64(r)}, nil
}

// BuildInfo describes the shim this binary runs on: the libtorch version it was compiled against, its C++ ABI, and
// which of CUDA statistics, Gloo and NCCL it was built with, e.g. "libtorch 1.13.1 cxx11abi=1 gloo".
func BuildInfo() string {
	c := C.tt_build_info()
	defer C.free(unsafe.Pointer(c))
	return C.GoString(c)
}
