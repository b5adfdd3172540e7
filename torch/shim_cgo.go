//go:build !shimlib

package torch

// The default build: cgo compiles the C++ half (torch/internal/shim/shim.cc) against the system libtorch.
import _ "github.com/rocketqa-go/rocketqa/torch/internal/shim"
