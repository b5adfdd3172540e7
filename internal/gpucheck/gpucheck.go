// Package gpucheck holds what the device checks of scripts/gpu-check.sh share (the tests named TestCUDA* in torch,
// encoder and rocketqa): the device under test and the lines the script collects into its table.
//
// The checks skip without a CUDA device unless ROCKETQA_TEST_DEVICE=cpu, which runs them with the CPU as the
// device under test (the script's --cpu mode: it proves the plumbing, not CUDA).
package gpucheck

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rocketqa-go/rocketqa/torch"
)

// Device returns the device under test: CUDA 0 with TF32 off (fp32 results comparable with the CPU's), or the CPU
// when ROCKETQA_TEST_DEVICE=cpu. Without either it skips the test.
func Device(t testing.TB) torch.Device {
	t.Helper()
	if os.Getenv("ROCKETQA_TEST_DEVICE") == "cpu" {
		return torch.CPU
	}
	if !torch.CUDAAvailable() {
		t.Skip("no CUDA device (ROCKETQA_TEST_DEVICE=cpu runs these checks on the CPU)")
	}
	torch.SetAllowTF32(false)
	return torch.CUDA(0)
}

// Row prints the line "GPUCHECK|row|PASS|detail" (FAIL, with err appended to the detail, when err is not nil) for
// the script's table, then fails the test on err. detail is format with args.
func Row(t testing.TB, row string, err error, format string, args ...any) {
	t.Helper()
	status, detail := "PASS", fmt.Sprintf(format, args...)
	if err != nil {
		status, detail = "FAIL", detail+"; "+err.Error()
	}
	fmt.Printf("GPUCHECK|%s|%s|%s\n", row, status, detail)
	require.NoError(t, err, row)
}

// Perf prints the line "GPUPERF|key|seconds|detail" of a throughput row; the script sets it against the same
// shapes timed in PyTorch. detail is format with args.
func Perf(key string, seconds float64, format string, args ...any) {
	fmt.Printf("GPUPERF|%s|%.6g|%s\n", key, seconds, fmt.Sprintf(format, args...))
}
