# Sourced by the project's scripts: runtime environment for libtorch + OpenBLAS on this machine.
# OpenBLAS 0.3.21 misdetects recent CPUs (e.g. AMD EPYC under virtualisation) and falls back to slow kernels;
# OPENBLAS_CORETYPE must be set before the library loads. We pick it from the CPU flags unless the user set it.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
  if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
