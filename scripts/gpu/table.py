#!/usr/bin/env python3
"""Prints the table of scripts/gpu-check.sh from the logs of its Go test binaries and of ref_perf.py.

Reads GPUCHECK|row|status|detail (a check), GPUPERF|key|seconds|detail (Go timing), GPUPERF_REF|key|seconds|detail
(PyTorch eager timing), GPUMEM|key|peak|reserved and GPUMEM_REF|key|peak|reserved lines, plus RUN|name|rc lines
the script writes for every binary. Exit status 1 when a check failed or a binary failed.

  table.py LOG..."""
import sys

checks, perf, ref, mem, memref, runs = [], {}, {}, {}, {}, []
for path in sys.argv[1:]:
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            i = line.find("GPU")
            if line.startswith("RUN|"):
                runs.append(line.split("|", 2)[1:])
                continue
            if i < 0:
                continue
            parts = line[i:].split("|", 3)
            kind = parts[0]
            if kind == "GPUCHECK" and len(parts) == 4:
                checks.append(parts[1:])
            elif kind == "GPUPERF" and len(parts) == 4:
                perf[parts[1]] = (float(parts[2]), parts[3])
            elif kind == "GPUPERF_REF" and len(parts) == 4:
                ref[parts[1]] = (float(parts[2]), parts[3])
            elif kind == "GPUMEM" and len(parts) >= 4:
                mem[parts[1]] = (int(parts[2]), int(parts[3]))
            elif kind == "GPUMEM_REF" and len(parts) >= 4:
                memref[parts[1]] = (int(parts[2]), int(parts[3]))

rows = [(r, s, d) for r, s, d in checks]
for key in sorted(set(perf) | set(ref)):
    g, p = perf.get(key), ref.get(key)
    if g and p:
        ratio = p[0] / g[0]
        status = "PASS" if ratio >= 1.0 else "BELOW"
        rows.append(("throughput " + key, status, "Go %.2f ms, PyTorch eager %.2f ms: Go/PyTorch %.2fx (target >= 1.0); %s"
                     % (g[0] * 1e3, p[0] * 1e3, ratio, g[1])))
    else:
        rows.append(("throughput " + key, "MISSING", "Go %s, PyTorch %s" % (g, p)))
for key in sorted(set(mem) | set(memref)):
    g, p = mem.get(key), memref.get(key)
    mib = lambda v: "%.0f MiB" % (v / 2**20)
    rows.append(("peak CUDA memory " + key, "INFO", "Go peak %s (reserved %s); PyTorch eager peak %s (reserved %s)"
                 % (mib(g[0]) if g else "-", mib(g[1]) if g else "-", mib(p[0]) if p else "-", mib(p[1]) if p else "-")))
for name, rc in runs:
    if rc == "0":
        rows.append(("binary " + name, "PASS", "exit status 0" + ("" if name.endswith(".py") else ", against the rebuilt shim")))
    else:
        rows.append(("binary " + name, "FAIL", "exit status %s (see its log)" % rc))

w = max([len(r[0]) for r in rows] + [5])
print("%-*s  %-7s  %s" % (w, "check", "status", "detail"))
print("-" * w + "  " + "-" * 7 + "  " + "-" * 40)
for r, s, d in rows:
    print("%-*s  %-7s  %s" % (w, r, s, d))
sys.exit(1 if any(s in ("FAIL", "MISSING") for _, s, _ in rows) else 0)
