"""Python side of retrieval/bench: the same flat inner-product search with python3-faiss, driven by the Go
bench over stdin/stdout, one JSON line per reply.

Protocol (shared with the Go child in main.go): after loading the corpus the child prints {"ready": ...};
then for every line "search BATCH NQUERIES" it searches the first NQUERIES queries in batches of BATCH and
prints {"qps": ...}; on "quit" it prints its final report and exits. The ids of the very first batch go to
--ids-out so that the parent can check both sides return the same top-k.
"""
import argparse
import json
import os
import sys
import time

import faiss
import numpy as np


def vm_hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def blas_info():
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l or "lapack" in l})
    info = "libs=" + ",".join(libs)
    try:
        import ctypes
        ob = ctypes.CDLL("libopenblas.so.0")  # the copy already loaded by faiss, if any
        ob.openblas_get_config.restype = ctypes.c_char_p
        ob.openblas_get_corename.restype = ctypes.c_char_p
        par = {0: "sequential", 1: "pthreads", 2: "openmp"}.get(ob.openblas_get_parallel(), "?")
        info += ' openblas_config="%s" openblas_core=%s openblas_parallel=%s openblas_threads=%d' % (
            ob.openblas_get_config().decode(), ob.openblas_get_corename().decode(), par, ob.openblas_get_num_threads())
    except (OSError, AttributeError) as e:
        info += " openblas=unavailable(%s)" % e
    info += " OPENBLAS_CORETYPE=" + os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    info += " omp_threads=%d" % faiss.omp_get_max_threads()
    return info


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--nq", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--ids-out", required=True)
    a = ap.parse_args()

    faiss.omp_set_num_threads(a.threads)
    t0 = time.perf_counter()
    index = faiss.IndexFlatIP(a.d)
    step = 16384
    with open(a.data, "rb") as f:  # streamed, not memory-mapped, so that RSS counts only the index
        for s in range(0, a.n, step):
            m = min(step, a.n - s)
            index.add(np.fromfile(f, dtype="<f4", count=m * a.d).reshape(m, a.d))
    load_s = time.perf_counter() - t0
    xq = np.fromfile(a.queries, dtype="<f4").reshape(a.nq, a.d)
    reply({"ready": True, "load_s": load_s})

    first = True
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            break
        batch, nqueries = int(cmd[1]), int(cmd[2])
        t = time.perf_counter()
        for s in range(0, nqueries, batch):
            _, ids = index.search(xq[s:min(nqueries, s + batch)], a.k)
            if first:
                ids.astype("<i8").tofile(a.ids_out)
                first = False
        reply({"qps": nqueries / (time.perf_counter() - t)})
    reply({
        "side": "python",
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
        "blas": blas_info(),
        "load_s": load_s,
        "peak_rss_mb": vm_hwm_mb(),
    })


if __name__ == "__main__":
    main()
