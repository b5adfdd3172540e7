// Package shim holds the C++ half of the libtorch binding (shim.cc, the only file that includes <torch/torch.h>).
// It lives in its own package so that editing the Go half (package torch) does not recompile the C++.
//
// Build flags: Debian's libtorch-dev (1.13.1, CPU) is found by default. For another libtorch (e.g. a CUDA build in
// /opt/libtorch), set CGO_CXXFLAGS="-I/opt/libtorch/include -I/opt/libtorch/include/torch/csrc/api/include" and
// CGO_LDFLAGS="-L/opt/libtorch/lib -Wl,-rpath,/opt/libtorch/lib -Wl,--no-as-needed -ltorch_cuda -lc10_cuda", plus
// -DUSE_C10D_NCCL in CGO_CXXFLAGS to get the NCCL process group. Or build the shim as a shared library with
// build.sh (ROCKETQA_LIBTORCH=/path/to/torch) or CMakeLists.txt and build Go with -tags shimlib, which leaves this
// package out (docs/cuda.md).
package shim

// #cgo CXXFLAGS: -std=c++17 -O2 -g0 -I/usr/include/torch/csrc/api/include -DUSE_C10D_GLOO -Wno-deprecated-declarations -Wno-unused-variable
// #cgo LDFLAGS: -ltorch -ltorch_cpu -lc10 -lstdc++
// #include "shim.h"
import "C"
