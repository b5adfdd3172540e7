#!/usr/bin/env bash
# One command on the GPU machine: rebuilds the shim against the local libtorch (python3's torch 2.x + CUDA, or
# ROCKETQA_LIBTORCH), runs the prebuilt Go test binaries of the bundle (scripts/gpu-bundle.sh) on CUDA, runs the
# PyTorch eager references in the same run, and prints one table (docs/cuda.md). Needs g++ and python3 with torch;
# no Go, no network. Run it from anywhere:
#
#   out/gpu-bundle/gpu-check.sh            CUDA (BERT-base throughput rows; about 3-5 minutes on one GPU)
#   out/gpu-bundle/gpu-check.sh --cpu      the same path on this machine's Debian libtorch 1.13.1, CPU as the device
#                                          under test and a tiny model (proves everything but CUDA itself)
#
# The binaries need glibc >= 2.34 (Ubuntu 22.04, Debian 12, RHEL 9 or newer).
# Options: --python PY (the python whose torch to build against and to run the references; default python3, with
# --cpu /usr/bin/python3), --size base|tiny (model of the throughput rows). The rebuilt shim, the unpacked
# libraries and the logs go to $GPUCHECK_WORK (default: <bundle>.work, beside the bundle, so that the bundle itself
# stays as it travelled). Exit status 1 when a check failed.
set -uo pipefail
B=$(cd "$(dirname "$0")" && pwd)
cpu=0
py=""
size=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --cpu) cpu=1 ;;
    --python) py=$2; shift ;;
    --size) size=$2; shift ;;
    *) echo "gpu-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -x $B/bin/torch.test ]] || { echo "gpu-check.sh: no $B/bin/torch.test: run it from the bundle made by scripts/gpu-bundle.sh" >&2; exit 2; }
W=${GPUCHECK_WORK:-$B.work}
logs=$W/logs
rm -rf "$W" && mkdir -p "$logs" "$W/lib" "$W/libextra"
t0=$(date +%s)
if [[ $cpu == 1 ]]; then
  py=${py:-/usr/bin/python3}
  size=${size:-tiny}
  export ROCKETQA_TEST_DEVICE=cpu
  [[ -f $B/../../scripts/env.sh ]] && source "$B/../../scripts/env.sh" # OpenBLAS core type on this machine
  unset ROCKETQA_LIBTORCH
  build_env=()
else
  py=${py:-python3}
  size=${size:-base}
  ngpu=$("$py" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
  build_env=()
  [[ -z ${ROCKETQA_LIBTORCH:-} ]] && build_env+=(ROCKETQA_PYTHON="$py")
  [[ $ngpu -ge 2 ]] && build_env+=(ROCKETQA_NCCL=1)
fi
export ROCKETQA_GPUCHECK_SIZE=$size ROCKETQA_GPUCHECK=1

echo "== building librocketqa_shim.so"
if ! env "${build_env[@]}" "$B/shim/build.sh" "$W/lib" 2>&1 | tee "$logs/build.log"; then
  echo "gpu-check.sh: the shim did not build (log: $logs/build.log)" >&2
  exit 1
fi
[[ -f $W/lib/librocketqa_shim.so ]] || exit 1
for z in "$B"/libextra/*.gz; do [[ -e $z ]] && gunzip -c "$z" >"$W/libextra/$(basename "$z" .gz)"; done
export LD_LIBRARY_PATH="$W/lib:$W/libextra:$B/libextra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

run() { # name, package dir (cwd of the binary), timeout, binary args...
  local name=$1 dir=$2 limit=$3
  shift 3
  echo "== $name $*"
  local lp=$LD_LIBRARY_PATH
  # rocketqa.test holds FAISS (C++, built with GCC 12): an older system libstdc++ gets the bundle's one, which
  # also serves the shim (libstdc++ is backward compatible); a newer system one is left alone.
  if ldd "$1" 2>&1 | grep -qE '(GLIBCXX|CXXABI)_[0-9.]+.* not found'; then lp=$B/libextra/fallback:$lp; fi
  (cd "$B/pkg/$dir" && LD_LIBRARY_PATH=$lp timeout "$limit" "$@") >"$logs/$name.log" 2>&1
  local rc=$?
  grep -E '^(--- FAIL|GPUCHECK|GPUPERF|FAIL|panic)' "$logs/$name.log" | sed 's/^/   /'
  echo "RUN|$name|$rc" >>"$logs/runs.log"
}
run torch torch 300 "$B/bin/torch.test" -test.run '^TestCUDA' -test.v
if [[ $cpu == 0 && ${ngpu:-0} -ge 2 ]]; then
  ROCKETQA_GATHER_BACKEND=nccl run torch-nccl torch 120 "$B/bin/torch.test" -test.run '^TestCUDAAllGather$' -test.v
fi
run rocketqa rocketqa 300 "$B/bin/rocketqa.test" -test.run '^TestCUDA' -test.v
run encoder encoder 300 "$B/bin/encoder.test" -test.run '^TestCUDA' -test.v
# the training package runs its own (CPU) tests: the binary works against the rebuilt shim
run train train 300 "$B/bin/train.test" -test.run '^(TestExactResume|TestOptionsRejectNonNumbers)$' -test.v
echo "== PyTorch eager references ($py, $size)"
dev=cuda
[[ $cpu == 1 ]] && dev=cpu
"$py" "$B/py/ref_perf.py" --device $dev --size "$size" >"$logs/ref.log" 2>&1
echo "RUN|ref_perf.py|$?" >>"$logs/runs.log"
cat "$logs/ref.log" | sed 's/^/   /'
echo
echo "gpu-check: $([[ $cpu == 1 ]] && echo "CPU mode (--cpu): the CPU is the device under test" || echo "CUDA"); model size $size; $(( $(date +%s) - t0 )) s"
"$py" "$B/py/table.py" "$logs"/*.log
