#!/usr/bin/env bash
# Builds the project against libtorch 2.x and runs its Go tests there: Debian trixie's libtorch-dev (2.6, CPU, with
# Gloo), python3-torch 2.6 for the PyTorch cross-checks and FAISS 1.11, in a trixie chroot. Not part of CI (it
# takes 15-25 minutes on 2 cores, most of it the first debootstrap + apt, then compiling shim.cc); see docs/cuda.md.
#
#   sudo scripts/check-libtorch2.sh                 # default packages: ./torch/ ./encoder/ ./train/ ./retrieval/ ./rocketqa/ ./pair/
#   sudo scripts/check-libtorch2.sh ./torch/ ./dataset/
#
# Steps: debootstrap the chroot if absent (ROCKETQA_CHROOT, default /var/tmp/rocketqa-trixie; reused afterwards),
# bind-mount this checkout at /src, install what scripts/setup.sh --dev installs plus golang-go, then
#   1. the default cgo build of ./torch/ against /usr (libtorch 2.x) and `go test` of the packages;
#   2. the shimlib path: torch/internal/shim/build.sh with ROCKETQA_LIBTORCH pointing at a wheel-like folder
#      (include/ and lib/ links into Debian's libtorch), then `go test -tags shimlib ./torch/` (skip: CHECK_SHIMLIB=0);
#   3. shim.cc with -DROCKETQA_CUDA -DUSE_C10D_NCCL, compiled with -fsyntax-only against libtorch 2.x's c10/cuda and
#      c10d NCCL headers plus the CUDA, libcu++ and NCCL headers of Debian's non-free archive (downloaded once,
#      ~1 GB, unpacked into /var/cache/rocketqa-cuda in the chroot, not installed; skip: CHECK_CUDA=0).
# Go: trixie's golang-go (1.24) fetches the toolchain go.mod asks for from the Go module proxy (GOTOOLCHAIN).
# The host's extra CA certificates (/usr/local/share/ca-certificates) are copied in, for a proxy that needs them.
# ROCKETQA_DEMO_DATA, when set, is bind-mounted too. Needs root (debootstrap, chroot, mount) and network access to
# the Debian mirror (ROCKETQA_MIRROR) and the Go module proxy. Logs: out/libtorch2/. Exit status 1 when a step failed.
set -uo pipefail
{ # one compound command: bash reads it whole, so editing this file while it runs changes nothing
repo=$(cd "$(dirname "$0")/.." && pwd)
R=${ROCKETQA_CHROOT:-/var/tmp/rocketqa-trixie}
suite=${ROCKETQA_SUITE:-trixie}
mirror=${ROCKETQA_MIRROR:-http://deb.debian.org/debian}
[[ $(id -u) -eq 0 ]] || { echo "check-libtorch2.sh: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
pkgs=("$@")
((${#pkgs[@]})) || pkgs=(./torch/ ./encoder/ ./train/ ./retrieval/ ./rocketqa/ ./pair/)
logs=$repo/out/libtorch2
mkdir -p "$logs"

if [[ ! -x $R/usr/bin/apt-get ]]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  echo "== debootstrap $suite into $R (a few minutes)"
  nice -n 10 debootstrap --variant=minbase "$suite" "$R" "$mirror" >"$logs/debootstrap.log" 2>&1 ||
    { echo "check-libtorch2.sh: debootstrap failed (log: $logs/debootstrap.log)" >&2; exit 1; }
fi

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null; done
}
trap cleanup EXIT
mnt() { # mnt TARGET mount-args...: mounts unless something is mounted there already
  local t=$1
  shift
  mkdir -p "$t"
  if ! mountpoint -q "$t"; then
    mount "$@" "$t" || { echo "check-libtorch2.sh: mount $* $t failed" >&2; exit 1; }
    mounted+=("$t")
  fi
}
mnt "$R/proc" -t proc proc
mnt "$R/sys" -t sysfs sys
mnt "$R/dev" --bind /dev
mnt "$R/dev/pts" --bind /dev/pts
mnt "$R/src" --bind "$repo"
demo=""
if [[ -n ${ROCKETQA_DEMO_DATA:-} && -d $ROCKETQA_DEMO_DATA ]]; then
  mnt "$R/demo" --bind "$ROCKETQA_DEMO_DATA"
  demo=/demo
fi
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$R/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/"
fi

tc=$(awk '$1 == "toolchain" {print $2}' "$repo/go.mod")
[[ -n $tc ]] || tc=go$(awk '$1 == "go" {print $2}' "$repo/go.mod")

echo "== packages in the chroot"
chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive bash -c '
  set -e
  if ! dpkg-query -W -f="\${Status}" golang-go ca-certificates 2>/dev/null | grep -q "install ok installed.*install ok installed"; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-go ca-certificates >/dev/null
  fi
  update-ca-certificates >/dev/null 2>&1
  /src/scripts/setup.sh --dev
' >"$logs/setup.log" 2>&1 || { echo "check-libtorch2.sh: package setup failed (log: $logs/setup.log)" >&2; exit 1; }

# The run itself, inside the chroot. Each step appends one summary line to out/libtorch2/summary.
chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root GOTOOLCHAIN="$tc" \
  ROCKETQA_DEMO_DATA="$demo" CHECK_SHIMLIB="${CHECK_SHIMLIB:-1}" CHECK_CUDA="${CHECK_CUDA:-1}" \
  bash -s -- "${pkgs[@]}" <<'EOF'
set -uo pipefail
cd /src
source scripts/env.sh
[[ -n $ROCKETQA_DEMO_DATA ]] || unset ROCKETQA_DEMO_DATA
export GOFLAGS="-trimpath -buildvcs=false"
L=out/libtorch2
S=$L/summary
: >"$S"
v() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
echo "libtorch-dev $(v libtorch-dev), python3-torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>&1 | tail -1), libfaiss-dev $(v libfaiss-dev), g++ $(g++ -dumpversion), $(go version 2>&1 | awk '{print $3}')" >>"$S"
echo "torch.distributed: $(/usr/bin/python3 -c 'import torch.distributed as d; print("gloo" if d.is_gloo_available() else "no gloo")' 2>&1 | tail -1); gloo headers: $([[ -f /usr/include/gloo/config.h ]] && echo yes || echo no)" >>"$S"
cat "$S"
fail=0
step() { # step NAME LOG command...: runs it, records ok/FAIL with the time taken
  local name=$1 log=$2 t0=$SECONDS
  shift 2
  echo "== $name"
  if nice -n 10 "$@" >"$log" 2>&1; then
    echo "ok    $name ($((SECONDS - t0)) s)" | tee -a "$S"
  else
    echo "FAIL  $name ($((SECONDS - t0)) s; log: $log)" | tee -a "$S"
    fail=1
    return 1
  fi
}
step "cgo build ./torch/" $L/build-cgo.log go build ./torch/
for p in "$@"; do
  n=$(echo "$p" | tr -c 'a-zA-Z0-9\n' _)
  step "go test $p" "$L/test$n.log" go test -count=1 -timeout 30m "$p"
  grep -E '^(--- FAIL|FAIL|panic)' "$L/test$n.log" | head -5 | sed 's/^/      /' | tee -a "$S"
done
if [[ $CHECK_SHIMLIB == 1 ]]; then
  # A wheel-like libtorch folder (include/, lib/) exercises build.sh's ROCKETQA_LIBTORCH path, as with a PyTorch wheel.
  W=/tmp/libtorch-layout
  rm -rf $W /tmp/shimlib && mkdir -p $W
  ln -s /usr/include $W/include
  ln -s "$(dirname "$(g++ -print-file-name=libtorch_cpu.so)")" $W/lib
  if step "shimlib build.sh (ROCKETQA_LIBTORCH)" $L/build-shimlib.log env ROCKETQA_LIBTORCH=$W torch/internal/shim/build.sh /tmp/shimlib; then
    echo "      $(tail -1 $L/build-shimlib.log)" | tee -a "$S"
    step "go test -tags shimlib ./torch/" $L/test-shimlib-torch.log env CGO_LDFLAGS=-L/tmp/shimlib LD_LIBRARY_PATH=/tmp/shimlib \
      go test -tags shimlib -count=1 -timeout 30m ./torch/
    grep -E '^(--- FAIL|FAIL|panic)' $L/test-shimlib-torch.log | head -5 | sed 's/^/      /' | tee -a "$S"
  fi
fi
if [[ $CHECK_CUDA == 1 ]]; then
  # Debian's libtorch is CPU-only but ships the c10/cuda and c10d NCCL headers; with the CUDA, libcu++ and NCCL headers
  # of Debian's non-free archive (unpacked, not installed: ~1 GB of downloads, once) the code behind ROCKETQA_CUDA and
  # USE_C10D_NCCL gets compiled, without code generation or linking (there is no libtorch_cuda to link).
  C=/var/cache/rocketqa-cuda
  if [[ ! -f $C/x/usr/include/nccl.h || ! -f $C/x/usr/include/cuda_runtime_api.h || ! -d $C/x/usr/include/nv ]]; then
    echo "deb http://deb.debian.org/debian $(. /etc/os-release; echo "$VERSION_CODENAME") contrib non-free" >/etc/apt/sources.list.d/rocketqa-nonfree.list
    rm -rf $C && mkdir -p $C/x && chown _apt $C 2>/dev/null
    (apt-get update -qq && cd $C && apt-get download -qq nvidia-cuda-dev libnccl-dev libcu++-dev &&
      for d in *.deb; do dpkg-deb -x "$d" x; done && rm -f ./*.deb) >$L/cuda-headers.log 2>&1
  fi
  # generated by PyTorch's CMake for CUDA builds only; a CUDA libtorch defines it like this
  mkdir -p $C/stub/c10/cuda/impl
  printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' >$C/stub/c10/cuda/impl/cuda_cmake_macros.h
  cu=$(awk '$1 == "#define" && $2 == "CUDART_VERSION" {print int($3 / 1000) "." ($3 % 1000) / 10}' $C/x/usr/include/cuda_runtime_api.h 2>/dev/null)
  nc=$(awk '$1 == "#define" && $2 ~ /^NCCL_(MAJOR|MINOR|PATCH)$/ {printf "%s%s", s, $3; s = "."}' $C/x/usr/include/nccl.h 2>/dev/null)
  step "shim.cc -DROCKETQA_CUDA -DUSE_C10D_NCCL, -fsyntax-only (CUDA ${cu:-?}, NCCL ${nc:-?} headers)" $L/build-cuda-syntax.log \
    g++ -std=c++17 -fsyntax-only -Wno-deprecated-declarations -I/usr/include/torch/csrc/api/include -I$C/stub \
    -I$C/x/usr/include -DUSE_C10D_GLOO -DROCKETQA_CUDA -DUSE_C10D_NCCL torch/internal/shim/shim.cc
fi
exit $fail
EOF
rc=$?
echo
echo "== summary (libtorch 2.x, Debian $suite chroot $R; logs: $logs)"
cat "$logs/summary"
exit $rc
}
