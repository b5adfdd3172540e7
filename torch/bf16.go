package torch

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"sync"
)

// cpuBF16Flags are the /proc/cpuinfo flags of native bfloat16 matrix multiplication that oneDNN (inside libtorch)
// uses for CPU autocast: AVX512-BF16 (Cooper Lake, Zen 4 and later) and AMX-BF16 (Sapphire Rapids and later).
var cpuBF16Flags = []string{"avx512_bf16", "amx_bf16"}

var bf16Once struct {
	sync.Once
	flag string
}

// CPUBF16Flag returns the first CPU flag of native bfloat16 matrix multiplication (avx512_bf16 or amx_bf16) that
// /proc/cpuinfo lists for this machine, or "" when there is none or the file cannot be read (non-Linux systems).
// Without one, bfloat16 on the CPU is emulated and slower than float32, although the results are still correct.
func CPUBF16Flag() string {
	bf16Once.Do(func() {
		b, err := os.ReadFile("/proc/cpuinfo")
		if err == nil {
			bf16Once.flag = bf16FlagIn(b)
		}
	})
	return bf16Once.flag
}

// BF16Supported reports whether the CPU multiplies bfloat16 matrices natively (see CPUBF16Flag).
func BF16Supported() bool { return CPUBF16Flag() != "" }

// bf16FlagIn returns the first bfloat16 flag on a "flags" line of a /proc/cpuinfo text, or "".
func bf16FlagIn(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		for _, f := range strings.Fields(val) {
			for _, want := range cpuBF16Flags {
				if f == want {
					return f
				}
			}
		}
		return "" // every core lists the same flags
	}
	return ""
}

// CPUBF16 decides whether bfloat16 autocast runs on the CPU when it is asked for (want): it does when the CPU has
// native support, or when force is set (for correctness tests on any CPU: bfloat16 is then emulated, slowly). When
// want is set but bfloat16 does not run, note says why, in a sentence for the user; it is "" otherwise.
func CPUBF16(want, force bool) (use bool, note string) {
	switch {
	case !want:
		return false, ""
	case force || BF16Supported():
		return true, ""
	default:
		return false, "bfloat16 requested, but this CPU has neither avx512_bf16 nor amx_bf16 (/proc/cpuinfo): " +
			"it would be emulated, slower than float32; running in float32"
	}
}
