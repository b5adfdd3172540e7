//go:build shimlib

package torch

// With -tags shimlib the C++ half is the shared library librocketqa_shim.so, built separately (CMake or
// torch/internal/shim/build.sh) against any libtorch, e.g. a CUDA libtorch 2.x; see docs/cuda.md.
import _ "github.com/rocketqa-go/rocketqa/torch/internal/shimlib"
