#!/usr/bin/env bash
# Prepares, on this machine (Go + Debian's libtorch 1.13.1), everything scripts/gpu-check.sh needs on a GPU machine
# that has g++, CUDA and PyTorch but no Go: one folder, out/gpu-bundle (ignored by git), under 64 MiB.
#
#   scripts/gpu-bundle.sh [OUTDIR]        then copy OUTDIR over and run OUTDIR/gpu-check.sh there
#                                         (here: OUTDIR/gpu-check.sh --cpu)
#
# Contents: bin/*.test (go test -c -tags shimlib of torch, encoder, train and rocketqa: linked against
# librocketqa_shim.so only, which gpu-check.sh rebuilds from shim/ against the local libtorch), pkg/ (the working
# directories and test data of those binaries), libextra/ (the BLAS/LAPACK/OpenMP libraries FAISS needs in
# rocketqa.test, the big ones gzipped, and a fallback libstdc++),
# py/ (PyTorch eager references and the table printer).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export GOFLAGS=${GOFLAGS:--trimpath}
out=${1:-out/gpu-bundle}
tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp"/{bin,pkg,py,shim,libextra,linkonly}
echo "== shim for linking (Debian libtorch)"
torch/internal/shim/build.sh "$tmp/linkonly"
pkgs=(torch encoder train rocketqa)
for p in "${pkgs[@]}"; do
  echo "== go test -c -tags shimlib ./$p"
  CGO_LDFLAGS="-L$(cd "$tmp/linkonly" && pwd)" go test -c -tags shimlib -ldflags='-s -w' -o "$tmp/bin/$p.test" "./$p"
  if go list -tags shimlib -test -deps "./$p" | grep -q '/retrieval$'; then
    echo "   $p.test links FAISS (retrieval/, static libfaiss.a): carrying its shared BLAS/LAPACK"
  fi
  mkdir -p "$tmp/pkg/$p"
  [[ -d $p/testdata ]] && cp -r "$p/testdata" "$tmp/pkg/$p/"
done
# Shared libraries of the binaries that a GPU machine may lack (anything but glibc and the shim itself).
for b in "$tmp"/bin/*.test; do
  ldd "$b" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    case $name in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*|libstdc++.so*|librocketqa_shim.so) ;;
      *) cp -L "$path" "$tmp/libextra/$name" ;;
    esac
  done
done
# libstdc++ for a GPU machine whose own is older than the GCC that built FAISS here (gpu-check.sh decides).
mkdir -p "$tmp/libextra/fallback"
cp -L "$(g++ -print-file-name=libstdc++.so.6)" "$tmp/libextra/fallback/"
# The big ones travel compressed (OpenBLAS alone is 36 MB); gpu-check.sh unpacks them.
find "$tmp/libextra" -type f -size +4M -exec gzip -6 {} +
rm -rf "$tmp/linkonly"
cp torch/internal/shim/{shim.cc,shim.h,build.sh,CMakeLists.txt} "$tmp/shim/"
cp scripts/gpu/ref_perf.py scripts/gpu/table.py encoder/testdata/ref_bert.py "$tmp/py/"
cp scripts/gpu-check.sh "$tmp/"
git rev-parse HEAD >"$tmp/COMMIT" 2>/dev/null || true
size=$(du -sb "$tmp" | cut -f1)
if ((size >= 64 << 20)); then
  echo "gpu-bundle.sh: the bundle is $((size >> 20)) MiB, over 64 MiB" >&2
  du -sh "$tmp"/* >&2
  exit 1
fi
rm -rf "$out"
mv "$tmp" "$out"
echo "$out: $((size >> 20)) MiB; binaries: ${pkgs[*]}; libextra: $(ls "$out/libextra" | tr '\n' ' ')"
echo "run on the GPU machine: $out/gpu-check.sh   (here: $out/gpu-check.sh --cpu)"
