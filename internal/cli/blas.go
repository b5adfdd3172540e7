// Package cli is the plumbing of the command-line tools (cmd/rocketqa, the examples) that is not a stage of the
// pipeline: a program of subcommands with one exit-status convention (App), flag tables bound to the fields of
// the library's configurations with generic rules (Command.Bind, Require, Positive, OneOf, SetDefaults), the BLAS
// set-up of the process, progress lines, and checks of the paths given as flags. A library configuration's
// *fielderr.Error is shown with the names of the flags bound to its fields.
package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/torch"
)

// CoretypeEnv is read by OpenBLAS when the library loads, before main runs. OpenBLAS 0.3.21 misdetects recent
// CPUs (AMD EPYC among them) and falls back to a generic kernel 2-4x slower (scripts/env.sh does the same for the scripts).
const CoretypeEnv = "OPENBLAS_CORETYPE"

// CoretypeFor picks the OpenBLAS kernel for the CPU flags of /proc/cpuinfo: SkylakeX with AVX-512, Haswell with
// AVX2, "" otherwise (leave OpenBLAS's own detection).
func CoretypeFor(cpuinfo string) string {
	has := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, f := range strings.Fields(v) {
			has[f] = true
		}
		break // every core lists the same flags
	}
	switch {
	case has["avx512f"]:
		return "SkylakeX"
	case has["avx2"]:
		return "Haswell"
	}
	return ""
}

// EnsureBLAS re-executes the binary with OPENBLAS_CORETYPE set when it is unset and the CPU supports AVX2 or
// AVX-512: the variable only works if it is there when the process starts. A value set by the user is kept;
// ROCKETQA_NO_REEXEC=1 turns the restart off. When the re-exec is impossible it returns and the command runs on.
func EnsureBLAS(stderr io.Writer) {
	if _, ok := os.LookupEnv(CoretypeEnv); ok || os.Getenv("ROCKETQA_NO_REEXEC") != "" {
		return
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return
	}
	ct := CoretypeFor(string(b))
	if ct == "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), CoretypeEnv+"="+ct)
	err = syscall.Exec(exe, os.Args, env) // returns only on failure
	fmt.Fprintf(stderr, "rocketqa: warning: could not restart with %s=%s (%v); BLAS may run slowly\n", CoretypeEnv, ct, err)
	os.Setenv("ROCKETQA_NO_REEXEC", "1") // do not try again
}

// SetThreads sets libtorch's and FAISS's (OpenMP) thread counts; n <= 0 means DefaultThreads(). libtorch picks a
// single thread on some VMs otherwise.
func SetThreads(n int) {
	if n <= 0 {
		n = DefaultThreads()
	}
	torch.SetNumThreads(n)
	retrieval.SetNumThreads(n)
}

// RuntimeInfo is one line about the compute set-up, logged by the compute stages.
func RuntimeInfo() string {
	ct, ok := os.LookupEnv(CoretypeEnv)
	if !ok {
		ct = "unset"
		if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
			if want := CoretypeFor(string(b)); want != "" {
				ct += " (compute commands restart with " + want + ")"
			}
		}
	}
	cuda := "no CUDA"
	if torch.CUDAAvailable() {
		cuda = fmt.Sprintf("%d CUDA devices", torch.CUDADeviceCount())
	}
	return fmt.Sprintf("threads %d, %s, %s=%s, %s", torch.NumThreads(), BLASSummary(retrieval.BLASInfo()), CoretypeEnv, ct, cuda)
}

// BLASSummary shortens retrieval.BLASInfo ("blas=PATH openblas_core=Haswell openblas_parallel=openmp ...") to
// "OpenBLAS Haswell core (openmp)", or the library's file name for another BLAS.
func BLASSummary(info string) string {
	kv := map[string]string{}
	for _, f := range strings.Fields(info) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	if c := kv["openblas_core"]; c != "" {
		s := "OpenBLAS " + c + " core"
		if p := kv["openblas_parallel"]; p != "" {
			s += " (" + p + ")"
		}
		return s
	}
	if b := kv["blas"]; b != "" {
		return "BLAS " + b
	}
	return "BLAS unknown"
}

// DefaultThreads is the core count divided among the processes of a launch on this machine (LOCAL_WORLD_SIZE).
func DefaultThreads() int {
	n := runtime.NumCPU()
	if lw, err := strconv.Atoi(os.Getenv("LOCAL_WORLD_SIZE")); err == nil && lw > 1 {
		n /= lw
	}
	return max(n, 1)
}
