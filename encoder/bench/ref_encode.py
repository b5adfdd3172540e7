#!/usr/bin/python3
"""PyTorch eager side of the encoder benchmark: the same weights (a saved model dir), the same padded batches.

Reads batches from a .safetensors file written by encoder/bench/main.go (ids_<i>, types_<i>, mask_<i>), runs the
reference BERT (encoder/testdata/ref_bert.py) in eval mode under no_grad, and prints the median seconds for all
batches. A fifth argument "bf16" runs under torch.autocast("cpu", dtype=torch.bfloat16)."""
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "testdata"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "safetensors", "testdata"))
import pysafetensors as st  # noqa: E402
from ref_bert import from_state_dict  # noqa: E402

model_dir, batches_path, threads, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else "fp32"
torch.set_num_threads(threads)
with open(os.path.join(model_dir, "config.json")) as f:
    cfg = json.load(f)
sd, _ = st.load_file(os.path.join(model_dir, "model.safetensors"))
m = from_state_dict(cfg, sd)
m.eval()
b, _ = st.load_file(batches_path)
n = len([k for k in b if k.startswith("ids_")])
batches = [(b[f"ids_{i}"], b[f"types_{i}"], b[f"mask_{i}"]) for i in range(n)]


def run():
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
        for ids, types, mask in batches:
            m(ids, types, mask)[0][:, 0].float().contiguous()


run()
ts = []
for _ in range(reps):
    t0 = time.perf_counter()
    run()
    ts.append(time.perf_counter() - t0)
ts.sort()
print(json.dumps({"threads": torch.get_num_threads(), "seconds": ts[len(ts) // 2]}))
