package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/rocketqa-go/rocketqa/retrieval"
	"github.com/rocketqa-go/rocketqa/torch"
)

// coretypeEnv is read by OpenBLAS when the library loads, before main runs. OpenBLAS 0.3.21 misdetects recent
// CPUs (AMD EPYC among them) and falls back to a generic kernel 2-4x slower (docs/design.md section 7).
const coretypeEnv = "OPENBLAS_CORETYPE"

// coretypeFor picks the OpenBLAS kernel for the CPU flags of /proc/cpuinfo: SkylakeX with AVX-512, Haswell with
// AVX2, "" otherwise (leave OpenBLAS's own detection).
func coretypeFor(cpuinfo string) string {
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

// ensureBLAS re-executes the binary with OPENBLAS_CORETYPE set when it is unset and the CPU supports AVX2 or
// AVX-512: the variable only works if it is there when the process starts. A value set by the user is kept;
// ROCKETQA_NO_REEXEC=1 turns the restart off. When the re-exec is impossible it returns and the command runs on.
func ensureBLAS() {
	if _, ok := os.LookupEnv(coretypeEnv); ok || os.Getenv("ROCKETQA_NO_REEXEC") != "" {
		return
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return
	}
	ct := coretypeFor(string(b))
	if ct == "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), coretypeEnv+"="+ct)
	err = syscall.Exec(exe, os.Args, env) // returns only on failure
	fmt.Fprintf(stderr, "rocketqa: warning: could not restart with %s=%s (%v); BLAS may run slowly\n", coretypeEnv, ct, err)
	os.Setenv("ROCKETQA_NO_REEXEC", "1") // do not try again
}

// setThreads sets libtorch's and FAISS's (OpenMP) thread counts; n <= 0 means defaultThreads(). libtorch picks a
// single thread on some VMs otherwise.
func setThreads(n int) {
	if n <= 0 {
		n = defaultThreads()
	}
	torch.SetNumThreads(n)
	retrieval.SetNumThreads(n)
}

// runtimeInfo is one line about the compute set-up, logged by the compute stages.
func runtimeInfo() string {
	ct, ok := os.LookupEnv(coretypeEnv)
	if !ok {
		ct = "unset"
		if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
			if want := coretypeFor(string(b)); want != "" {
				ct += " (compute commands restart with " + want + ")"
			}
		}
	}
	cuda := "no CUDA"
	if torch.CUDAAvailable() {
		cuda = fmt.Sprintf("%d CUDA devices", torch.CUDADeviceCount())
	}
	return fmt.Sprintf("threads %d, %s, %s=%s, %s", torch.NumThreads(), blasSummary(retrieval.BLASInfo()), coretypeEnv, ct, cuda)
}

// blasSummary shortens retrieval.BLASInfo ("blas=PATH openblas_core=Haswell openblas_parallel=openmp ...") to
// "OpenBLAS Haswell core (openmp)", or the library's file name for another BLAS.
func blasSummary(info string) string {
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
