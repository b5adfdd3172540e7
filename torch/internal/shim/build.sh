#!/usr/bin/env bash
# Builds librocketqa_shim.so (shim.cc behind the plain C ABI of shim.h) against one libtorch, for Go binaries built
# with -tags shimlib (docs/cuda.md). Only g++ (or $CXX) is needed; no Go, no CMake.
#
#   build.sh [OUTDIR]                               Debian's libtorch-dev (/usr), as the default cgo build
#   ROCKETQA_LIBTORCH=/opt/libtorch build.sh OUT    a libtorch archive, or the torch/ folder of a PyTorch wheel
#   ROCKETQA_PYTHON=python3 build.sh OUT            the libtorch inside that python's torch package
#
# Found automatically: the C++ ABI of that libtorch (from its exported symbols), the Gloo headers (-DUSE_C10D_GLOO),
# a CUDA libtorch (libtorch_cuda.so: links it, and with the CUDA headers of $CUDA_HOME or of nvcc's toolkit also
# -DROCKETQA_CUDA for the caching allocator's statistics). ROCKETQA_NCCL=1 adds the NCCL process group
# (-DUSE_C10D_NCCL; needs nccl.h). Prints one line: the path of the library and what it was built with.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
mkdir -p "$out"
CXX=${CXX:-g++}
T=${ROCKETQA_LIBTORCH:-}
if [[ -z $T && -n ${ROCKETQA_PYTHON:-} ]]; then
  T=$("$ROCKETQA_PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
fi
flags=(-std=c++17 -O2 -g0 -fPIC -shared -Wno-deprecated-declarations -Wno-unused-variable)
if [[ -n $T ]]; then
  [[ -f $T/include/torch/csrc/api/include/torch/torch.h ]] || { echo "build.sh: $T has no include/torch/csrc/api/include/torch/torch.h (want a libtorch folder with include/ and lib/)" >&2; exit 2; }
  inc=$T/include
  libdir=$T/lib
  flags+=(-I"$inc" -I"$inc/torch/csrc/api/include")
  link=(-L"$libdir" -Wl,-rpath,"$libdir")
else
  inc=/usr/include
  libdir=$(dirname "$("$CXX" -print-file-name=libtorch_cpu.so)")
  flags+=(-I/usr/include/torch/csrc/api/include)
  link=()
fi
if [[ ! -e $libdir/libc10.so ]]; then
  # Debian's python3-torch links include/ into /usr/include and keeps the libraries in /usr/lib: use the default.
  echo "build.sh: no libc10.so in $libdir (a distribution's torch package: run build.sh without ROCKETQA_PYTHON / ROCKETQA_LIBTORCH for the system libtorch)" >&2
  exit 2
fi
# The C++ ABI must match libtorch's; the Go side only sees C, so either ABI works with the same Go binaries.
abi=0
if [[ -n ${ROCKETQA_PYTHON:-} && -z ${ROCKETQA_LIBTORCH:-} ]]; then
  abi=$("$ROCKETQA_PYTHON" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
elif nm -D --defined-only "$libdir/libc10.so" | grep '__cxx11' >/dev/null; then
  abi=1
fi
flags+=(-D_GLIBCXX_USE_CXX11_ABI=$abi)
what="abi=$abi"
if [[ -f $inc/gloo/config.h ]]; then flags+=(-DUSE_C10D_GLOO); what+=" gloo"; fi
libs=(-ltorch -ltorch_cpu -lc10)
if [[ -e $libdir/libtorch_cuda.so ]]; then
  # --no-as-needed: nothing in shim.cc names a symbol of libtorch_cuda, yet loading it is what registers CUDA.
  libs+=(-ltorch_cuda -lc10_cuda)
  what+=" torch_cuda"
  cuda=${CUDA_HOME:-}
  if [[ -z $cuda ]] && command -v nvcc >/dev/null; then cuda=$(dirname "$(dirname "$(command -v nvcc)")"); fi
  if [[ -z $cuda && -d /usr/local/cuda ]]; then cuda=/usr/local/cuda; fi
  if [[ -n $cuda && -f $cuda/include/cuda_runtime_api.h ]]; then
    flags+=(-DROCKETQA_CUDA -I"$cuda/include")
    what+=" cuda-headers=$cuda"
  else
    echo "build.sh: warning: no CUDA headers (set CUDA_HOME); CUDA memory statistics will be unavailable" >&2
  fi
  if [[ ${ROCKETQA_NCCL:-0} == 1 ]]; then
    nccl=""
    for d in "${NCCL_INCLUDE:-}" "$T/../nvidia/nccl/include" "$cuda/include" /usr/include; do
      if [[ -n $d && -f $d/nccl.h ]]; then nccl=$d; break; fi
    done
    if [[ -n $nccl ]]; then
      flags+=(-DUSE_C10D_NCCL -I"$nccl")
      what+=" nccl"
    else
      echo "build.sh: warning: ROCKETQA_NCCL=1 but no nccl.h found (set NCCL_INCLUDE); building without NCCL" >&2
    fi
  fi
fi
"$CXX" "${flags[@]}" "$here/shim.cc" -o "$out/librocketqa_shim.so.tmp" -Wl,-soname,librocketqa_shim.so \
  "${link[@]}" -Wl,--no-as-needed "${libs[@]}" -Wl,--as-needed -lstdc++
mv "$out/librocketqa_shim.so.tmp" "$out/librocketqa_shim.so"
echo "$out/librocketqa_shim.so (${T:-system libtorch}; $what)"
