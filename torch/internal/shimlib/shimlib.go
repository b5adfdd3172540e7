//go:build shimlib

// Package shimlib links package torch against the prebuilt shared library librocketqa_shim.so instead of compiling
// torch/internal/shim/shim.cc with cgo. It is selected by the build tag shimlib.
//
// The library exports the plain C functions declared in torch/internal/shim/shim.h and nothing else, so a Go binary
// linked on one machine runs against a librocketqa_shim.so rebuilt on another against a different libtorch (1.13 or
// 2.x, CPU or CUDA, either C++ ABI). Point the linker at the library with CGO_LDFLAGS=-L<dir> when building and the
// loader with LD_LIBRARY_PATH=<dir> when running (docs/cuda.md).
package shimlib

// #cgo LDFLAGS: -lrocketqa_shim
import "C"
