#!/usr/bin/env bash
# Idempotent machine setup: system packages for the torch (libtorch) and retrieval (FAISS) cgo shims,
# OpenBLAS, and (optionally) the Python reference stack used to regenerate fixtures.
#
#   scripts/setup.sh            # build + test dependencies
#   scripts/setup.sh --dev      # also python3-torch / python3-faiss / node tokenizers (fixture generation, benchmarks)
#
# Fast when everything is present: it checks dpkg before calling apt.
set -euo pipefail

want=(libtorch-dev libgloo-dev libopenblas0-openmp libopenblas-dev libfaiss-dev g++ pkg-config)
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

# OpenBLAS: make the openmp variant the active libblas/liblapack (libtorch and FAISS both link -lblas via alternatives).
for lib in libblas.so.3 liblapack.so.3; do
  cand=$(update-alternatives --list "${lib}-x86_64-linux-gnu" 2>/dev/null | grep openblas-openmp | head -1 || true)
  if [[ -n "$cand" ]]; then
    cur=$(readlink -f "/etc/alternatives/${lib}-x86_64-linux-gnu" 2>/dev/null || true)
    if [[ "$cur" != "$(readlink -f "$cand")" ]]; then
      ${SUDO:-} update-alternatives --set "${lib}-x86_64-linux-gnu" "$cand" >/dev/null
    fi
  fi
done
echo "setup: ok" >&2
