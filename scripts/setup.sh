#!/usr/bin/env bash
# Idempotent machine setup: system packages for the torch (libtorch) and retrieval (FAISS) cgo shims,
# OpenBLAS, and (optionally) the Python reference stack used to regenerate fixtures.
#
#   scripts/setup.sh            # build + test dependencies
#   scripts/setup.sh --dev      # also python3-torch / python3-faiss / node tokenizers (fixture generation, benchmarks)
#
# Fast when everything is present: it checks dpkg before calling apt.
set -euo pipefail

want=(libtorch-dev libgloo-dev libopenblas0-openmp libopenblas0-pthread libopenblas-dev libopenblas-openmp-dev libfaiss-dev g++ pkg-config)
if [[ "${1:-}" == "--dev" ]]; then
  want+=(python3-torch python3-faiss python3-numpy)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# OpenBLAS: libtorch links both libblas.so.3 and libopenblas.so.0, FAISS links libblas/liblapack. Point every
# alternative at ONE OpenBLAS variant, or two thread pools get loaded into the same process.
# Variant: ROCKETQA_OPENBLAS=openmp|pthread (default openmp: libtorch itself parallelises with OpenMP, and the openmp
# build then shares its pool instead of stacking a second one; measured in README "BLAS").
variant=${ROCKETQA_OPENBLAS:-openmp}
for name in libblas.so.3 liblapack.so.3 libopenblas.so.0 libblas.so liblapack.so libopenblas.so; do
  alt="${name}-x86_64-linux-gnu"
  cand=$(update-alternatives --list "$alt" 2>/dev/null | grep "openblas-${variant}/" | head -1 || true)
  [[ -n "$cand" ]] || continue
  cur=$(readlink -f "/etc/alternatives/$alt" 2>/dev/null || true)
  if [[ "$cur" != "$(readlink -f "$cand")" ]]; then
    ${SUDO:-} update-alternatives --set "$alt" "$cand" >/dev/null
  fi
done
echo "setup: ok" >&2
